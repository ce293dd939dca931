/**
 * Hubble output from real clusters (the corpus' flows/hubble: hubble-otel's testdata, GKE and
 * kind): one connection per 5-tuple as the corpus' expected.json counts them, every L3/L4 event a
 * packet, and what Hubble could not see said on the record: a TCP connection whose events carry
 * no SYN is `observed: 'midstream'`, and none is left looking like an unanswered attempt when its
 * events prove otherwise. Verdicts: a real event turned into a policy drop (no public sample has
 * one) carries its verdict, reason and the denying policy.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { AppRecordOut, HttpLogRecord } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';
import { collect, textStream } from './helpers';

const FILES = [
  'basic-sample-330-dns-flows.json',
  'basic-sample-400-l7-redirected-flows.json',
  'basic-sample-400-tcp-flows.json',
  'basic-sample-400-udp-flows.json',
  'basic-sample-5-dns-flows.json',
];

interface Expected {
  events: number;
  by_type: Record<string, number>;
  five_tuples: { proto: number; endpoints: [string, number][]; events: number }[];
}

interface Flow {
  Type?: string;
  verdict?: string;
  IP?: { source: string; destination: string };
  l4?: {
    TCP?: { source_port?: number; destination_port?: number; flags?: Record<string, boolean> };
    UDP?: { source_port?: number; destination_port?: number };
  };
  [k: string]: unknown;
}

const flowsOf = (text: string): Flow[] =>
  text
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { flow: Flow }).flow);

const tupleKey = (proto: number, a: string, ap: number, b: string, bp: number): string => `${proto} ${[`${a} ${ap}`, `${b} ${bp}`].sort().join(' ')}`;
const recKey = (r: ConnRecord): string => tupleKey(r.ip_proto, r.orig_h, r.orig_p, r.resp_h, r.resp_p);

describe('flows: Hubble output from real clusters', () => {
  for (const file of FILES) {
    it(`${file}: one connection per 5-tuple, every L3/L4 event a packet, midstream where no SYN was seen`, async function () {
      requireCorpus(this);
      const text = fs.readFileSync(corpusPath(`flows/hubble/${file}`), 'utf8');
      const want = JSON.parse(fs.readFileSync(corpusPath(`flows/hubble/${file}.expected.json`), 'utf8')) as Expected;
      const { records, errors, summary } = await collect(textStream(text), { format: 'hubble' });
      assert.deepEqual(errors, []);
      assert.equal(summary.events, want.events);
      assert.equal(records.length, want.five_tuples.length);
      assert.deepEqual(
        records.map(recKey).sort(),
        want.five_tuples.map((t) => tupleKey(t.proto, t.endpoints[0][0], t.endpoints[0][1], t.endpoints[1][0], t.endpoints[1][1])).sort(),
      );
      const pkts = records.reduce((a, r) => a + r.orig_pkts + r.resp_pkts, 0);
      assert.equal(pkts, want.by_type.L3_L4 ?? 0, 'L3/L4 events are the packets');

      // TCP tuples with a SYN in any event, from the file itself.
      const withSyn = new Set<string>();
      for (const f of flowsOf(text)) {
        const t = f.l4?.TCP;
        if (t?.flags?.SYN && f.IP) withSyn.add(tupleKey(6, f.IP.source, t.source_port ?? 0, f.IP.destination, t.destination_port ?? 0));
      }
      for (const r of records.filter((x) => x.proto === 'tcp')) {
        assert.equal(r.observed === 'midstream', !withSyn.has(recKey(r)), `${recKey(r)} ${r.history} ${r.conn_state}`);
        if (r.observed === 'midstream') assert.ok(!/[SsHh]/.test(r.history) && r.conn_state !== 'S0' && r.conn_state !== 'REJ', `${recKey(r)} ${r.conn_state}`);
        // An originator that ACKed after its SYN was answered, even if the reply was seen elsewhere.
        if (/S/.test(r.history) && /A|D/.test(r.history)) assert.ok(r.resp_pkts > 0 || r.observed === 'one-way', `${recKey(r)} ${r.history}`);
      }
    });
  }

  it('the TCP sample: 14 midstream connections and 4 one-way ones, no TCP connection left looking unanswered', async function () {
    requireCorpus(this);
    const { records } = await collect(fs.createReadStream(corpusPath('flows/hubble/basic-sample-400-tcp-flows.json')), { format: 'hubble' });
    const tcp = records.filter((r) => r.proto === 'tcp');
    assert.equal(tcp.filter((r) => r.observed === 'midstream').length, 14);
    const oneWay = tcp.filter((r) => r.observed === 'one-way');
    assert.equal(oneWay.length, 4);
    for (const r of oneWay) assert.deepEqual([r.conn_state, r.resp_pkts, r.history], ['S1', 0, 'SAD']);
    // The capture rule (no SYN-ACK seen and no reply packet) now holds only for records saying why.
    assert.deepEqual(
      tcp.filter((r) => r.resp_pkts === 0 && !r.history.includes('h') && r.observed === undefined),
      [],
    );
  });

  it('a policy drop with its denying policy (a real event of the TCP sample, turned into a drop)', async function () {
    requireCorpus(this);
    const lines = fs.readFileSync(corpusPath('flows/hubble/basic-sample-400-tcp-flows.json'), 'utf8').trim().split('\n');
    const syn = lines.find((l) => {
      const f = (JSON.parse(l) as { flow: Flow }).flow;
      return f.l4?.TCP?.flags?.SYN === true && f.l4.TCP.flags.ACK !== true;
    }) as string;
    const o = JSON.parse(syn) as { flow: Flow };
    // The fields as Cilium's flow.proto names them (Flow.drop_reason_desc, Flow.ingress_denied_by).
    Object.assign(o.flow, {
      verdict: 'DROPPED',
      drop_reason: 181,
      drop_reason_desc: 'POLICY_DENY',
      traffic_direction: 'INGRESS',
      ingress_denied_by: [{ name: 'deny-from-frontend', namespace: 'bookinfo', revision: 7 }],
      egress_allowed_by: [{ name: 'allow-all-egress', namespace: 'bookinfo' }],
    });
    const retry = JSON.parse(JSON.stringify(o)) as { flow: Flow & { time: string } };
    retry.flow.time = new Date(Date.parse(o.flow.time as string) + 1000).toISOString();
    const { records } = await collect(textStream(`${JSON.stringify(o)}\n${JSON.stringify(retry)}\n`), { format: 'hubble' });
    assert.equal(records.length, 1);
    const r = records[0];
    assert.deepEqual([r.conn_state, r.history, r.orig_pkts, r.resp_pkts, r.observed], ['S0', 'S', 2, 0, undefined]);
    assert.deepEqual(r.k8s?.policy, {
      verdict: 'denied',
      egress: 'allowed',
      ingress: 'denied',
      denied_by: ['bookinfo/deny-from-frontend'],
      allowed_by: ['bookinfo/allow-all-egress'],
      dataplane_verdict: 'DROPPED',
      drop_reason: 'POLICY_DENY',
    });
  });
});

describe('flows: Hubble L7 HTTP events as http records of their connection', () => {
  it('basic-sample-400-tcp-flows.json: 33 requests and 32 responses on 30 connections become 34 http records joined by uid', async function () {
    requireCorpus(this);
    const text = fs.readFileSync(corpusPath('flows/hubble/basic-sample-400-tcp-flows.json'), 'utf8');
    const apps: AppRecordOut[] = [];
    const { records, errors } = await collect(textStream(text), { format: 'hubble', onApp: (r) => apps.push(r) });
    assert.deepEqual(errors, []);
    const http = apps.filter((a): a is HttpLogRecord & AppRecordOut => a.kind === 'http');
    assert.equal(http.length, apps.length);
    // From the file: 33 REQUEST and 32 RESPONSE events; the response on 10.244.0.206:59702 has no
    // request in the sample, and two requests (ports 59920, 35346) end the sample unanswered.
    assert.equal(http.length, 34);
    assert.equal(http.filter((h) => h.status_code === 200).length, 32);
    assert.equal(http.filter((h) => h.status_code === null).length, 2);
    const byUid = new Map(records.map((r) => [r.uid, r]));
    for (const h of http) {
      const c = byUid.get(h.uid);
      assert.ok(c, `http record ${h.uid} has no connection`);
      assert.deepEqual(h.conn, { uid: c.uid, proto: 'tcp', orig_h: c.orig_h, orig_p: c.orig_p, resp_h: c.resp_h, resp_p: c.resp_p, ts: c.ts });
      assert.ok(c.service.includes('http'));
      // The client sent the request: the originator of the connection, the server on 9080.
      assert.equal(c.resp_p, 9080, c.uid);
      assert.ok(h.ts >= c.ts - 0.1 && h.ts <= c.ts + c.duration + 1e-6, `${h.uid}: ${h.ts} outside ${c.ts}+${c.duration}`);
    }
    assert.equal(new Set(http.map((h) => h.uid)).size, 30);
    // The keep-alive connection 10.244.0.110:40948 -> 10.244.0.206:9080 carried five GETs of /ratings/0.
    const ka = http.filter((h) => h.conn.orig_h === '10.244.0.110' && h.conn.orig_p === 40948);
    assert.deepEqual(
      ka.map((h) => [h.trans_depth, h.method, h.host, h.uri, h.status_code, h.version]),
      [1, 2, 3, 4, 5].map((d) => [d, 'GET', 'ratings:9080', '/ratings/0', 200, '1.1']),
    );
    // The first request of the file, and its response.
    const first = http.find((h) => h.conn.orig_p === 35128) as HttpLogRecord & AppRecordOut;
    assert.ok(Math.abs(first.ts - (Date.parse('2021-11-10T10:40:56Z') / 1000 + 0.4671524)) < 1e-6, String(first.ts));
    assert.deepEqual(
      [first.method, first.host, first.uri, first.user_agent, first.status_code, first.resp_content_type],
      ['GET', 'reviews:9080', '/reviews/0', 'curl/7.52.1', 200, 'application/json'],
    );
    // A response alone begins at its time minus Cilium's latency_ns (this one has none: at its time).
    const lone = http.find((h) => h.conn.orig_p === 59702) as HttpLogRecord & AppRecordOut;
    assert.deepEqual([lone.method, lone.uri, lone.status_code], ['GET', '/productpage', 200]);
    const ev = text
      .split('\n')
      .filter((l) => l.includes('"source_port":9080,"destination_port":59702') && l.includes('"RESPONSE"'))
      .map((l) => JSON.parse(l) as { flow: { time: string; l7: { latency_ns?: string } } })[0];
    assert.equal(ev.flow.l7.latency_ns, undefined);
    assert.ok(Math.abs(lone.ts - (Date.parse('2021-11-10T10:40:56Z') / 1000 + 0.4825705)) < 1e-6, String(lone.ts));
  });

  it('without onApp nothing is collected, and the connections are the same', async function () {
    requireCorpus(this);
    const text = fs.readFileSync(corpusPath('flows/hubble/basic-sample-400-tcp-flows.json'), 'utf8');
    const a = await collect(textStream(text), { format: 'hubble' });
    const b = await collect(textStream(text), { format: 'hubble', onApp: () => undefined });
    assert.deepEqual(a.records, b.records);
  });
});
