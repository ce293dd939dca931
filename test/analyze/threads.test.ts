/**
 * analyze --threads: the records, application records, their uids and their order are those of
 * the one-thread run, on the samples and on corpus captures with tunnels, fragments, DNS, HTTP,
 * A-MSDU and many unanswered connections; byte for byte through the command line too.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FlowLayer } from '../../parsers/decode/layers';
import { analyzerFactory } from '../../src/analyze/app';
import { type AnalyzeResult, analyzeFile } from '../../src/analyze/pipeline';
import { CARRIED_FIELDS, ENTRY_PACKET, RingReader, RingWriter, newRing } from '../../src/analyze/shard-ring';
import { type ThreadedOptions, analyzeFileThreaded, shardOf } from '../../src/analyze/threads';
import { CaptureError } from '../../parsers/capture/types';
import { corpusPath, requireCorpus } from '../util/corpus';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SAMPLES = path.join(ROOT, 'samples');
const BIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

const CORPUS = [
  'zeek/tunnels/4in4.pcap',
  'zeek/tunnels/6in4.pcap',
  'zeek/tunnels/ayiya3.pcap',
  'zeek/tunnels/geneve-47101.pcap',
  'zeek/tunnels/geneve-ipv6.pcap',
  'zeek/tunnels/geneve-vxlan-dns-truncated.pcap',
  'zeek/tunnels/gre-aruba-amsdu.pcap',
  'zeek/tunnels/gre-pptp.pcap',
  'zeek/tunnels/gre-sample.pcap',
  'zeek/tunnels/teredo_bubble_with_payload.pcap',
  'zeek/tunnels/vxlan-encapsulated-igmp-v2.pcap',
  'zeek/tunnels/vxlan.pcap',
  'zeek/ipv6-fragmented-dns.pcap',
  'zeek/erspanII.pcap',
  'zeek/irc-dcc-send.pcapng',
  // Data connections announced on a control connection (ftp-data), most of them on another thread's shard.
  'zeek/ftp/ipv4.pcap',
  'zeek/ftp/ipv6.pcap',
  'zeek/portmapper-many-unanswered-calls.pcapng',
  'zeek/http/http-post-large.pcap',
  'zeek/http/concurrent-range-requests.pcap',
  'zeek/dns/dns-binds.pcap',
  'zeek/icmp_dot1q.pcap',
  'community-id-spec/combined.pcap',
];

interface Run {
  /** Every connection ("C") and application ("A") record as JSON, in the order they came out. */
  lines: string[];
  res: AnalyzeResult;
}

async function oneThread(file: string, analyzers = true): Promise<Run> {
  const lines: string[] = [];
  const res = await analyzeFile(file, (r) => lines.push(`C${JSON.stringify(r)}`), {
    tracker: { payload: analyzers ? analyzerFactory((r) => lines.push(`A${JSON.stringify(r)}`)) : null },
  });
  return { lines, res };
}

async function threaded(file: string, threads: number, ringBytes?: number, analyzers = true, more: Partial<ThreadedOptions> = {}): Promise<Run> {
  const lines: string[] = [];
  const res = await analyzeFileThreaded(file, (r) => lines.push(`C${JSON.stringify(r)}`), {
    threads,
    analyzers,
    onApp: (r) => lines.push(`A${JSON.stringify(r)}`),
    ringBytes,
    ...more,
  });
  return { lines, res };
}

function assertSame(a: Run, b: Run, what: string): void {
  assert.ok(a.lines.length > 0, `${what}: no records at all`);
  assert.equal(b.lines.length, a.lines.length, `${what}: record count`);
  for (let i = 0; i < a.lines.length; i++) assert.equal(b.lines[i], a.lines[i], `${what}: record ${i}`);
  const counts = (r: AnalyzeResult) => ({ ...r, tracker: { ...r.tracker, live: 0 }, decoder: null, capture: r.capture?.packets });
  assert.deepEqual(counts(b.res), counts(a.res), `${what}: counts`);
}

describe('analyze --threads: output identical to one thread', function () {
  this.timeout(120000);

  for (const name of ['pod-traffic', 'vxlan-overlay', 'scan', 'failed-connections']) {
    it(`samples/${name}.pcap, 2 threads`, async () => {
      const file = path.join(SAMPLES, `${name}.pcap`);
      assertSame(await oneThread(file), await threaded(file, 2), name);
    });
  }

  it('samples/pod-traffic.pcap, 3 threads through 16 KiB rings (wrapping and waiting for room all along)', async () => {
    const file = path.join(SAMPLES, 'pod-traffic.pcap');
    assertSame(await oneThread(file), await threaded(file, 3, 16 << 10, true, { handOff: 'ring' }), 'pod-traffic');
  });

  it('samples/pod-traffic.pcap, 3 reading threads with at most 16 items each ahead of the merge (waiting for it all along)', async () => {
    const file = path.join(SAMPLES, 'pod-traffic.pcap');
    assertSame(await oneThread(file), await threaded(file, 3, undefined, true, { maxItemsAhead: 16 }), 'pod-traffic');
  });

  // The ring hand-off (`shard` runs use it): the tunnels' outer layers in this thread, the inner ones through the rings.
  for (const rel of ['zeek/tunnels/vxlan.pcap', 'zeek/tunnels/gre-aruba-amsdu.pcap', 'zeek/ftp/ipv4.pcap', 'zeek/ipv6-fragmented-dns.pcap']) {
    it(`corpus ${rel}, 2 threads through the rings`, async function () {
      requireCorpus(this);
      const file = corpusPath(rel);
      assertSame(await oneThread(file), await threaded(file, 2, undefined, true, { handOff: 'ring' }), rel);
    });
  }

  it('a capture cut short: the records before the fault and the same error as one thread; a file that is no capture rejects', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-threads-'));
    try {
      const whole = fs.readFileSync(path.join(SAMPLES, 'pod-traffic.pcap'));
      const cut = path.join(dir, 'cut.pcap');
      // Into the middle of a record: a truncated last packet.
      fs.writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.6)));
      const a = await oneThread(cut);
      const b = await threaded(cut, 2);
      assert.ok(a.res.error instanceof CaptureError, 'one thread reports the fault');
      assert.ok(b.res.error instanceof CaptureError, 'two threads report it as a CaptureError');
      assert.equal(b.res.error.message, a.res.error.message);
      assertSame(a, { ...b, res: { ...b.res, error: a.res.error } }, 'cut.pcap');
      const junk = path.join(dir, 'junk.pcap');
      fs.writeFileSync(junk, Buffer.alloc(4096, 0x41));
      await assert.rejects(threaded(junk, 2), (e: unknown) => e instanceof CaptureError && e.offset === 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // Connection records only: the ring carries just the headers the tracker reads.
  for (const rel of ['zeek/tunnels/ayiya3.pcap', 'zeek/tunnels/vxlan.pcap', 'zeek/ipv6-fragmented-dns.pcap', 'community-id-spec/combined.pcap']) {
    it(`corpus ${rel}, 2 threads, no analyzers`, async function () {
      requireCorpus(this);
      const file = corpusPath(rel);
      assertSame(await oneThread(file, false), await threaded(file, 2, undefined, false), rel);
    });
  }
  it('samples/pod-traffic.pcap, 2 threads, no analyzers', async () => {
    const file = path.join(SAMPLES, 'pod-traffic.pcap');
    assertSame(await oneThread(file, false), await threaded(file, 2, undefined, false), 'pod-traffic');
  });

  for (const rel of CORPUS) {
    it(`corpus ${rel}, 2 threads`, async function () {
      requireCorpus(this);
      const file = corpusPath(rel);
      assertSame(await oneThread(file), await threaded(file, 2), rel);
    });
  }

  it('the command line writes the same bytes with --threads 1 and --threads 2 (records, application logs, alerts, summary)', function () {
    requireCorpus(this);
    for (const file of [path.join(SAMPLES, 'vxlan-overlay.pcap'), path.join(SAMPLES, 'pod-traffic.pcap'), corpusPath('zeek/tunnels/ayiya3.pcap')]) {
      const outs: Record<string, string>[] = [];
      for (const threads of ['1', '2']) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-threads-'));
        try {
          const r = spawnSync(
            process.execPath,
            [BIN, 'analyze', file, '--format', 'ndjson', '--out', 'conn.ndjson', '--alerts', 'alerts.ndjson', '--no-progress', '--threads', threads],
            { cwd: dir, encoding: 'utf8' },
          );
          assert.equal(r.status, 0, r.stderr);
          const files: Record<string, string> = { stdout: r.stdout, stderr: r.stderr };
          for (const f of fs.readdirSync(dir)) files[f] = fs.readFileSync(path.join(dir, f), 'latin1');
          outs.push(files);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
      assert.ok(outs[0]['conn.ndjson'].length > 0, file);
      assert.deepEqual(Object.keys(outs[1]).sort(), Object.keys(outs[0]).sort(), `${file}: files written`);
      for (const k of Object.keys(outs[0])) assert.equal(outs[1][k], outs[0][k], `${file}: ${k}`);
    }
  });
});

describe('analyze --threads: the hand-off', () => {
  it('the ring carries every field of a FlowLayer', () => {
    const fields = Object.keys(new FlowLayer()).filter((k) => k !== 'buf');
    assert.deepEqual([...CARRIED_FIELDS].sort(), fields.sort());
  });

  it('a layer comes out of the ring as it went in, offsets rebased on the bytes carried', () => {
    const ring = newRing(1 << 16);
    const w = new RingWriter(ring);
    const r = new RingReader(ring);
    const l = new FlowLayer();
    const rec = l as unknown as Record<string, number | boolean>;
    const offsets = ['srcMacOff', 'dstMacOff', 'ipOff', 'srcOff', 'dstOff', 'l4Off', 'payloadOff'];
    CARRIED_FIELDS.forEach((f, i) => {
      if (typeof rec[f] === 'boolean') rec[f] = i % 2 === 0;
      else rec[f] = offsets.includes(f) ? 100 + i : f === 'seq' || f === 'tunnelId' ? 0xfffffff0 - i : i + 1;
    });
    l.ipVersion = 6;
    l.buf = Buffer.alloc(300, 7);
    l.buf[100] = 42;
    w.packet(12, 1768471200, 5, l, 1, 2, 'CabcDEF123', 100, 250);
    w.publish();
    const out = new FlowLayer();
    assert.ok(r.next(out));
    assert.deepEqual([r.kind, r.g, r.tsSec, r.tsNsec, r.layer, r.innerTunnel, r.parent], [ENTRY_PACKET, 12, 1768471200, 5, 1, 2, 'CabcDEF123']);
    const back = out as unknown as Record<string, number | boolean>;
    for (const f of CARRIED_FIELDS) assert.equal(back[f], offsets.includes(f) ? (rec[f] as number) - 100 : rec[f], f);
    assert.equal(out.buf.length, 150);
    assert.equal(out.buf[0], 42);
    assert.equal(r.next(out), false);
  });

  it('both directions of a connection go to one shard, and shards are all used', () => {
    const l = new FlowLayer();
    l.buf = Buffer.alloc(64);
    l.addrLen = 4;
    l.srcOff = 0;
    l.dstOff = 4;
    l.proto = 6;
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      l.buf.writeUInt32BE((0x0af40100 + i) >>> 0, 0);
      l.buf.writeUInt32BE(0x0af40214, 4);
      l.sport = 40000 + i;
      l.dport = 8080;
      const there = shardOf(l, 4);
      // The reply: addresses and ports swapped.
      l.buf.writeUInt32BE(0x0af40214, 0);
      l.buf.writeUInt32BE((0x0af40100 + i) >>> 0, 4);
      l.sport = 8080;
      l.dport = 40000 + i;
      assert.equal(shardOf(l, 4), there, `connection ${i}`);
      seen.add(there);
    }
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
  });
});
