/**
 * The ndjson connection lines encoded in the sink's buffer (writeConnBytes) must be the bytes of
 * ndjsonLine, which is JSON.stringify of the record: on every record of the samples, every
 * corpus capture, the flow samples and the Kubernetes sample with its inventory, and on records
 * none of them reach (every optional field, escapes and non-ASCII text, unusual numbers,
 * unexpected types, lines longer than a buffer).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { parseFlows } from '../../parsers/flows';
import type { ConnRecord } from '../../parsers/record/conn';
import type { ConnK8s } from '../../parsers/record/k8s';
import { analyzerFactory } from '../../src/analyze/app';
import { analyzeFile } from '../../src/analyze/pipeline';
import { loadInventoryFiles } from '../../src/k8s/load';
import { K8sResolver } from '../../src/k8s/resolver';
import { writeConnBytes } from '../../src/output/conn-bytes';
import { createWriter, ndjsonLine } from '../../src/output/formats';
import { TextSink } from '../../src/output/sink';
import { corpusAvailable, corpusFiles } from '../util/corpus';

const SAMPLES = path.resolve(__dirname, '..', '..', '..', 'samples');

/** Records of every sample and corpus capture (with the analyzers, for services), the flow samples, and the k8s sample enriched. */
async function realRecords(): Promise<ConnRecord[]> {
  const out: ConnRecord[] = [];
  const captures = ['pod-traffic.pcap', 'vxlan-overlay.pcap', 'failed-connections.pcap', 'scan.pcap'].map((f) => path.join(SAMPLES, f));
  if (corpusAvailable()) captures.push(...corpusFiles(/\.(pcap|pcapng)$/));
  // Interim records every 10 s, for some with interim set.
  for (const f of captures) await analyzeFile(f, (r) => out.push(r), { tracker: { payload: analyzerFactory(() => {}), interimIntervalSec: 10 } });
  for (const f of ['hubble-observe.json', 'vpc-default.log', 'vpc-eks-v5.log', 'wikipedia.conn.zeek.json']) {
    await parseFlows(
      fs.createReadStream(path.join(SAMPLES, 'flows', f)),
      { source: f },
      (r) => out.push(r),
      () => {},
    );
  }
  const resolver = new K8sResolver(loadInventoryFiles([path.join(SAMPLES, 'k8s', 'inventory.json')]), {
    localNets: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'],
  });
  await analyzeFile(path.join(SAMPLES, 'k8s', 'cluster.pcap'), (r) => out.push(r), { enrich: resolver.enrich });
  return out;
}

/** What the ndjson writer hands its stream for these records. */
async function written(recs: readonly ConnRecord[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  const w = createWriter('ndjson', new TextSink(out));
  for (const r of recs) w.write(r);
  await w.close();
  return Buffer.concat(chunks);
}

/** The bytes of the string lines, as the sink encodes them. */
const lineBytes = (recs: readonly ConnRecord[]): Buffer => Buffer.from(recs.map(ndjsonLine).join(''), 'utf8');
const jsonBytes = (recs: readonly ConnRecord[]): Buffer => Buffer.from(recs.map((r) => `${JSON.stringify(r)}\n`).join(''), 'utf8');

/** Whether writeConnBytes itself encodes the record (rather than leaving it to ndjsonLine). */
function encodes(r: ConnRecord): boolean {
  const sink = new TextSink(new Writable({ write: (_c, _e, cb) => cb() }));
  return writeConnBytes(sink, r);
}

/** The first differing line, for a readable failure. */
function firstDiff(got: Buffer, want: Buffer): string {
  const g = got.toString('utf8').split('\n');
  const w = want.toString('utf8').split('\n');
  const i = g.findIndex((l, j) => l !== w[j]);
  return i < 0 ? `lengths ${got.length} / ${want.length}` : `line ${i}:\n  got  ${g[i]}\n  want ${w[i]}`;
}

function assertBytes(got: Buffer, want: Buffer): void {
  assert.ok(got.equals(want), firstDiff(got, want));
}

const K8S: ConnK8s = {
  orig: {
    kind: 'pod',
    namespace: 'shop',
    pod: 'web-0',
    workload: 'web',
    workload_kind: 'StatefulSet',
    node: 'node-1',
    labels: {
      app: 'w\u00e9b',
      'q"uote': 'back\\slash',
      ctl: '\u0000\u0001\b\t\n\f\r\u001f\u007f',
      wide: '\u2028\u2029\u0800\uffff',
      emoji: '\ud83d\ude00',
      lone: '\ud800x\udc00',
      '\u00fcber': '\u00ff',
    },
    host_network: false,
    from_flow: ['namespace', 'labels.app'],
  },
  resp: { kind: 'service', namespace: 'data', service: 'db', labels: {} },
  direction: 'internal',
  scope: 'pod-to-service',
  policy: {
    verdict: 'denied',
    egress: 'denied',
    ingress: 'not-isolated',
    denied_by: ['shop/deny-all'],
    allowed_by: [],
    dataplane_verdict: 'DROPPED',
    drop_reason: 'POLICY_DENIED',
  },
};

describe('ndjson connection lines encoded in the buffer', () => {
  let recs: ConnRecord[] = [];
  before(async function () {
    this.timeout(300_000);
    recs = await realRecords();
  });

  it('are JSON.stringify of every record of the samples, the corpus, the flow samples and the k8s sample', async () => {
    assert.ok(recs.length > 900, `${recs.length} records`);
    // The records reach the fields the line has beyond the base ones.
    const has = (p: (r: ConnRecord) => boolean, what: string): void => assert.ok(recs.some(p), what);
    has((r) => r.service.length > 0, 'a service');
    has((r) => r.tunnel_parents.length > 0, 'a tunnel parent');
    has((r) => r.vlan !== null && r.inner_vlan !== null, 'two vlans');
    has((r) => r.orig_l2_addr === null, 'no l2 address');
    has((r) => r.tunnel_type !== null && r.tunnel_id !== null, 'a tunnel');
    has((r) => r.k8s?.orig.labels !== undefined, 'k8s labels');
    has((r) => r.source !== undefined, 'a source');
    has((r) => r.observed !== undefined, 'an observed');
    has((r) => r.counts !== undefined, 'counts');
    has((r) => r.stitched === true, 'a stitched record');
    has((r) => r.interim, 'an interim record');
    // Every one is encoded in place, none left to the string line.
    assert.deepEqual(
      recs.filter((r) => !encodes(r)).map((r) => r.uid),
      [],
    );
    // Many times over, so that lines straddle the sink's buffers.
    const many: ConnRecord[] = [];
    for (let i = 0; i < 8; i++) many.push(...recs);
    const got = await written(many);
    assert.ok(got.length > 4 * 256 * 1024, `${got.length} bytes`);
    assertBytes(got, jsonBytes(many));
  });

  it('are JSON.stringify of records with every optional field, escapes and non-ASCII text', async () => {
    const base = recs[0];
    const odd: ConnRecord[] = [
      {
        ...base,
        service: ['http', 'a"b\\c\u0001\u00e9\u2028\ud83d\ude00', '\ud800', ''],
        tunnel_parents: ['C1', 'C2', 'C3'],
        vlan: 100,
        inner_vlan: 4095,
        orig_l2_addr: null,
        resp_l2_addr: '02:00:00:00:00:01',
        tunnel_type: 'vxlan',
        tunnel_id: 16777215,
        interim: true,
        source: 'hubble',
        observed: 'midstream',
        stitched: false,
        counts: 'reports',
        k8s: K8S,
      },
      { ...base, vlan: 0, inner_vlan: null, tunnel_type: 'gre', tunnel_id: null, stitched: true, local_orig: false, local_resp: true },
      { ...base, vlan: null, inner_vlan: 7, orig_l2_addr: 'aa:bb', resp_l2_addr: null, observed: 'one-way', local_orig: true, local_resp: false },
      { ...base, source: 'aws-vpc', local_orig: false, local_resp: false },
      { ...base, tunnel_type: null, tunnel_id: 0 },
      { ...base, tunnel_type: 'geneve', tunnel_id: null },
      { ...base, k8s: { ...K8S, policy: undefined } },
      { ...base, k8s: { orig: { kind: 'external' }, resp: { kind: 'internal' }, direction: 'external', scope: 'other' } },
      { ...base, service: [], tunnel_parents: ['C\u00e9'], history: '', conn_state: 'OTH' },
    ];
    assertBytes(await written(odd), jsonBytes(odd));
    for (const r of odd) assert.ok(encodes(r), r.uid);
  });

  it('are ndjsonLine on the strings it writes as they are: text JSON would escape, lone surrogates', async () => {
    // Not JSON (these fields never hold such text), but the bytes stay the string line's.
    const base = recs[0];
    const odd: ConnRecord[] = [
      { ...base, uid: 'C"\\\u0001\u00e9\u0800\ud83d\ude00' },
      { ...base, orig_h: '\ud800', resp_h: 'x\udc00', history: '\ud83d' },
      { ...base, community_id: '\u00ff\u0100\u07ff\u0800\uffff', orig_l2_addr: '\u00e9', tunnel_type: 'z\u2028' },
      { ...base, source: '\u00e9' as ConnRecord['source'], observed: '"' as ConnRecord['observed'], counts: '\\' as ConnRecord['counts'] },
      { ...base, k8s: null as unknown as ConnK8s },
    ];
    assertBytes(await written(odd), lineBytes(odd));
    for (const r of odd) assert.ok(encodes(r), r.uid);
  });

  it('make the string line for values of another type, and for lines longer than a buffer', async () => {
    const base = recs[0];
    const odd: ConnRecord[] = [
      { ...base, uid: undefined as unknown as string },
      { ...base, orig_p: '80' as unknown as number },
      { ...base, ts: null as unknown as number },
      { ...base, local_orig: 1 as unknown as boolean },
      { ...base, local_resp: undefined as unknown as boolean },
      { ...base, interim: 'no' as unknown as boolean },
      { ...base, vlan: undefined as unknown as null },
      { ...base, tunnel_id: '5' as unknown as number },
      { ...base, orig_l2_addr: undefined as unknown as null },
      { ...base, resp_l2_addr: 5 as unknown as string },
      { ...base, tunnel_type: undefined as unknown as null },
      { ...base, service: [1, null] as unknown as string[] },
      { ...base, tunnel_parents: ['C1', undefined] as unknown as string[] },
      { ...base, service: 'http' as unknown as string[] },
      { ...base, source: null as unknown as ConnRecord['source'] },
      { ...base, stitched: 'yes' as unknown as boolean },
      { ...base, k8s: { ...K8S, orig: { ...K8S.orig, labels: { big: 'x'.repeat(300_000) } } } },
      { ...base, uid: 'C'.repeat(100_000) },
      { ...base, service: ['\u0001'.repeat(50_000)] },
    ];
    assert.deepEqual(
      odd.map(encodes),
      odd.map(() => false),
    );
    // Among lines it does encode, so that a refused line leaves nothing behind.
    const mixed = odd.flatMap((r) => [base, r]);
    assertBytes(await written(mixed), lineBytes(mixed));
  });

  it('write numbers as String(n) does: microsecond times and durations, integers, and any other', async () => {
    const base = recs[0];
    // A fixed-seed generator: the same numbers every run.
    let seed = 11;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const numbers = [
      0,
      -0,
      1,
      9,
      10,
      99,
      100,
      2147483647,
      2147483648,
      4294967295,
      4294967296,
      2 ** 53,
      2 ** 53 + 2,
      1e21,
      1.5e300,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      -1,
      -2147483648,
      -1.5,
      -1768899600.000491,
      0.000001,
      0.0000009,
      0.0000005,
      1e-7,
      0.1,
      0.5,
      0.999999,
      0.9999995,
      1.000001,
      1.0000001,
      1768899600.000491,
      1768899600.1,
      2147483647.999999,
      2147483648.000001,
      4294967295.999999,
      4294967295.9999995,
      4294967296.5,
      0.1 + 0.2,
      1768899600.000491 - 1768899600.000001,
    ];
    // Where an integer gains a digit.
    for (let d = 0; d <= 16; d++) numbers.push(10 ** d - 1, 10 ** d, 10 ** d + 0.5, 10 ** d - 0.000001);
    for (let i = 0; i < 4000; i++) {
      const micros = Math.floor(rnd() * 4294967296 * 1e6);
      numbers.push(
        micros / 1e6,
        Math.floor(rnd() * 1e6) / 1e6,
        Math.floor(rnd() * 1e6) / 1e6 + Math.floor(rnd() * 100),
        rnd() * 10 ** Math.floor(rnd() * 12),
        Math.floor(rnd() * 2 ** 33),
        Math.floor(rnd() * 10 ** Math.floor(rnd() * 10)),
        -Math.floor(rnd() * 1e6) / 1e6,
        (micros + Math.floor(rnd() * 1e6)) / 1e6 - micros / 1e6,
        // Microseconds beyond 2^32 s, where doubles are 1e-6 apart or more.
        Math.floor(rnd() * 2 ** 36 * 1e6) / 1e6,
        Math.floor(rnd() * 2 ** 36) + Math.floor(rnd() * 1e6) / 1e6,
      );
    }
    const many: ConnRecord[] = numbers.map((n, i) => ({
      ...base,
      ts: n,
      duration: numbers[(i + 1) % numbers.length],
      orig_p: Math.floor(Math.abs(n)) % 65536,
      orig_bytes: Math.floor(Math.abs(n)),
      resp_bytes: n,
      missed_bytes: numbers[(i + 7) % numbers.length],
      vlan: i % 3 === 0 ? null : Math.floor(Math.abs(n)) % 4096,
      inner_vlan: i % 5 === 0 ? null : n,
      tunnel_id: i % 2 === 0 ? null : n,
    }));
    assertBytes(await written(many), jsonBytes(many));
    assert.ok(many.every(encodes));
    // Not JSON, but what the string line has.
    const nonFinite = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map((n) => ({ ...base, ts: n, duration: n, vlan: n, tunnel_id: n }));
    assertBytes(await written(nonFinite), lineBytes(nonFinite));
  });
});
