import * as assert from 'node:assert/strict';
import { defaultDetectorConfig, parseDetectorConfig } from '../../detectors/config';
import { DnsTunnelDetector } from '../../detectors/dns-tunnel';
import { entropy, splitRegistered } from '../../detectors/dns-names';
import { ExfiltrationDetector } from '../../detectors/exfiltration';
import { LateralAdminDetector } from '../../detectors/lateral-admin';
import { LongConnectionDetector } from '../../detectors/long-connection';
import { NewEdgeDetector } from '../../detectors/new-edge';
import { PolicyViolationDetector } from '../../detectors/policy-violation';
import { ScanDetector } from '../../detectors/scan';
import { SensitiveDestinationDetector } from '../../detectors/sensitive-destination';
import { BeaconDetector } from '../../detectors/beacon';
import { rng } from '../util/rng';
import type { AppInput } from '../../parsers/record/app';
import { conn, ctx, dns, pod, refused } from './util';

const CFG = defaultDetectorConfig();
const T = 1_768_435_200;
const frontend = pod('shop', 'frontend', 'frontend-7d9f8b6c5d-abcde');
const api = pod('shop', 'api', 'api-5c8d7b9f4-xk2lp');

describe('detectors: scan (TRW)', () => {
  it('flags a vertical scan after 4 failed first contacts: likelihood ratio 4^4 = 256 >= 99', () => {
    const d = new ScanDetector(CFG.scan);
    for (let p = 1; p <= 3; p++) d.observe(refused({ ts: T + p, resp_h: '10.244.2.30', resp_p: p }, frontend, pod('shop', 'postgres')));
    assert.deepEqual(d.flush(), [], 'three failures: 64 < 99');
    d.observe(refused({ ts: T + 4, resp_h: '10.244.2.30', resp_p: 4 }, frontend, pod('shop', 'postgres')));
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].key, 'vertical');
    assert.equal(f[0].figures.likelihood_ratio, 256);
    assert.equal(f[0].figures.failed, 4);
    assert.equal(f[0].destination.workload, 'postgres');
    assert.deepEqual(f[0].mitre, ['T1046']);
    assert.equal(d.eta1, 99);
  });

  it('does not flag a busy healthy client: thousands of connections, first contacts succeed, some fail', () => {
    const d = new ScanDetector(CFG.scan);
    const r = rng(7);
    let fails = 0;
    for (let i = 0; i < 5000; i++) {
      const host = `10.244.2.${20 + Math.floor(r() * 30)}`;
      const port = [8080, 5432, 6379, 9090][Math.floor(r() * 4)];
      // Every tenth connection is refused (a pod restarting): still far from a scanner's profile.
      if (i % 10 === 9) {
        fails++;
        d.observe(refused({ ts: T + i, resp_h: host, resp_p: port }, frontend));
      } else d.observe(conn({ ts: T + i, resp_h: host, resp_p: port }, frontend));
    }
    assert.equal(fails, 500);
    assert.deepEqual(d.flush(), []);
  });

  it('flags a horizontal sweep of one port over many hosts (unanswered SYNs)', () => {
    const d = new ScanDetector(CFG.scan);
    for (let i = 0; i < 20; i++)
      d.observe(conn({ ts: T + i * 0.05, resp_h: `10.244.3.${i + 2}`, resp_p: 22, conn_state: 'S0', history: 'S', resp_pkts: 0, resp_bytes: 0 }, frontend));
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].key, 'horizontal/tcp/22');
    assert.equal(f[0].count, 5, 'the walk restarts after each decision: 20 failures = 5 crossings');
  });
});

describe('detectors: new edge', () => {
  it('learns for an hour; a rollout (new pod, same workload) is not new; a new port is', () => {
    const d = new NewEdgeDetector(CFG['new-edge']);
    const svc = { kind: 'service' as const, namespace: 'shop', service: 'api' };
    d.observe(conn({ ts: T, resp_h: '10.96.10.1', resp_p: 80 }, frontend, svc));
    const rolled = pod('shop', 'frontend', 'frontend-6c5b4a3d2e-zzzzz');
    d.observe(conn({ ts: T + 7200, orig_h: '10.244.1.99', resp_h: '10.96.10.1', resp_p: 80 }, rolled, svc));
    assert.deepEqual(d.flush(), []);
    d.observe(conn({ ts: T + 7300, resp_h: '10.96.10.1', resp_p: 8443, uid: 'Cnew1' }, frontend, svc));
    d.observe(conn({ ts: T + 7400, resp_h: '10.96.10.1', resp_p: 8443, uid: 'Cnew2' }, frontend, svc));
    // A probe without data is no edge.
    d.observe(refused({ ts: T + 7500, resp_h: '10.96.10.1', resp_p: 9999 }, frontend, svc));
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].count, 2);
    assert.deepEqual(f[0].uids, ['Cnew1', 'Cnew2']);
    assert.equal(f[0].key, 'tcp/8443');
    // After its novelty period the edge is normal.
    d.observe(conn({ ts: T + 7300 + 3601, resp_h: '10.96.10.1', resp_p: 8443 }, frontend, svc));
    d.observe(conn({ ts: T + 7300 + 3700, resp_h: '10.96.10.1', resp_p: 8443 }, frontend, svc));
    assert.deepEqual(d.flush(), []);
    // ... but it alerted, so a saved baseline leaves it out (issue 15: learning must not bake alerts in).
    assert.ok(!d.knownEdges().includes('shop/frontend|svc:shop/api|tcp/8443'));
    assert.ok(d.knownEdges().includes('shop/frontend|svc:shop/api|tcp/80'));
  });

  it('with a baseline alerts from the first record', () => {
    const d = new NewEdgeDetector(CFG['new-edge']);
    d.addBaseline(['shop/frontend|svc:shop/api|tcp/80']);
    d.window.seconds = 0;
    const svc = { kind: 'service' as const, namespace: 'shop', service: 'api' };
    d.observe(conn({ ts: T, resp_h: '10.96.10.1', resp_p: 80 }, frontend, svc));
    d.observe(conn({ ts: T + 1, resp_h: '10.96.10.2', resp_p: 5432 }, frontend, { kind: 'service', namespace: 'shop', service: 'postgres' }));
    assert.deepEqual(
      d.flush().map((f) => f.destination.service),
      ['postgres'],
    );
  });
});

describe('detectors: policy violation, sensitive destinations, lateral administration, long connections', () => {
  it('groups denied connections by edge with their ports and denying policies', () => {
    const d = new PolicyViolationDetector(CFG['policy-violation']);
    const ledger = pod('payments', 'ledger');
    const policy = {
      verdict: 'denied' as const,
      egress: 'not-isolated' as const,
      ingress: 'denied' as const,
      denied_by: ['payments/default-deny-ingress'],
      allowed_by: [],
    };
    for (const [i, port] of [8080, 8080, 9090].entries()) {
      const r = conn({ ts: T + i, resp_h: '10.244.2.40', resp_p: port, conn_state: 'S0', history: 'S', resp_pkts: 0, resp_bytes: 0 }, frontend, ledger);
      r.k8s!.policy = policy;
      d.observe(r);
    }
    const allowed = conn({ ts: T + 5, resp_h: '10.244.2.40' }, api, ledger);
    allowed.k8s!.policy = { ...policy, verdict: 'allowed', ingress: 'allowed', denied_by: [] };
    d.observe(allowed);
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].count, 3);
    assert.equal(f[0].figures.ports, 'tcp/8080,tcp/9090');
    assert.equal(f[0].figures.denied_by, 'payments/default-deny-ingress');
    assert.equal(f[0].severity, 'medium');
  });

  it('sensitive destinations: metadata and kubelet alert unless the workload reached them while learning', () => {
    const d = new SensitiveDestinationDetector(CFG['sensitive-destination']);
    const prom = pod('monitoring', 'prometheus');
    const node = { kind: 'node' as const, node: 'node-2' };
    d.observe(conn({ ts: T, resp_h: '192.168.10.12', resp_p: 10250 }, prom, node));
    d.observe(conn({ ts: T + 4000, resp_h: '192.168.10.12', resp_p: 10250 }, prom, node));
    d.observe(conn({ ts: T + 4000, resp_h: '192.168.10.12', resp_p: 10250 }, frontend, node));
    d.observe(conn({ ts: T + 4100, resp_h: '169.254.169.254', resp_p: 80 }, frontend, { kind: 'internal' }));
    d.observe(conn({ ts: T + 4200, resp_h: '10.96.0.1', resp_p: 443 }, frontend, { kind: 'service', namespace: 'default', service: 'kubernetes' }));
    const f = d.flush();
    assert.deepEqual(
      f.map((x) => [x.key, x.source.workload, x.mitre[0]]),
      [
        ['kubelet', 'frontend', 'T1613'],
        ['metadata', 'frontend', 'T1552.005'],
        ['apiserver', 'frontend', 'T1613'],
      ],
    );
  });

  it('lateral administration: an accepted SSH session between pods, not a refused probe', () => {
    const d = new LateralAdminDetector(CFG['lateral-admin']);
    d.observe(refused({ ts: T, resp_p: 22 }, frontend, api));
    d.observe(conn({ ts: T + 1, resp_p: 22, service: ['ssh'] }, frontend, api));
    d.observe(conn({ ts: T + 2, resp_p: 3389, history: 'ShADad' }, frontend, api));
    const f = d.flush();
    assert.deepEqual(
      f.map((x) => [x.key, x.mitre[0], x.figures.confirmed_by_payload]),
      [
        ['ssh/22', 'T1021.004', true],
        ['rdp/3389', 'T1021.001', false],
      ],
    );
  });

  it('long connections from interim records count once per connection, severity by RITA bands', () => {
    const d = new LongConnectionDetector(CFG['long-connection']);
    // No learning window: a connection open while learning would make its edge long-lived-normal.
    d.window.seconds = 0;
    d.observe(conn({ ts: T, uid: 'Clong', duration: 3000, interim: true }, frontend, api));
    d.observe(conn({ ts: T, uid: 'Clong', duration: 3700, interim: true }, frontend, api));
    d.observe(conn({ ts: T, uid: 'Clong', duration: 15_000 }, frontend, api));
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].count, 1);
    assert.equal(f[0].severity, 'medium');
    assert.equal(f[0].figures.duration_s, 15_000);
    assert.equal(f[0].score, Math.round((15_000 / 43_200) * 1000) / 1000);
  });
});

describe('detectors: DNS tunnelling and DGA', () => {
  it('registered domains and entropy', () => {
    assert.deepEqual(splitRegistered('a.b.example.co.uk'), { registered: 'example.co.uk', sub: 'a.b' });
    assert.deepEqual(splitRegistered('x.tn.x7-relay.net'), { registered: 'x7-relay.net', sub: 'x.tn' });
    // The Public Suffix List's private section: a bucket under a cloud's per-region suffix is a registered name.
    assert.deepEqual(splitRegistered('prod-orders-archive-2026.s3.eu-west-1.amazonaws.com'), {
      registered: 'prod-orders-archive-2026.s3.eu-west-1.amazonaws.com',
      sub: '',
    });
    assert.deepEqual(splitRegistered('a.b.example.com.au'), { registered: 'example.com.au', sub: 'a.b' });
    assert.deepEqual(splitRegistered('api.payments.svc.cluster.local'), { registered: 'cluster.local', sub: 'api.payments.svc' });
    assert.equal(entropy('aaaa'), 0);
    assert.equal(entropy('abcd'), 2);
  });

  it('a tunnel: 40 distinct 50-character hex subdomains under one domain, TXT', () => {
    const d = new DnsTunnelDetector(CFG['dns-tunnel']);
    const r = rng(3);
    const c = ctx(T, api);
    for (let i = 0; i < 40; i++) {
      let h = '';
      for (let j = 0; j < 50; j++) h += '0123456789abcdef'[Math.floor(r() * 16)];
      d.observeApp(dns(T + i, `${h}.tn.x7-relay.net`, { qtype: 'TXT' }), c);
    }
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].destination.domain, 'x7-relay.net');
    // TXT crossed first (10th query), the names at the 30th; one alert, two reasons.
    assert.equal(f[0].figures.reasons, 'unusual-type,tunnel');
    assert.equal(f[0].count, 2);
    assert.equal(f[0].figures.distinct_subdomains, 30, 'judged when the 30th distinct subdomain arrived');
    assert.ok((f[0].figures.mean_entropy_bits as number) > 3.5);
  });

  it('normal lookups of a CDN-hosted API (few names, connected to) raise nothing; cluster names are ignored', () => {
    const d = new DnsTunnelDetector(CFG['dns-tunnel']);
    const c = ctx(T, api, '10.244.2.20');
    for (let i = 0; i < 500; i++) {
      d.observeApp(
        dns(T + i, ['api.paygate.example', 'static.paygate.example', 'img-cdn-a1b2c3d4e5f6.paygate.example'][i % 3], { answers: ['203.0.113.50'] }),
        c,
      );
      d.observe(conn({ ts: T + i + 0.01, orig_h: '10.244.2.20', resp_h: '203.0.113.50', resp_p: 443 }, api, { kind: 'external' }));
      d.observeApp(dns(T + i, `api.shop.svc.cluster.local`, { answers: ['10.96.10.1'] }), c);
    }
    assert.deepEqual(d.flush(), []);
  });

  it('DGA: NXDOMAIN for 10 distinct high-entropy domains', () => {
    const d = new DnsTunnelDetector(CFG['dns-tunnel']);
    const c = ctx(T, frontend);
    const names = [
      'xkq7zvbwpt3m.com',
      'p0q9w8e7r6t5.net',
      'mzn3b5v7c9x1.com',
      'qlw2e4r6t8y0.net',
      'a9s8d7f6g5h4.com',
      'zxcv1bnm2asd.net',
      'poiu7ytr6ewq.com',
      'lkj5hgf4dsa3.net',
      'mnb2vcx1zlk9.com',
      'qaz1wsx2edc3.net',
    ];
    for (const [i, n] of names.entries()) d.observeApp(dns(T + i, n, { rcode: 3 }), c);
    d.observeApp(dns(T + 20, 'typo.example', { rcode: 3 }), c);
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].key, 'dga');
    assert.equal(f[0].figures.nxdomain_registered_domains, 10);
  });
});

describe('detectors: exfiltration', () => {
  it('a bucket 500x its edge baseline alerts with the baseline in the evidence; 3x does not', () => {
    const d = new ExfiltrationDetector(CFG.exfiltration);
    const r = rng(11);
    const ext = { kind: 'external' as const };
    for (let b = 0; b < 20; b++) {
      for (let k = 0; k < 3; k++)
        d.observe(conn({ ts: T + b * 300 + k * 60, resp_h: '203.0.113.80', resp_p: 443, orig_bytes: 3000 + Math.floor(r() * 2000) }, api, ext));
    }
    d.observe(conn({ ts: T + 20 * 300 + 10, resp_h: '203.0.113.80', resp_p: 443, orig_bytes: 40_000 }, api, ext));
    d.observe(conn({ ts: T + 21 * 300 + 10, resp_h: '203.0.113.80', resp_p: 443, orig_bytes: 6_000_000, uid: 'Cbig' }, api, ext));
    d.observe(conn({ ts: T + 21 * 300 + 20, resp_h: '203.0.113.80', resp_p: 443, orig_bytes: 4000 }, api, ext));
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].figures.sent_bytes, 6_004_000);
    assert.deepEqual(f[0].uids, ['Cbig']);
    assert.equal(f[0].figures.history_buckets, 21);
    assert.ok((f[0].figures.baseline_median as number) > 9000 && (f[0].figures.baseline_median as number) < 15_000);
    assert.equal(f[0].figures.limit, 1_000_000);
  });
});

describe('detectors: exfiltration against peer replicas', () => {
  const ext = { kind: 'external' as const };
  const replica = (name: string, ip: string) => ({ k8s: pod('shop', 'api', `api-5c8d7b9f4-${name}`), ip });
  const a = replica('aaaaa', '10.244.1.21');
  const b = replica('bbbbb', '10.244.1.22');
  const c = replica('ccccc', '10.244.2.23');
  const send = (d: ExfiltrationDetector, p: { k8s: ReturnType<typeof pod>; ip: string }, ts: number, bytes: number, dest = '203.0.113.80', uid?: string) =>
    d.observe(conn({ ts, orig_h: p.ip, resp_h: dest, resp_p: 443, orig_bytes: bytes, ...(uid ? { uid } : {}) }, p.k8s, ext));

  it("a replica far above what its siblings send to the same destination alerts, where the workload's edge baseline cannot", () => {
    const d = new ExfiltrationDetector(CFG.exfiltration);
    // A busy edge: three replicas, 3 MB each per 5-minute bucket, 20 buckets (workload edge baseline 9 MB, limit 90 MB).
    for (let k = 0; k < 20; k++) for (const p of [a, b, c]) for (let i = 0; i < 3; i++) send(d, p, T + k * 300 + i * 60 + 1, 1_000_000);
    // 15x its siblings: usual imbalance, nothing.
    send(d, a, T + 20 * 300 + 10, 45_000_000);
    for (const p of [b, c]) send(d, p, T + 20 * 300 + 20, 3_000_000);
    assert.deepEqual(d.flush(T + 21 * 300), []);
    // 70 MB against its siblings' 3 MB: 23x, above 20x; the workload's bucket (76 MB) stays under the edge's limit.
    send(d, a, T + 21 * 300 + 10, 70_000_000, '203.0.113.80', 'Cpeer');
    for (const p of [b, c]) send(d, p, T + 21 * 300 + 20, 3_000_000);
    const f = d.flush(T + 22 * 300);
    assert.equal(f.length, 1);
    assert.equal(f[0].source.pod, 'api-5c8d7b9f4-aaaaa');
    assert.deepEqual(f[0].uids, ['Cpeer']);
    assert.equal(f[0].severity, 'high');
    assert.equal(f[0].figures.baseline, 'peers');
    assert.equal(f[0].figures.peer_basis, 'siblings to destination');
    assert.equal(f[0].figures.sent_bytes, 70_000_000);
    assert.equal(f[0].figures.peer_reference, 3_000_000);
    assert.equal(f[0].figures.limit, 60_000_000);
    assert.equal(f[0].figures.sibling_replicas, 2);
    assert.equal(f[0].figures.new_destination, false);
    assert.equal(f[0].key, 'bytes');
  });

  it('a first-contact destination weighs most: against the siblings whole egress, no history needed', () => {
    const d = new ExfiltrationDetector(CFG.exfiltration);
    // Three buckets of small egress (far short of min_history): 20 kB per replica per bucket.
    for (let k = 0; k < 3; k++) for (const p of [a, b]) send(d, p, T + k * 300 + 30, 20_000, '10.96.10.1');
    send(d, b, T + 3 * 300 + 30, 20_000, '10.96.10.1');
    send(d, a, T + 3 * 300 + 40, 22_000, '10.96.10.1');
    send(d, a, T + 3 * 300 + 50, 1_500_000, '198.51.100.99', 'Cnew');
    const f = d.flush(T + 4 * 300);
    assert.equal(f.length, 1);
    assert.deepEqual(f[0].uids, ['Cnew']);
    assert.equal(f[0].destination.ip, '198.51.100.99');
    assert.equal(f[0].severity, 'critical');
    assert.equal(f[0].figures.peer_basis, 'siblings total egress');
    assert.equal(f[0].figures.new_destination, true);
    // The sibling's whole egress in the bucket: 20 kB; x10 is under the 1 MB floor.
    assert.equal(f[0].figures.peer_reference, 20_000);
    assert.equal(f[0].figures.limit, 1_000_000);
  });

  it('no peer judgement without siblings, nor for a known destination the siblings did not send to now', () => {
    const alone = new ExfiltrationDetector(CFG.exfiltration);
    for (let k = 0; k < 3; k++) send(alone, a, T + k * 300 + 30, 20_000, '10.96.10.1');
    send(alone, a, T + 3 * 300 + 50, 1_500_000, '198.51.100.99');
    assert.deepEqual(alone.flush(T + 4 * 300), []);
    // The object store is one replica's job (backups from the first pod): 2 MB there is not compared with silent siblings.
    const d = new ExfiltrationDetector(CFG.exfiltration);
    for (let k = 0; k < 3; k++) {
      for (const p of [a, b]) send(d, p, T + k * 300 + 30, 20_000, '10.96.10.1');
      send(d, a, T + k * 300 + 60, 5000);
    }
    for (const p of [a, b]) send(d, p, T + 3 * 300 + 30, 20_000, '10.96.10.1');
    send(d, a, T + 3 * 300 + 60, 2_000_000);
    assert.deepEqual(d.flush(T + 4 * 300), []);
    // The same 2 MB with a sibling also sending there (5 kB): 400x, alerts.
    send(d, a, T + 4 * 300 + 60, 2_000_000);
    send(d, b, T + 4 * 300 + 70, 5000);
    send(d, b, T + 4 * 300 + 80, 20_000, '10.96.10.1');
    const f = d.flush(T + 5 * 300);
    assert.equal(f.length, 1);
    assert.equal(f[0].figures.peer_basis, 'siblings to destination');
    assert.equal(f[0].figures.limit, 1_000_000);
  });

  it("an edge used once is judged when its workload's bucket ends, with the siblings' figures of that bucket", () => {
    const d = new ExfiltrationDetector(CFG.exfiltration);
    for (let k = 0; k < 3; k++) for (const p of [a, b]) send(d, p, T + k * 300 + 30, 20_000, '10.96.10.1');
    send(d, b, T + 3 * 300 + 30, 20_000, '10.96.10.1');
    send(d, a, T + 3 * 300 + 50, 1_500_000, '198.51.100.99', 'Cnew');
    // Two more hours of the usual egress before the data ends: the upload's edge sees no other record.
    for (let k = 4; k < 28; k++) for (const p of [a, b]) send(d, p, T + k * 300 + 30, 20_000 + k, '10.96.10.1');
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.deepEqual(f[0].uids, ['Cnew']);
    assert.equal(f[0].figures.peer_reference, 20_000);
    assert.equal(f[0].figures.baseline, 'peers');
  });

  it('peer state survives a snapshot through JSON', () => {
    const one = new ExfiltrationDetector(CFG.exfiltration);
    for (let k = 0; k < 3; k++) for (const p of [a, b]) send(one, p, T + k * 300 + 30, 20_000, '10.96.10.1');
    send(one, b, T + 3 * 300 + 30, 20_000, '10.96.10.1');
    const two = new ExfiltrationDetector(CFG.exfiltration);
    two.restore(JSON.parse(JSON.stringify(one.snapshot())));
    send(two, a, T + 3 * 300 + 50, 1_500_000, '198.51.100.99');
    const f = two.flush(T + 4 * 300);
    assert.equal(f.length, 1);
    assert.equal(f[0].figures.peer_reference, 20_000);
  });
});

describe('detectors: beacon', () => {
  it('names the destination by the DNS name the client resolved', () => {
    const cfg = parseDetectorConfig({ beacon: { threshold: 0.9 } }).beacon;
    const d = new BeaconDetector(cfg);
    const c = { uid: 'Cdns', ts: T, orig_h: '10.244.1.30', resp_h: '10.96.0.10', resp_p: 53 };
    d.observeApp(dns(T, 'cdn-update.example.net', { answers: ['198.51.100.23'] }), c);
    for (let t = 0; t < 6 * 3600; t += 60)
      d.observe(
        conn({ ts: T + t, orig_h: '10.244.1.30', resp_h: '198.51.100.23', resp_p: 80, orig_bytes: 200, resp_bytes: 512 }, pod('shop', 'worker'), {
          kind: 'external',
        }),
      );
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].destination.domain, 'cdn-update.example.net');
    assert.equal(f[0].score, 1);
    assert.equal(f[0].figures.interval_mode_s, 60);
  });
});

describe('detectors: beacon behind a busy capture', () => {
  it('names a beacon by its TLS server name though 30,000 other named connections are in flight before its record comes', () => {
    // One connection in 300 is the pod's beacon, every 60 s, to a name served from 20 rotating
    // addresses; every connection's TLS record comes as it starts, its connection record 30,000
    // connections later (its close delay on a busy node). The old cap (20,000 names) kept the
    // name for only the last 66 of the beacon's 360 connections: the rest went to 20 pairs by address.
    const cfg = parseDetectorConfig({ beacon: { threshold: 0.9 } }).beacon;
    const d = new BeaconDetector(cfg);
    const lag = 30_000;
    const total = 108_000;
    const step = (6 * 3600) / total;
    const recordOf = (i: number) =>
      i % 300 === 0
        ? conn(
            {
              uid: `Cb${i}`,
              ts: T + i * step,
              orig_h: '10.244.1.30',
              resp_h: `198.51.100.${((i / 300) % 20) + 1}`,
              resp_p: 443,
              orig_bytes: 517,
              resp_bytes: 4096,
            },
            pod('shop', 'worker'),
            { kind: 'external' },
          )
        : conn(
            {
              uid: `Cb${i}`,
              ts: T + i * step,
              orig_h: `10.244.2.${i % 200}`,
              resp_h: `203.0.113.${i % 250}`,
              resp_p: 443,
              orig_bytes: 300 + (i % 977),
              resp_bytes: 1000 + (i % 7919),
            },
            pod('web', `app${i % 50}`),
            { kind: 'external' },
          );
    for (let s = 0; s < total + lag; s++) {
      if (s < total) {
        const name = s % 300 === 0 ? 'c2.example.net' : `n${s % 5000}.example.org`;
        d.observeApp({ kind: 'tls', uid: `Cb${s}`, server_name: name } as unknown as AppInput, {
          uid: `Cb${s}`,
          ts: T + s * step,
          orig_h: '10.244.1.30',
          resp_h: '198.51.100.1',
          resp_p: 443,
        });
      }
      if (s >= lag) d.observe(recordOf(s - lag));
    }
    const beacons = d.flush().filter((f) => f.source.workload === 'worker');
    assert.deepEqual(
      beacons.map((f) => f.destination.domain ?? f.destination.ip),
      ['c2.example.net'],
    );
    assert.equal(beacons[0].figures.connections, total / 300);
    assert.equal(beacons[0].figures.interval_mode_s, 60);
  });
});

describe('detectors: beacon on flow sources', () => {
  // VPC / one-way NetFlow records: IP bytes, no payload counts. Their sizes are the IP bytes, not
  // zeros (which would read as a perfectly regular size and lift the score).
  const run = (ipBytes: (i: number) => number): Record<string, unknown> | undefined => {
    const cfg = parseDetectorConfig({ beacon: { threshold: 0, known_threshold: 0 } }).beacon;
    const d = new BeaconDetector(cfg);
    let i = 0;
    for (let t = 0; t < 6 * 3600; t += 60, i++)
      d.observe(
        conn(
          {
            ts: T + t,
            orig_h: '10.244.1.30',
            resp_h: '198.51.100.23',
            resp_p: 443,
            orig_bytes: 0,
            resp_bytes: 0,
            orig_ip_bytes: ipBytes(i),
            observed: 'one-way',
          },
          pod('shop', 'worker'),
          { kind: 'external' },
        ),
      );
    return d.flush()[0]?.figures;
  };

  it('sizes from IP bytes: steady sizes score as steady, sizes all over the place do not', () => {
    const steady = run(() => 1480) as Record<string, unknown>;
    assert.equal(steady.sizes_known, true);
    assert.equal(steady.ds_score, 1);
    // Sizes spread over 40..64000 bytes (a seeded LCG): far from regular.
    let x = 7;
    const spread = run(() => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return 40 + (x % 64000);
    }) as Record<string, unknown>;
    assert.equal(spread.sizes_known, true);
    // Zeros in place of the sizes would score 1, as the steady run does.
    assert.ok((spread.ds_score as number) < 0.8, `ds_score ${String(spread.ds_score)}`);
    assert.ok((spread.score as number) < (steady.score as number));
  });
});

describe('detectors: configuration', () => {
  it('rejects unknown keys and bad values, naming them', () => {
    assert.throws(() => parseDetectorConfig({ scan: { theta: 0.5 } }), /scan: Unrecognized key\(s\) in object: 'theta'/);
    assert.throws(() => parseDetectorConfig({ beacon: { ts_weight: 0.5 } }), /beacon weights must sum to 1, got 1.25/);
    assert.throws(() => parseDetectorConfig({ exfiltration: { k: -1 } }), /exfiltration.k: Number must be greater than 0/);
    assert.equal(parseDetectorConfig({ scan: { p_false: 0.001 } }).scan.p_false, 0.001);
  });
});
