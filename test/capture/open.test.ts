import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { Readable } from 'node:stream';
import { readCapture, readCaptureStream } from '../../parsers/capture/open';
import { CaptureError } from '../../parsers/capture/types';
import { corpusPath, requireCorpus } from '../util/corpus';
import { collect, pcapRecordOffsets, type PacketRow, rowOf, tmpFile, removeTmpFiles } from './helpers';

const READERS = ['native', 'pcap-parser'] as const;

describe('capture: open (format sniffing, gzip, errors, progress)', () => {
  after(removeTmpFiles);

  it('gzip-compressed pcap and pcapng read like the originals', async function () {
    requireCorpus(this);
    for (const rel of ['zeek/wikipedia.pcap', 'tcpdump/tcp-handshake-nano.pcap', 'zeek/pcapng-multi-interface.pcapng']) {
      const orig = await collect(corpusPath(rel));
      const gz = zlib.gzipSync(fs.readFileSync(corpusPath(rel)));
      const f = tmpFile('c.gz', gz);
      for (const reader of READERS) {
        for (const hwm of [undefined, 13]) {
          const got = await collect(f, { reader, highWaterMark: hwm });
          assert.equal(got.error, undefined);
          assert.deepEqual(got.rows, orig.rows, `${rel} ${reader}`);
          assert.deepEqual(got.summary, { ...orig.summary, compressed: true }, rel);
        }
      }
    }
  });

  it('reads the same packets, summary and truncation fault with and without read-ahead', async function () {
    requireCorpus(this);
    for (const rel of ['zeek/wikipedia.pcap', 'zeek/pcapng-multi-interface.pcapng']) {
      const data = fs.readFileSync(corpusPath(rel));
      // Cut inside the last record: both paths must deliver the same packets before the same fault.
      const cut = tmpFile(`cut-${rel.replace(/\W/g, '_')}`, data.subarray(0, data.length - 7));
      for (const file of [corpusPath(rel), cut]) {
        for (const hwm of [undefined, 13, 4096]) {
          const ahead = await collect(file, { highWaterMark: hwm, readAhead: true });
          const sync = await collect(file, { highWaterMark: hwm, readAhead: false });
          assert.ok(ahead.rows.length > 0, `${file} has packets`);
          assert.deepEqual(sync.rows, ahead.rows, `${file} ${hwm}`);
          assert.deepEqual(sync.summary, ahead.summary, `${file} ${hwm}`);
          assert.equal(sync.error?.offset, ahead.error?.offset, `${file} ${hwm}`);
          assert.equal(sync.error === undefined, file !== cut, `${file} ${hwm}`);
        }
      }
    }
  });

  it('a non-capture file and an empty file are CaptureErrors at offset 0', async () => {
    const text = tmpFile('notes.txt', Buffer.from('hello, this is not a capture\n'));
    const empty = tmpFile('empty.pcap', Buffer.alloc(0));
    const gzText = tmpFile('notes.txt.gz', zlib.gzipSync(Buffer.from('hello')));
    const gzEmpty = tmpFile('empty.gz', zlib.gzipSync(Buffer.alloc(0)));
    for (const reader of READERS) {
      const a = await collect(text, { reader });
      assert.equal(a.error?.offset, 0);
      assert.match(a.error?.message ?? '', /not a pcap or pcapng capture \(magic 0x68656c6c\)/);
      const b = await collect(empty, { reader });
      assert.ok(b.error instanceof CaptureError);
      assert.match(b.error.message, /empty file/);
      const c = await collect(gzText, { reader });
      assert.match(c.error?.message ?? '', /not a pcap or pcapng capture \(magic 0x68656c6c\)/);
      const d = await collect(gzEmpty, { reader });
      assert.match(d.error?.message ?? '', /empty capture/);
    }
    const missing = await collect('/nonexistent/eastwatch.pcap');
    assert.match(missing.error?.message ?? '', /read error: ENOENT/);
  });

  it('gzip cut mid-stream: the packets decompressed so far, then a gzip CaptureError at the next record', async function () {
    requireCorpus(this);
    const rel = 'zeek/ssh/ssh.client-side-half-duplex.pcap';
    const data = fs.readFileSync(corpusPath(rel));
    const offs = pcapRecordOffsets(data);
    const ref = await collect(corpusPath(rel));
    const gz = zlib.gzipSync(data);
    const f = tmpFile('cut.pcap.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    for (const reader of READERS) {
      const got = await collect(f, { reader });
      const n = got.rows.length;
      assert.ok(n > 100 && n < ref.rows.length, `${reader}: ${n} packets`);
      assert.deepEqual(got.rows, ref.rows.slice(0, n));
      assert.ok(got.error);
      assert.match(got.error.message, /gzip data corrupt or truncated: unexpected end of file/);
      assert.equal(got.error.offset, offs[n]);
      assert.equal(got.error.record, n + 1);
    }
  });

  it('gzip with a bad CRC or garbage mid-stream is a CaptureError, never a crash', async function () {
    requireCorpus(this);
    const rel = 'zeek/ssh/ssh.client-side-half-duplex.pcap';
    const data = fs.readFileSync(corpusPath(rel));
    const offs = pcapRecordOffsets(data);
    const ref = await collect(corpusPath(rel));
    const badCrc = zlib.gzipSync(data);
    badCrc[badCrc.length - 8] ^= 0xff;
    const garbage = zlib.gzipSync(data);
    garbage.fill(0xa5, 2000, 2100);
    for (const reader of READERS) {
      const a = await collect(tmpFile('crc.gz', badCrc), { reader });
      // The CRC is checked at the end: what zlib had already flushed was delivered, the rest is refused.
      const n = a.rows.length;
      assert.ok(n > 0 && n < ref.rows.length, `${reader}: ${n}`);
      assert.deepEqual(a.rows, ref.rows.slice(0, n));
      assert.match(a.error?.message ?? '', /gzip data corrupt or truncated: incorrect data check/);
      assert.equal(a.error?.offset, offs[n]);
      assert.equal(a.error?.record, n + 1);
      const b = await collect(tmpFile('garbage.gz', garbage), { reader });
      assert.ok(b.error instanceof CaptureError, reader);
      assert.ok(b.rows.length < ref.rows.length);
    }
  });

  it('onProgress: roughly every 4 MiB and once at the end, with compressed bytes read', async function () {
    requireCorpus(this);
    // ~9.6 MiB synthetic pcap: wikipedia's records repeated.
    const src = fs.readFileSync(corpusPath('zeek/wikipedia.pcap'));
    const records = src.subarray(24);
    const copies = 370;
    const big = Buffer.concat([src.subarray(0, 24), ...Array.from({ length: copies }, () => records)]);
    const plain = tmpFile('big.pcap', big);
    const gz = zlib.gzipSync(big);
    const packed = tmpFile('big.pcap.gz', gz);
    for (const [f, fileSize] of [
      [plain, big.length],
      [packed, gz.length],
    ] as const) {
      for (const reader of READERS) {
        const calls: [number, number][] = [];
        let packets = 0;
        const got = await collect(f, { reader, onProgress: (c, r) => calls.push([c, r]) });
        packets = got.summary?.packets ?? -1;
        assert.equal(packets, 136 * copies);
        assert.ok(calls.length >= 3 && calls.length <= 4, `${reader}: ${calls.length} calls`);
        assert.deepEqual(calls[calls.length - 1], [big.length, fileSize]);
        for (let i = 1; i < calls.length; i++) assert.ok(calls[i][0] >= calls[i - 1][0] && calls[i][1] >= calls[i - 1][1]);
        assert.ok(calls[0][0] >= 4 << 20 && calls[0][0] < 6 << 20, `first call at ${calls[0][0]}`);
      }
    }
  });

  it('readCaptureStream reads any byte stream (upload), including tiny and odd-sized chunks', async function () {
    requireCorpus(this);
    const data = fs.readFileSync(corpusPath('zeek/pcapng-multi-interface.pcapng'));
    const ref = await collect(corpusPath('zeek/pcapng-multi-interface.pcapng'));
    const pieces: Buffer[] = [];
    for (let i = 0, step = 1; i < data.length; i += step, step = (step % 37) + 1) pieces.push(data.subarray(i, i + step));
    const rows: PacketRow[] = [];
    const summary = await readCaptureStream(Readable.from(pieces), 'upload.pcapng', (p) => rows.push(rowOf(p)), {
      totalBytes: data.length,
    });
    assert.deepEqual(rows, ref.rows);
    assert.equal(summary.bytes, data.length);
    await assert.rejects(
      readCaptureStream(Readable.from([Buffer.from('GET / HTTP/1.1\r\n')]), 'upload.bin', () => {}),
      (e: unknown) => e instanceof CaptureError && e.file === 'upload.bin' && /magic 0x47455420/.test(e.message),
    );
  });

  it('an exception thrown by the packet callback rejects the read (not swallowed)', async function () {
    requireCorpus(this);
    for (const reader of READERS) {
      let seen = 0;
      const fail = (): void => {
        if (++seen === 5) throw new RangeError('consumer failed');
      };
      await assert.rejects(readCapture(corpusPath('zeek/wikipedia.pcap'), fail, { reader }), /consumer failed/);
      assert.equal(seen, 5);
    }
  });
});
