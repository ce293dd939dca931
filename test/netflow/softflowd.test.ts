/**
 * A real exporter end to end: softflowd reads corpus captures and exports NetFlow v5, v9 and
 * IPFIX to our collector on a loopback port; the records must account for every IP packet and
 * byte of the capture, per direction, and (IPFIX biflows) agree with Zeek's conn.log.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { runCollect } from '../../src/collect/netflow';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';
import { directionKey, directionsOf, exportThroughCollector, requireSoftflowd, softflowdTo, sumRecords, type Direction } from './softflowd';

const WIKI = 'zeek/wikipedia.pcap';

/** Community IDs per direction from the tshark oracle (one per packet; a direction has one). */
function tsharkCommunityIds(): Map<string, string> {
  const lines = fs
    .readFileSync(corpusPath(`${WIKI}.tshark.tsv`), 'utf8')
    .trim()
    .split('\n');
  const cols = lines[0].split('\t');
  const ix = (n: string): number => cols.indexOf(n);
  const out = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const c = l.split('\t');
    const cid = c[ix('communityid')];
    if (!cid) continue;
    const proto = Number(c[ix('ip.proto')] || c[ix('ipv6.nxt')]);
    const sport = Number(c[ix('tcp.srcport')] || c[ix('udp.srcport')] || 0);
    const dport = Number(c[ix('tcp.dstport')] || c[ix('udp.dstport')] || 0);
    out.set(directionKey(proto, c[ix('ip.src')] || c[ix('ipv6.src')], sport, c[ix('ip.dst')] || c[ix('ipv6.dst')], dport), cid);
  }
  return out;
}

function checkAgainstCapture(records: ConnRecord[], want: Map<string, Direction>, tsTolerance: number): void {
  const got = sumRecords(records);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'the same directions (5-tuples) as the capture');
  let pk = 0;
  let by = 0;
  for (const [k, w] of want) {
    const g = got.get(k) as Direction;
    assert.equal(g.packets, w.packets, `${k}: packets`);
    assert.equal(g.ipBytes, w.ipBytes, `${k}: IP bytes`);
    pk += w.packets;
    by += w.ipBytes;
  }
  // softflowd tracks both directions as one flow and gives both the flow's start: compare per connection.
  const start = (m: Map<string, Direction>): Map<string, number> => {
    const out = new Map<string, number>();
    for (const [k, d] of m) {
      const [proto, a, , b] = k.split(' ');
      const ck = `${proto} ${[a, b].sort().join(' ')}`;
      out.set(ck, Math.min(out.get(ck) ?? Infinity, d.firstTs));
    }
    return out;
  };
  const wantStart = start(want);
  for (const [ck, ts] of start(got)) {
    const w = wantStart.get(ck) as number;
    assert.ok(Math.abs(ts - w) <= tsTolerance, `${ck}: first packet ${ts} vs capture ${w}`);
  }
  const cids = tsharkCommunityIds();
  for (const r of records) {
    // A lone SYN-ACK is turned round (its destination originated): tshark saw only its direction.
    const k =
      r.orig_pkts > 0 ? directionKey(r.ip_proto, r.orig_h, r.orig_p, r.resp_h, r.resp_p) : directionKey(r.ip_proto, r.resp_h, r.resp_p, r.orig_h, r.orig_p);
    assert.equal(r.community_id, cids.get(k), `${k}: community_id as tshark computes it`);
  }
  assert.ok(pk > 100 && by > 20000, `sanity: ${pk} packets, ${by} bytes`);
}

/** Zeek's conn.log of the capture (`zeek -C -r wikipedia.pcap`), rows as field maps. */
function zeekConns(): Record<string, string>[] {
  const log = fs.readFileSync(corpusPath(`${WIKI}.zeek.opt.basic.conn.log`), 'utf8').split('\n');
  const fields = (log.find((l) => l.startsWith('#fields')) as string).split('\t').slice(1);
  return log
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const c = l.split('\t');
      return Object.fromEntries(fields.map((f, i) => [f, c[i]])) as Record<string, string>;
    });
}

/**
 * One-way records (v5, v9, IPFIX without -b) stitched by the collector against Zeek's conn.log:
 * one record per Zeek connection, Zeek's originator, both sides' packets and IP bytes, and
 * `observed: 'one-way'` exactly where Zeek saw no reply.
 */
async function checkStitched(version: 5 | 9 | 10, extra: string[]): Promise<{ paired: number; oneWay: number }> {
  const e = await exportThroughCollector(corpusPath(WIKI), version, ['-a', ...extra]);
  assert.deepEqual(e.problems, []);
  const zeek = zeekConns().filter((z) => version !== 5 || !z['id.orig_h'].includes(':'));
  assert.equal(e.records.length, zeek.length, 'one record per Zeek connection');
  const byKey = new Map(e.records.map((r) => [directionKey(r.ip_proto, r.orig_h, r.orig_p, r.resp_h, r.resp_p), r]));
  let paired = 0;
  for (const z of zeek) {
    const proto = z.proto === 'tcp' ? 6 : z.proto === 'udp' ? 17 : 1;
    const k = directionKey(proto, z['id.orig_h'], Number(z['id.orig_p']), z['id.resp_h'], Number(z['id.resp_p']));
    const r = byKey.get(k);
    assert.ok(r, `Zeek's ${k} with the same originator`);
    assert.equal(r.orig_pkts, Number(z.orig_pkts), `${k} orig_pkts`);
    assert.equal(r.resp_pkts, Number(z.resp_pkts), `${k} resp_pkts`);
    assert.equal(r.orig_ip_bytes, Number(z.orig_ip_bytes), `${k} orig_ip_bytes`);
    assert.equal(r.resp_ip_bytes, Number(z.resp_ip_bytes), `${k} resp_ip_bytes`);
    const bothWays = Number(z.resp_pkts) > 0 && Number(z.orig_pkts) > 0;
    assert.equal(r.observed, bothWays ? undefined : 'one-way', `${k} observed`);
    if (bothWays) {
      paired++;
      assert.equal(r.conn_state, z.conn_state, `${k} conn_state`);
    }
  }
  return { paired, oneWay: zeek.length - paired };
}

function ipv4Only(m: Map<string, Direction>): Map<string, Direction> {
  return new Map([...m].filter(([k]) => !k.includes('::') && !/[a-f]:/.test(k)));
}

describe('netflow collector with softflowd as the exporter (real datagrams)', function () {
  this.timeout(60_000);

  it('NetFlow v5: every IPv4 packet and byte of wikipedia.pcap, per direction', async function () {
    requireCorpus(this);
    requireSoftflowd(this);
    const e = await exportThroughCollector(corpusPath(WIKI), 5, ['-a']);
    assert.deepEqual(e.problems, []);
    const want = ipv4Only(directionsOf(corpusPath(WIKI)));
    // softflowd keeps milliseconds: its start can be 1 ms before the packet's microsecond time.
    checkAgainstCapture(e.records, want, 0.002);
    const st = e.stats.get('127.0.0.1');
    // Every exported record is in the output: alone (one-way) or as one side of a stitched pair.
    const paired = e.records.filter((r) => r.observed === undefined).length;
    assert.ok(st && st.datagrams >= 2 && st.records === e.records.length + paired && st.malformed === 0);
    assert.ok(e.batches >= Math.ceil(e.records.length / 16), 'batched by count');
  });

  it('NetFlow v9: IPv4 and IPv6 with templates, times to the header second', async function () {
    requireCorpus(this);
    requireSoftflowd(this);
    const e = await exportThroughCollector(corpusPath(WIKI), 9, ['-a', '-6']);
    assert.deepEqual(e.problems, []);
    // v9 headers carry whole seconds only (RFC 3954 5.1), so starts are exact to within a second.
    checkAgainstCapture(e.records, directionsOf(corpusPath(WIKI)), 1.0);
    const st = e.stats.get('127.0.0.1');
    assert.ok(st && st.templates >= 2, 'templates for IPv4 and IPv6 seen');
    assert.ok(
      e.records.some((r) => r.orig_h.includes(':')),
      'IPv6 records',
    );
  });

  it('IPFIX: IPv4 and IPv6, times from systemInitTimeMilliseconds to the millisecond', async function () {
    requireCorpus(this);
    requireSoftflowd(this);
    const e = await exportThroughCollector(corpusPath(WIKI), 10, ['-a', '-6']);
    assert.deepEqual(e.problems, []);
    checkAgainstCapture(e.records, directionsOf(corpusPath(WIKI)), 0.002);
    assert.ok((e.stats.get('127.0.0.1')?.optionRecords ?? 0) >= 1);
  });

  it('IPFIX biflows (softflowd -b) agree with Zeek conn.log: orientation, counts, conn_state', async function () {
    requireCorpus(this);
    requireSoftflowd(this);
    const e = await exportThroughCollector(corpusPath(WIKI), 10, ['-a', '-6', '-b']);
    assert.deepEqual(e.problems, []);
    const zeek = zeekConns();
    assert.equal(e.records.length, zeek.length);
    assert.ok(
      e.records.every((r) => r.observed === undefined),
      'biflows are whole: never one-way',
    );
    const byKey = new Map(e.records.map((r) => [directionKey(r.ip_proto, r.orig_h, r.orig_p, r.resp_h, r.resp_p), r]));
    for (const z of zeek) {
      const proto = z.proto === 'tcp' ? 6 : z.proto === 'udp' ? 17 : 1;
      const k = directionKey(proto, z['id.orig_h'], Number(z['id.orig_p']), z['id.resp_h'], Number(z['id.resp_p']));
      const r = byKey.get(k);
      assert.ok(r, `Zeek's ${k} with the same originator`);
      assert.equal(r.orig_pkts, Number(z.orig_pkts), `${k} orig_pkts`);
      assert.equal(r.resp_pkts, Number(z.resp_pkts), `${k} resp_pkts`);
      assert.equal(r.orig_ip_bytes, Number(z.orig_ip_bytes), `${k} orig_ip_bytes`);
      assert.equal(r.resp_ip_bytes, Number(z.resp_ip_bytes), `${k} resp_ip_bytes`);
      assert.equal(r.conn_state, z.conn_state, `${k} conn_state`);
      if (z.proto === 'udp' && z.orig_bytes !== '-') {
        assert.equal(r.orig_bytes, Number(z.orig_bytes), `${k} orig_bytes`);
        assert.equal(r.resp_bytes, Number(z.resp_bytes), `${k} resp_bytes`);
      }
    }
  });

  it('NetFlow v5 one-way records stitched into the connections of Zeek (originator, both sides, one-way where unanswered)', async function () {
    requireCorpus(this);
    requireSoftflowd(this);
    const n = await checkStitched(5, []);
    assert.ok(n.paired >= 10, `${n.paired} paired`);
  });

  it('NetFlow v9 and IPFIX one-way records stitched likewise, IPv6 included', async function () {
    requireCorpus(this);
    requireSoftflowd(this);
    for (const v of [9, 10] as const) {
      const n = await checkStitched(v, ['-6']);
      assert.ok(n.paired >= 10, `v${v}: ${n.paired} paired`);
    }
  });

  it('eastwatch collect (runCollect): ndjson to a file, counts per exporter on stop', async function () {
    requireCorpus(this);
    requireSoftflowd(this);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-collect-'));
    const out = path.join(dir, 'flows.ndjson');
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    const ac = new AbortController();
    let port = 0;
    let onListen: () => void = () => undefined;
    const listening = new Promise<void>((res) => (onListen = res));
    const finished = runCollect(
      { netflow: '127.0.0.1:0', out, batchMs: 20 },
      {
        stderr,
        signal: ac.signal,
        onListening: (a) => {
          port = a.port;
          onListen();
        },
      },
    );
    try {
      await listening;
      await softflowdTo(port, corpusPath(WIKI), 9, ['-a', '-6']);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      ac.abort();
    }
    try {
      assert.equal(await finished, 0);
      const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
      const recs = lines.map((l) => JSON.parse(l) as ConnRecord);
      checkAgainstCapture(recs, directionsOf(corpusPath(WIKI)), 1.0);
      // records counts what the exporter sent: a stitched connection holds two of them.
      const flowRecords = recs.length + recs.filter((r) => r.observed === undefined).length;
      assert.match(err, new RegExp(`^127\\.0\\.0\\.1\\t\\d+\\t${flowRecords}\\t\\d+\\t0\\t0$`, 'm'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
