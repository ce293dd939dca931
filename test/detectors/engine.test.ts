import * as assert from 'node:assert/strict';
import { ALERT_MAX_UIDS, type Alert, type Suppression } from '../../detectors/contract/alert';
import { detect } from '../../detectors/batch';
import { DetectorEngine } from '../../detectors/engine';
import { alertId } from '../../detectors/entity';
import { hubbleDns } from '../../parsers/flows/hubble-dns';
import { applySuppressions } from '../../detectors/contract/suppress';
import type { ConnRecord } from '../../parsers/record/conn';
import { conn, pod, refused } from './util';

const T = 1_768_435_200;
const frontend = pod('shop', 'frontend', 'frontend-7d9f8b6c5d-abcde');
const ledger = pod('payments', 'ledger', 'ledger-7c6b5a4d3e-p0o9i');

function denied(i: number): ConnRecord {
  const r = conn({ ts: T + i, uid: `Cden${i}`, resp_h: '10.244.2.40', conn_state: 'S0', history: 'S', resp_pkts: 0, resp_bytes: 0 }, frontend, ledger);
  r.k8s!.policy = { verdict: 'denied', egress: 'not-isolated', ingress: 'denied', denied_by: ['payments/default-deny-ingress'], allowed_by: [] };
  return r;
}

/** A little of everything: a scan, denied connections, an SSH session, a long connection. */
function mixed(): ConnRecord[] {
  const out: ConnRecord[] = [];
  for (let i = 0; i < 30; i++)
    out.push(refused({ ts: T + 4000 + i, uid: `Cscan${i}`, resp_h: '10.244.2.30', resp_p: 1 + i }, frontend, pod('shop', 'postgres', 'postgres-0')));
  for (let i = 0; i < 5; i++) out.push(denied(4100 + i));
  out.push(conn({ ts: T + 4200, uid: 'Cssh', resp_p: 22, service: ['ssh'] }, frontend, pod('shop', 'api')));
  // Opened after the learning window (a quarter of the data's span from T+4000): a connection open
  // while learning would make its edge long-lived-normal.
  out.push(conn({ ts: T + 4001, uid: 'Credis' }, frontend, pod('shop', 'redis', 'redis-0')));
  out.push(conn({ ts: T + 6000, uid: 'Clong', duration: 3601, interim: true }, frontend, pod('shop', 'redis', 'redis-0')));
  return out;
}

describe('detectors: engine', () => {
  it('ids are stable: sha256 of detector, entity identity and key; re-running gives the same alerts', () => {
    const a = detect(mixed(), []);
    const b = detect(mixed(), []);
    assert.deepEqual(a, b);
    assert.deepEqual(a.map((x) => x.detector).sort(), ['lateral-admin', 'long-connection', 'policy-violation', 'scan']);
    for (const x of a) assert.match(x.id, /^[0-9a-f]{20}$/);
    // The id names the workload, not the pod: a restarted pod's alerts group with the old ones.
    const other = { ...frontend, pod: 'frontend-7d9f8b6c5d-zzzzz' };
    assert.equal(alertId('scan', { ip: '10.244.1.10', ...frontend }, {}, 'vertical'), alertId('scan', { ip: '10.244.9.9', ...other }, {}, 'vertical'));
    assert.notEqual(alertId('scan', { ...frontend }, {}, 'vertical'), alertId('scan', { ...frontend }, {}, 'horizontal/tcp/22'));
  });

  it('groups repeats into one alert: count, first and last seen, evidence uids capped', () => {
    const e = new DetectorEngine({ enabled: ['policy-violation'] });
    for (let i = 0; i < 80; i++) e.observe(denied(i));
    const first = e.flush(T + 100);
    assert.equal(first.length, 1);
    for (let i = 80; i < 150; i++) e.observe(denied(i));
    const second = e.flush(T + 200);
    assert.equal(second.length, 1);
    assert.equal(second[0].id, first[0].id);
    const [a] = e.alerts();
    assert.equal(a.count, 150);
    assert.equal(a.first_seen, T);
    assert.equal(a.last_seen, T + 149 + 0.05);
    assert.equal(a.evidence.uids.length, ALERT_MAX_UIDS);
    assert.equal(a.evidence.uids[0], 'Cden0');
    assert.equal(a.evidence.uids[99], 'Cden99');
    assert.deepEqual(e.flush(T + 300), [], 'nothing new: nothing changed');
  });

  it('suppression by detector and entity, with expiry; inputs untouched', () => {
    const alerts = detect(mixed(), []);
    const rule: Suppression = {
      id: 'sup-1',
      detector: 'policy-violation',
      source: { namespace: 'shop', workload: 'frontend' },
      destination: { workload: 'ledger' },
      reason: 'known migration job',
      created_by: 'analyst',
      created_at: '2026-01-15T00:00:00Z',
      expires_at: '2026-01-16T00:00:00Z',
    };
    const other: Suppression = { ...rule, id: 'sup-2', detector: 'scan', source: { workload: 'api' }, expires_at: null };
    const before = applySuppressions(alerts, [other, rule], Date.parse('2026-01-15T12:00:00Z'));
    assert.deepEqual(before.map((a) => [a.detector, a.suppressed_by]).sort(), [
      ['lateral-admin', null],
      ['long-connection', null],
      ['policy-violation', 'sup-1'],
      ['scan', null],
    ]);
    const after = applySuppressions(alerts, [rule], Date.parse('2026-01-16T00:00:00Z'));
    assert.ok(
      after.every((a) => a.suppressed_by === null),
      'expired at expires_at',
    );
    assert.ok(
      alerts.every((a: Alert) => a.suppressed_by === null),
      'input not modified',
    );
    const e = new DetectorEngine({ suppressions: [rule], clock: () => Date.parse('2026-01-15T06:00:00Z') });
    for (const r of mixed()) e.observe(r);
    e.flush();
    assert.equal(e.alerts().find((a) => a.detector === 'policy-violation')?.suppressed_by, 'sup-1');
  });

  it('snapshot/restore: half, snapshot through JSON, the rest in a fresh engine == all in one', () => {
    const recs = mixed();
    const all = new DetectorEngine();
    for (const r of recs) all.observe(r);
    all.flush();
    const a = new DetectorEngine();
    const half = Math.floor(recs.length / 2);
    for (const r of recs.slice(0, half)) a.observe(r);
    const b = new DetectorEngine();
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    for (const r of recs.slice(half)) b.observe(r);
    b.flush();
    assert.deepEqual(b.alerts(), all.alerts());
    assert.throws(() => b.restore({ version: 9 }), /unsupported version 9/);
  });

  it('Hubble L7 DNS responses become dns records of the client', () => {
    const line = JSON.stringify({
      flow: {
        time: '2026-01-15T01:02:03.000004Z',
        uuid: 'ev-7',
        verdict: 'FORWARDED',
        Type: 'L7',
        is_reply: true,
        IP: { source: '10.244.2.2', destination: '10.244.1.10' },
        l4: { UDP: { source_port: 53, destination_port: 40001 } },
        source: { namespace: 'kube-system', pod_name: 'coredns-x', workloads: [{ name: 'coredns', kind: 'Deployment' }] },
        destination: { namespace: 'shop', pod_name: 'frontend-7d9f8b6c5d-abcde', workloads: [{ name: 'frontend', kind: 'Deployment' }] },
        l7: { type: 'RESPONSE', dns: { query: 'api.paygate.example.', ips: ['203.0.113.50'], qtypes: ['A'], rcode: 0 } },
      },
    });
    const d = hubbleDns(line)!;
    assert.equal(d.rec.kind, 'dns');
    assert.equal(d.rec.uid, 'ev-7');
    assert.equal(d.rec.ts, Date.UTC(2026, 0, 15, 1, 2, 3) / 1000 + 0.000004);
    assert.deepEqual(d.rec.kind === 'dns' ? [d.rec.query, d.rec.answers, d.rec.qtype_name, d.rec.rcode_name] : [], [
      'api.paygate.example',
      ['203.0.113.50'],
      'A',
      'NOERROR',
    ]);
    assert.equal(d.ctx.orig_h, '10.244.1.10');
    assert.equal(d.ctx.k8s?.orig.workload, 'frontend');
    assert.equal(hubbleDns(line.replace('RESPONSE', 'REQUEST')), null);
    assert.equal(hubbleDns('{"flow":{"Type":"L3_L4"}}'), null);
  });
});
