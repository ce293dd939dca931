/**
 * Cilium Hubble flows folded into connections. samples/flows/hubble-observe.json was written by
 * us in the shape of `hubble observe -o json` output: the `{"flow":{...},"node_name","time"}`
 * envelope and the bare flow object, field names and values as in cilium/hubble's printer tests
 * (pkg/printer/printer_test.go@5071eca2f964266522b924be31a5158f4cc08f23) and Cilium's flow proto
 * (api/v1/flow/flow.proto): a DNS lookup with L7 events, a complete TCP session to a service, a
 * policy-denied SYN with two retransmissions, an ICMP echo, and a lost_events notice.
 */
import * as assert from 'node:assert/strict';
import type { ConnRecord } from '../../parsers/record/conn';
import { collect, sampleStream, textStream } from './helpers';

// The JSON printer's expected output in cilium/hubble pkg/printer/printer_test.go ("json" case).
const PRINTER_TEST_LINE =
  '{"time":"1970-01-01T00:20:34.567800Z","verdict":"DROPPED","IP":{"source":"1.1.1.1","destination":"2.2.2.2"},' +
  '"l4":{"TCP":{"source_port":31793,"destination_port":8080}},"source":{"identity":4},"destination":{"identity":12345},' +
  '"Type":"L3_L4","node_name":"k8s1","event_type":{"type":1,"sub_type":133},"is_reply":false,"Summary":"TCP Flags: SYN"}';

function byPort(rs: ConnRecord[], p: number): ConnRecord {
  const r = rs.find((x) => x.resp_p === p);
  assert.ok(r, `no connection to port ${p}`);
  return r;
}

describe('flows: Cilium Hubble', () => {
  it("monitor aggregation: by default (Cilium's medium) every connection's counts are report counts; 'none' says they are packets", async () => {
    const agg = await collect(sampleStream('hubble-observe.json'));
    const none = await collect(sampleStream('hubble-observe.json'), { hubble: { monitorAggregation: 'none' } });
    assert.equal(agg.records.length, 4);
    assert.deepEqual(
      agg.records.map((r) => r.counts),
      ['reports', 'reports', 'reports', 'reports'],
    );
    assert.ok(none.records.every((r) => r.counts === undefined));
    assert.deepEqual(
      none.records,
      agg.records.map(({ counts: _c, ...r }) => r),
    );
  });

  it('folds the sample events into four connections', async () => {
    const { records, errors, summary } = await collect(sampleStream('hubble-observe.json'));
    assert.deepEqual(errors, []);
    assert.equal(summary.format, 'hubble');
    assert.equal(summary.events, 18);
    assert.equal(summary.ignored, 1); // lost_events
    assert.equal(records.length, 4);
    // Emitted at the end in order of first packet.
    assert.deepEqual(
      records.map((r) => r.resp_p),
      [53, 8080, 5432, 0],
    );

    const http = byPort(records, 8080);
    assert.deepEqual(
      [http.orig_h, http.orig_p, http.resp_h, http.conn_state, http.history, http.orig_pkts, http.resp_pkts, http.duration],
      ['10.244.1.10', 43210, '10.244.2.20', 'SF', 'ShADdFf', 6, 3, 1.10035],
    );
    assert.equal(http.ts, Date.UTC(2026, 0, 15, 10, 0, 0) / 1000 + 0.1);
    assert.deepEqual(http.k8s, {
      orig: {
        kind: 'pod',
        namespace: 'default',
        pod: 'frontend-7c9d8b6f5-x2x4k',
        workload: 'frontend',
        workload_kind: 'Deployment',
        node: 'kind-worker',
        labels: { app: 'frontend' },
      },
      resp: {
        kind: 'pod',
        namespace: 'default',
        pod: 'api-5f6b7d9c8-q8wzt',
        workload: 'api',
        workload_kind: 'Deployment',
        service: 'api',
        labels: { app: 'api' },
      },
      direction: 'internal',
      scope: 'pod-to-service',
    });

    const dns = byPort(records, 53);
    assert.deepEqual([dns.proto, dns.conn_state, dns.history, dns.orig_pkts, dns.resp_pkts, dns.duration], ['udp', 'SF', 'Dd', 1, 1, 0.001]);
    assert.deepEqual(dns.service, ['dns']);
    assert.equal(dns.k8s?.resp.service, 'kube-dns');
    assert.equal(dns.k8s?.resp.namespace, 'kube-system');

    const denied = byPort(records, 5432);
    assert.deepEqual([denied.conn_state, denied.history, denied.orig_pkts, denied.resp_pkts, denied.duration], ['S0', 'S', 3, 0, 3]);
    assert.equal(denied.k8s?.scope, 'cross-namespace');
    assert.equal(denied.k8s?.resp.workload_kind, 'StatefulSet');
    // Cilium dropped every SYN on egress with POLICY_DENIED: the verdict is on the record.
    assert.deepEqual(denied.k8s?.policy, {
      verdict: 'denied',
      egress: 'denied',
      ingress: 'not-applicable',
      denied_by: [],
      allowed_by: [],
      dataplane_verdict: 'DROPPED',
      drop_reason: 'POLICY_DENIED',
    });
    assert.equal(denied.observed, undefined, 'its SYNs were seen: neither midstream nor one-way');
    assert.equal(http.k8s?.policy, undefined, 'forwarded without policy names: no verdict');

    const ping = records[3];
    assert.deepEqual(
      [ping.proto, ping.orig_h, ping.orig_p, ping.resp_h, ping.resp_p, ping.history, ping.orig_pkts, ping.resp_pkts],
      ['icmp', '10.244.1.10', 8, '10.244.2.20', 0, 'Dd', 1, 1],
    );
  });

  it('gives the same uids on a second run', async () => {
    const a = await collect(sampleStream('hubble-observe.json'));
    const b = await collect(sampleStream('hubble-observe.json'));
    assert.deepEqual(
      a.records.map((r) => r.uid),
      b.records.map((r) => r.uid),
    );
    assert.equal(new Set(a.records.map((r) => r.uid)).size, 4);
  });

  it('reads the bare flow object of the hubble printer tests', async () => {
    const { records, errors } = await collect(textStream(`${PRINTER_TEST_LINE}\n`));
    assert.deepEqual(errors, []);
    assert.equal(records.length, 1);
    const r = records[0];
    assert.deepEqual([r.ts, r.orig_h, r.orig_p, r.resp_h, r.resp_p, r.proto, r.orig_pkts], [1234.5678, '1.1.1.1', 31793, '2.2.2.2', 8080, 'tcp', 1]);
    assert.deepEqual(r.k8s?.orig, { kind: 'internal' });
  });

  it('splits by idle timeout and by a new SYN after close; orients by is_reply and SYN-ACK', async () => {
    const ev = (t: number, sip: string, sp: number, dip: string, dp: number, l4: string, extra = ''): string =>
      `{"flow":{"time":"${new Date(t * 1000).toISOString()}","verdict":"FORWARDED","IP":{"source":"${sip}","destination":"${dip}","ipVersion":"IPv4"},"l4":${l4.replace('$S', String(sp)).replace('$D', String(dp))},"Type":"L3_L4"${extra}}}`;
    const udp = '{"UDP":{"source_port":$S,"destination_port":$D}}';
    const tcp = (flags: string): string => `{"TCP":{"source_port":$S,"destination_port":$D,"flags":{${flags}}}}`;
    const t0 = 1767225600;
    const lines = [
      // A reply seen first: is_reply says the source is the responder.
      ev(t0, '10.0.0.2', 53, '10.0.0.1', 5000, udp, ',"is_reply":true'),
      ev(t0 + 10, '10.0.0.1', 5000, '10.0.0.2', 53, udp, ',"is_reply":false'),
      // 61 s idle (> udp timeout 60): a second connection on the same tuple.
      ev(t0 + 71, '10.0.0.1', 5000, '10.0.0.2', 53, udp),
      // SYN-ACK first (no is_reply): the source is the responder.
      ev(t0 + 80, '10.0.0.9', 443, '10.0.0.1', 6000, tcp('"SYN":true,"ACK":true')),
      ev(t0 + 80.1, '10.0.0.1', 6000, '10.0.0.9', 443, tcp('"RST":true')),
      // A fresh SYN on the reset tuple starts a new connection.
      ev(t0 + 81, '10.0.0.1', 6000, '10.0.0.9', 443, tcp('"SYN":true')),
    ];
    const { records, errors } = await collect(textStream(`${lines.join('\n')}\n`));
    assert.deepEqual(errors, []);
    assert.equal(records.length, 4);
    // Emitted as they end (timeout, new SYN) or at the end of input: order by start to compare.
    const [u1, u2, t1, t2] = [...records].sort((a, b) => a.ts - b.ts);
    assert.deepEqual(
      [u1.orig_h, u1.orig_p, u1.resp_p, u1.orig_pkts, u1.resp_pkts, u1.conn_state, u1.history, u1.duration],
      ['10.0.0.1', 5000, 53, 1, 1, 'SF', 'dD', 10],
    );
    assert.deepEqual([u2.ts, u2.orig_pkts, u2.conn_state], [t0 + 71, 1, 'S0']);
    assert.deepEqual([t1.orig_h, t1.resp_h, t1.resp_p, t1.conn_state, t1.history], ['10.0.0.1', '10.0.0.9', 443, 'RSTO', 'hR']);
    assert.deepEqual([t2.conn_state, t2.history, t2.ts], ['S0', 'S', t0 + 81]);
    assert.notEqual(t1.uid, t2.uid);
  });

  it('ICMPv6 echo over IPv6, and the live-connection cap emits the least recently active early', async () => {
    const ev = (t: string, s: string, d: string, l4: string, reply: boolean): string =>
      `{"time":"2026-01-15T10:00:${t}Z","verdict":"FORWARDED","IP":{"source":"${s}","destination":"${d}","ipVersion":"IPv6"},"l4":${l4},"Type":"L3_L4","is_reply":${reply}}`;
    const lines = [
      ev('00.000001', 'fd00::a', 'fd00::b', '{"ICMPv6":{"type":128}}', false),
      ev('00.000002', 'fd00::b', 'fd00::a', '{"ICMPv6":{"type":129}}', true),
      ev('01', 'fd00::a', 'fd00::c', '{"UDP":{"source_port":1000,"destination_port":53}}', false),
      ev('02', 'fd00::a', 'fd00::d', '{"UDP":{"source_port":1001,"destination_port":53}}', false),
    ];
    const { records, errors } = await collect(textStream(lines.join('\n')), { hubble: { maxConnections: 2 } });
    assert.deepEqual(errors, []);
    assert.equal(records.length, 3);
    // The third connection pushed out the ICMP one, the least recently active.
    const icmp = records[0];
    assert.deepEqual(
      [icmp.proto, icmp.ip_proto, icmp.orig_h, icmp.orig_p, icmp.resp_h, icmp.resp_p, icmp.orig_pkts, icmp.resp_pkts],
      ['icmp', 58, 'fd00::a', 128, 'fd00::b', 129, 1, 1],
    );
    assert.equal(icmp.local_orig, true);
    assert.deepEqual(
      records.slice(1).map((r) => r.resp_h),
      ['fd00::c', 'fd00::d'],
    );
  });

  it('rejects malformed events with their line numbers and keeps the rest', async () => {
    const good =
      '{"time":"2026-01-15T10:00:00Z","IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"UDP":{"source_port":1,"destination_port":2}},"Type":"L3_L4"}';
    const lines = [
      good,
      '{"time":"yesterday","IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"Type":"L3_L4"}',
      '{"time":"2026-01-15T10:00:01Z","IP":{"source":"10.0.0.1","destination":"fe80::1"},"Type":"L3_L4"}',
      '{"time":"2026-01-15T10:00:01Z","IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"TCP":{"source_port":70000,"destination_port":2}},"Type":"L3_L4"}',
      '{"time": "2026-01-15T10:00:01Z", "IP": {',
      good.replace('10:00:00Z', '10:00:02Z'),
    ];
    const { records, errors } = await collect(textStream(lines.join('\n')));
    assert.equal(records.length, 1);
    assert.equal(records[0].orig_pkts, 2);
    assert.deepEqual(
      errors.map((e) => [e.line, e.field]),
      [
        [2, 'time'],
        [3, 'IP'],
        [4, 'l4.TCP.source_port'],
        [5, undefined],
      ],
    );
    assert.equal(errors[2].reason, '70000 is not a port');
    assert.match(errors[3].reason, /^not JSON/);
  });
});
