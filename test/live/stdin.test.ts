/**
 * `eastwatch analyze -`: a capture read from standard input as it arrives gives exactly the
 * records of the same capture read as a file (through cat, gzip and tcpdump -w -), and each record
 * leaves the pipeline while the stream is still open, not at its end. Also the parsing of
 * tcpdump's statistics, which `eastwatch capture` reports as kernel drops.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { analyzeFile, analyzeStream } from '../../src/analyze/pipeline';
import { explainTcpdumpError, parseTcpdumpStats } from '../../src/capture/tcpdump';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'eastwatch.js');

function analyzeCli(args: string[], input?: Buffer): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'analyze', '-f', 'ndjson', '--no-summary', ...args], {
    input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const CAPTURES = [
  'zeek/wikipedia.pcap',
  'zeek/pop3/pop3.pcap',
  'zeek/http/http-post-large.pcap',
  'zeek/irc-dcc-send.pcapng',
  'zeek/portmapper-many-unanswered-calls.pcapng',
];

describe('analyze - (capture on standard input)', () => {
  for (const rel of CAPTURES) {
    it(`gives the records of the file for ${rel}, piped by cat`, function () {
      requireCorpus(this);
      const file = corpusPath(rel);
      const fromFile = analyzeCli([file]);
      assert.equal(fromFile.code, 0, fromFile.stderr);
      const fromStdin = analyzeCli(['-'], fs.readFileSync(file));
      assert.equal(fromStdin.code, 0, fromStdin.stderr);
      assert.ok(fromFile.stdout.length > 0);
      // Same records in the same order: the stream is read the way the file is.
      assert.equal(fromStdin.stdout, fromFile.stdout);
    });
  }

  it('gives the records of the file when tcpdump -r FILE -w - feeds it, and when it is gzipped', function () {
    requireCorpus(this);
    const file = corpusPath('zeek/wikipedia.pcap');
    const td = spawnSync('tcpdump', ['-r', file, '-w', '-'], { maxBuffer: 256 * 1024 * 1024 });
    if (td.error) {
      if (process.env.CI === 'true') throw td.error;
      this.skip();
    }
    assert.equal(td.status, 0, String(td.stderr));
    const fromFile = analyzeCli([file]);
    const viaTcpdump = analyzeCli(['-'], td.stdout);
    assert.equal(viaTcpdump.code, 0, viaTcpdump.stderr);
    assert.equal(viaTcpdump.stdout, fromFile.stdout);
    const gz = spawnSync('gzip', ['-c', file], { maxBuffer: 256 * 1024 * 1024 });
    const viaGzip = analyzeCli(['-'], gz.stdout);
    assert.equal(viaGzip.code, 0, viaGzip.stderr);
    assert.equal(viaGzip.stdout, fromFile.stdout);
  });

  it('reports an empty or corrupt stream on stdin with exit 1, keeping the records before the fault', function () {
    requireCorpus(this);
    let r = analyzeCli(['-'], Buffer.alloc(0));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /-: empty file/);
    const whole = fs.readFileSync(corpusPath('zeek/wikipedia.pcap'));
    const cut = whole.subarray(0, Math.floor(whole.length / 2));
    r = analyzeCli(['-'], cut);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /-: file ends inside packet record \d+/);
    assert.ok(r.stdout.split('\n').filter(Boolean).length > 0, 'records before the fault are written');
    r = analyzeCli(['-', '-'], whole);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /standard input \(-\) can be read only once/);
  });

  it('emits records while the stream is still open, as their connections end', async function () {
    requireCorpus(this);
    const file = corpusPath('zeek/pop3/pop3.pcap');
    const bytes = fs.readFileSync(file);
    const expected: ConnRecord[] = [];
    await analyzeFile(file, (r) => expected.push(r));
    const got: ConnRecord[] = [];
    const seenBeforeLastChunk: number[] = [];
    const CHUNK = 1024;
    async function* trickle(): AsyncGenerator<Buffer> {
      for (let off = 0; off < bytes.length; off += CHUNK) {
        seenBeforeLastChunk.push(got.length);
        // Hand over one chunk at a time, as a pipe would: the reader cannot look ahead.
        await new Promise((r) => setImmediate(r));
        yield bytes.subarray(off, Math.min(bytes.length, off + CHUNK));
      }
    }
    const res = await analyzeStream(Readable.from(trickle()), '-', (r) => got.push(r));
    assert.equal(res.error, null);
    assert.deepEqual(
      got.map((r) => r.uid),
      expected.map((r) => r.uid),
    );
    const beforeEnd = seenBeforeLastChunk[seenBeforeLastChunk.length - 1];
    // pop3.pcap spans 151 s: its rejected and closed connections end while later packets still come.
    assert.ok(beforeEnd > 0, `${beforeEnd} of ${expected.length} records were out before the stream ended`);
    assert.ok(beforeEnd < expected.length);
  });
});

describe('tcpdump statistics and errors', () => {
  it('parses the exit statistics, and the latest SIGUSR1 report', () => {
    const exit =
      'tcpdump: listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n4 packets captured\n8 packets received by filter\n1 packet dropped by kernel\n';
    assert.deepEqual(parseTcpdumpStats(exit), { captured: 4, receivedByFilter: 8, droppedByKernel: 1, droppedByInterface: null });
    const usr1 =
      'tcpdump: listening on vA\ntcpdump: 12 packets captured, 24 packets received by filter, 0 packets dropped by kernel\n' +
      'tcpdump: 15 packets captured, 30 packets received by filter, 2 packets dropped by kernel, 3 packets dropped by interface\n';
    assert.deepEqual(parseTcpdumpStats(usr1), { captured: 15, receivedByFilter: 30, droppedByKernel: 2, droppedByInterface: 3 });
    assert.equal(parseTcpdumpStats('tcpdump: nosuch: No such device exists\n'), null);
  });

  it('says what to do about missing permission, a missing interface and a refused filter', () => {
    const o = { interface: 'eth9', tcpdump: '/usr/bin/tcpdump' };
    assert.match(
      explainTcpdumpError("tcpdump: eth9: You don't have permission to perform this capture on that device\n(socket: Operation not permitted)\n", o) ?? '',
      /may not capture on eth9 .*setcap cap_net_raw,cap_net_admin=eip \/usr\/bin\/tcpdump/,
    );
    assert.match(explainTcpdumpError('tcpdump: eth9: No such device exists\n(No such device exists)\n', o) ?? '', /no interface named eth9/);
    assert.match(
      explainTcpdumpError("tcpdump: unknown port 'nonsense'\n", { ...o, filter: 'port nonsense' }) ?? '',
      /rejected the filter "port nonsense": unknown port 'nonsense'/,
    );
  });
});
