/**
 * The packet ring (src/capture/ring.ts): real captures go through the analyze pipeline into a
 * ring, and each connection cut out of it by uid must be byte for byte what the service's cutter
 * (src/analyze/extract.ts, by 5-tuple and time span) cuts from the capture itself; rotation by
 * size and age, a torn index, and tshark reading what comes out.
 */
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { extractConnections } from '../../src/analyze/extract';
import { analyzeFile } from '../../src/analyze/pipeline';
import { serveAgent } from '../../src/capture/agent-http';
import { AgentMetrics } from '../../src/capture/metrics';
import { extractFromRing, PacketRing, type RingOptions } from '../../src/capture/ring';
import { readCapture } from '../../parsers/capture/open';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'eastwatch.js');

async function collect(run: (out: PassThrough) => Promise<unknown>): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await run(out);
  out.end();
  return Buffer.concat(chunks);
}

/** The capture through the pipeline into a ring; its records. The ring is closed unless `crash`. */
async function intoRing(file: string, o: Omit<RingOptions, 'dir'>, dir: string, crash = false): Promise<{ records: ConnRecord[]; ring: PacketRing }> {
  const ring = new PacketRing({ dir, now: () => 0, ...o });
  const records: ConnRecord[] = [];
  await analyzeFile(file, (r) => records.push(r), { onPacket: (p, uids, n) => ring.write(p, uids, n) });
  if (!crash) ring.close();
  return { records, ring };
}

/** Packet times (seconds) of a pcap. */
async function times(file: string): Promise<number[]> {
  const t: number[] = [];
  await readCapture(file, (p) => t.push(p.tsSec + p.tsNsec / 1e9));
  return t;
}

function segments(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.pcap'))
    .sort();
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

describe('packet ring', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-ring-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const capture of [
    'zeek/wikipedia.pcap',
    'zeek/irc-dcc-send.pcapng',
    'zeek/http/http-post-large.pcap',
    'zeek/tunnels/vxlan.pcap',
    'zeek/tunnels/geneve.pcap',
  ]) {
    it(`cuts every connection of ${capture} as the capture cutter does`, async function (this: Mocha.Context) {
      requireCorpus(this);
      const file = corpusPath(capture);
      const dir = path.join(tmp, 'ring');
      // Small segments, so that connections span several.
      const { records, ring } = await intoRing(file, { maxBytes: 1 << 30, segmentBytes: 64 * 1024 }, dir);
      const all = await times(file);
      assert.equal(ring.stats.packetsWritten, all.length);
      assert.equal(ring.stats.segmentsDeleted, 0);
      assert.ok(ring.stats.segments >= Math.floor(fs.statSync(file).size / (64 * 1024)), `segments: ${ring.stats.segments}`);
      assert.equal(ring.stats.bytes, dirBytes(dir));
      assert.ok(records.length > 0);
      // An interim record shares its connection's uid: one cut per connection.
      const last = new Map<string, ConnRecord>();
      for (const r of records) last.set(r.uid, r);
      for (const r of last.values()) {
        const fromRing = await collect((out) => extractFromRing(dir, [r.uid], out));
        const fromFile = await collect((out) => extractConnections([{ file, targets: [r] }], out));
        assert.ok(
          fromRing.equals(fromFile),
          `${r.uid} ${r.orig_h}:${r.orig_p} -> ${r.resp_h}:${r.resp_p}: ring ${fromRing.length} bytes, cutter ${fromFile.length}`,
        );
        // Every connection has a packet (the first made it).
        assert.ok(fromRing.length > 24 + 16, r.uid);
      }
    });
  }

  it('stays within its size, deleting the oldest segments', async function (this: Mocha.Context) {
    requireCorpus(this);
    const file = corpusPath('zeek/irc-dcc-send.pcapng');
    const dir = path.join(tmp, 'ring');
    const maxBytes = 256 * 1024;
    const { records, ring } = await intoRing(file, { maxBytes, segmentBytes: 32 * 1024 }, dir);
    assert.ok(ring.stats.segmentsDeleted > 20, `deleted ${ring.stats.segmentsDeleted}`);
    const size = dirBytes(dir);
    assert.ok(size <= maxBytes, `ring holds ${size} bytes, bound ${maxBytes}`);
    assert.ok(size > maxBytes - 2 * 32 * 1024, `ring holds only ${size} bytes`);
    // Segment numbers are contiguous and the newest survive.
    const seqs = segments(dir).map((f) => Number(f.slice(4, 16)));
    assert.equal(seqs[seqs.length - 1], ring.stats.segmentsDeleted + seqs.length);
    for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1);
    // Its first connection began in a segment long gone: nothing (or only its tail) is left.
    const first = records.reduce((a, b) => (a.ts < b.ts ? a : b));
    const firstCut = await collect((out) => extractFromRing(dir, [first.uid], out));
    const firstFull = await collect((out) => extractConnections([{ file, targets: [first] }], out));
    assert.ok(firstCut.length < firstFull.length);
    // A connection that began within what the ring keeps is whole.
    const oldestKept = Math.min(...(await times(path.join(dir, segments(dir)[0]))));
    const whole = records.filter((r) => r.ts >= oldestKept);
    assert.ok(whole.length > 0);
    for (const r of whole) {
      const full = await collect((out) => extractConnections([{ file, targets: [r] }], out));
      assert.deepEqual(await collect((out) => extractFromRing(dir, [r.uid], out)), full, r.uid);
    }
    // A restart continues after the highest segment and keeps the bound.
    const again = await intoRing(file, { maxBytes, segmentBytes: 32 * 1024 }, dir);
    assert.ok(dirBytes(dir) <= maxBytes);
    assert.ok(Number(segments(dir)[0].slice(4, 16)) > seqs[seqs.length - 1]);
    assert.ok(again.ring.stats.segmentsDeleted > 20);
  });

  it('deletes segments whose newest packet is older than the age bound', async function (this: Mocha.Context) {
    requireCorpus(this);
    const file = corpusPath('zeek/irc-dcc-send.pcapng');
    const all = await times(file);
    const newest = Math.max(...all);
    const span = newest - Math.min(...all);
    assert.ok(span > 20, `the capture spans ${span} s`);
    const maxAgeSec = Math.floor(span / 3);
    const dir = path.join(tmp, 'ring');
    const { ring } = await intoRing(file, { maxBytes: 1 << 30, segmentBytes: 16 * 1024, maxAgeSec }, dir);
    ring.tick();
    assert.ok(ring.stats.segmentsDeleted > 0);
    // Every segment left has a packet within the bound; the one before the oldest left had none.
    for (const seg of segments(dir)) {
      const t = await times(path.join(dir, seg));
      assert.ok(Math.max(...t) >= newest - maxAgeSec, `${seg}: newest packet ${newest - Math.max(...t)} s old`);
    }
    const kept = (await Promise.all(segments(dir).map((s) => times(path.join(dir, s))))).flat();
    assert.ok(Math.min(...kept) < newest - maxAgeSec + 10, 'the oldest segment left is the first within the bound');
    assert.ok(kept.length < all.length);
  });

  it('reads an index up to a torn or corrupt record, and a ring whose writer died', async function (this: Mocha.Context) {
    requireCorpus(this);
    const file = corpusPath('zeek/wikipedia.pcap');
    const dir = path.join(tmp, 'ring');
    // No close(): the buffered tail is lost, as when the agent is killed.
    const { records, ring } = await intoRing(file, { maxBytes: 1 << 30, segmentBytes: 8192, flushBytes: 4096 }, dir, true);
    ring.flush();
    const seg = segments(dir)[0];
    const idx = path.join(dir, seg.replace('.pcap', '.idx'));
    const uids = [...new Set(records.map((r) => r.uid))];
    const before = await collect((out) => extractFromRing(dir, uids, out));
    const whole = fs.readFileSync(idx);
    // Torn in the middle of its last record.
    fs.truncateSync(idx, whole.length - 3);
    const torn = new PassThrough();
    const chunks: Buffer[] = [];
    torn.on('data', (c: Buffer) => chunks.push(c));
    const r = await extractFromRing(dir, uids, torn);
    assert.equal(r.tornIndexes, 1);
    assert.ok(Buffer.concat(chunks).length < before.length);
    assert.ok(r.packets > 0);
    // One flipped bit in the first record's body: nothing of that segment is trusted.
    const bad = Buffer.from(whole);
    bad[8 + 8 + 2] ^= 0x01;
    fs.writeFileSync(idx, bad);
    const r2 = await collect((out) => extractFromRing(dir, uids, out));
    assert.ok(r2.length < before.length);
    // An index pointing past its pcap (a crash between the two writes) skips those entries.
    fs.writeFileSync(idx, whole);
    const pcap = path.join(dir, seg);
    fs.truncateSync(pcap, fs.statSync(pcap).size - 10);
    const r3 = await extractFromRing(dir, uids, new PassThrough().resume());
    assert.ok(r3.unreadable >= 1);
  });

  it('eastwatch pcap --ring cuts a connection that tshark reads, equal to tshark filtering the capture', async function (this: Mocha.Context) {
    requireCorpus(this);
    if (spawnSync('sh', ['-c', 'command -v tshark']).status !== 0) {
      if (process.env.CI === 'true') throw new Error('tshark is not installed');
      this.skip();
    }
    const file = corpusPath('zeek/http/http-post-large.pcap');
    const dir = path.join(tmp, 'ring');
    const { records } = await intoRing(file, { maxBytes: 1 << 30, segmentBytes: 16 * 1024 }, dir);
    const big = records.filter((r) => r.ip_proto === 6).reduce((a, b) => (a.orig_pkts + a.resp_pkts > b.orig_pkts + b.resp_pkts ? a : b));
    const out = path.join(tmp, 'conn.pcap');
    const cli = spawnSync(process.execPath, [BIN, 'pcap', '--ring', dir, '--uid', big.uid, '-o', out], { encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stderr, new RegExp(`(\\d+) packets .* of ${big.uid} from (\\d+) segments`));
    const fields = ['frame.time_epoch', 'ip.src', 'tcp.srcport', 'ip.dst', 'tcp.dstport', 'tcp.seq_raw', 'frame.len'];
    const tshark = (f: string, filter?: string): string[] => {
      const args = ['-r', f, '-T', 'fields', ...fields.flatMap((x) => ['-e', x])];
      if (filter) args.push('-Y', filter);
      const t = spawnSync('tshark', args, { encoding: 'utf8' });
      assert.equal(t.status, 0, t.stderr);
      return t.stdout.trim().split('\n');
    };
    const cut = tshark(out);
    const expected = tshark(file, `ip.addr==${big.orig_h} && ip.addr==${big.resp_h} && tcp.port==${big.orig_p} && tcp.port==${big.resp_p}`);
    assert.equal(cut.length, big.orig_pkts + big.resp_pkts);
    assert.deepEqual(cut, expected);
    // A uid the ring never saw: an empty pcap and exit 1.
    const none = spawnSync(process.execPath, [BIN, 'pcap', '--ring', dir, '--uid', 'CnoSuchUid0000', '-o', out], { encoding: 'utf8' });
    assert.equal(none.status, 1);
    assert.match(none.stderr, /holds no packets of CnoSuchUid0000/);
    assert.equal(fs.statSync(out).size, 24);
  });

  it("serves a connection's pcap from the ring over the agent's authenticated endpoint", async function (this: Mocha.Context) {
    requireCorpus(this);
    const file = corpusPath('zeek/wikipedia.pcap');
    const dir = path.join(tmp, 'ring');
    const { records } = await intoRing(file, { maxBytes: 1 << 30, segmentBytes: 16 * 1024 }, dir);
    const token = 'ring-test-token-0123456789';
    const m = new AgentMetrics(() => ({ packetsSeen: 0, recordsWritten: 0, liveConnections: 0, kernel: null, shipper: null }));
    const server = await serveAgent(m, '127.0.0.1', 0, token, dir);
    try {
      const auth = { Authorization: `Bearer ${token}` };
      for (const r of records.slice(0, 10)) {
        const res = await fetch(`${server.url}/connections/${r.uid}/pcap`, { headers: auth });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'application/vnd.tcpdump.pcap');
        const body = Buffer.from(await res.arrayBuffer());
        assert.deepEqual(body, await collect((out) => extractConnections([{ file, targets: [r] }], out)), r.uid);
      }
      const uid = records[0].uid;
      assert.equal((await fetch(`${server.url}/connections/${uid}/pcap`)).status, 401);
      assert.equal((await fetch(`${server.url}/connections/${uid}/pcap`, { headers: { Authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
      const none = await fetch(`${server.url}/connections/CnoSuchUid0000/pcap`, { headers: auth });
      assert.equal(none.status, 404);
      assert.match(await none.text(), /holds no packets of CnoSuchUid0000/);
      assert.equal((await fetch(`${server.url}/connections/bad.uid/pcap`, { headers: auth })).status, 400);
      assert.equal((await fetch(`${server.url}/metrics`, { headers: auth })).status, 200);
    } finally {
      await server.close();
    }
    // Without a ring the agent serves /metrics only.
    const plain = await serveAgent(m, '127.0.0.1', 0, token);
    try {
      assert.equal((await fetch(`${plain.url}/connections/${records[0].uid}/pcap`, { headers: { Authorization: `Bearer ${token}` } })).status, 404);
    } finally {
      await plain.close();
    }
  });
});
