import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PcapParser } from '../../parsers/capture/pcap';
import { CaptureError, type CapturedPacket } from '../../parsers/capture/types';
import { CORPUS_DIR, corpusFiles, corpusPath, requireCorpus } from '../util/corpus';
import { collect, epochString, pcapRecordOffsets, pcapToBigEndian, readTsv, rowOf, type PacketRow, tmpFile, removeTmpFiles } from './helpers';

const READERS = ['native', 'pcap-parser'] as const;

function classicPcaps(): string[] {
  return corpusFiles(/\.pcap$/);
}

/** Feed a whole file to the push parser in pieces of `step` bytes. */
function pushInPieces(data: Buffer, step: number): { rows: PacketRow[]; error?: CaptureError; parser: PcapParser } {
  const rows: PacketRow[] = [];
  const parser = new PcapParser('mem', (p: CapturedPacket) => rows.push(rowOf(p)));
  try {
    for (let i = 0; i < data.length; i += step) parser.push(data.subarray(i, Math.min(i + step, data.length)));
    parser.end();
    return { rows, parser };
  } catch (e) {
    if (e instanceof CaptureError) return { rows, error: e, parser };
    throw e;
  }
}

describe('capture: classic pcap', () => {
  after(removeTmpFiles);

  it('wikipedia.pcap (LE µs): every packet matches the tshark oracle (time, len, cap_len)', async function () {
    requireCorpus(this);
    const f = corpusPath('zeek/wikipedia.pcap');
    const tsv = readTsv(`${f}.tshark.tsv`);
    assert.equal(tsv.length, 136);
    for (const reader of READERS) {
      const { rows, summary, error } = await collect(f, { reader });
      assert.equal(error, undefined);
      assert.deepEqual(summary, {
        format: 'pcap',
        compressed: false,
        packets: 136,
        bytes: 27460,
        linktypes: [1],
        skippedBlocks: 0,
      });
      assert.equal(epochString(rows[0]), '1300475167.096535000');
      assert.equal(rows[0].caplen, 87);
      assert.equal(epochString(rows[135]), '1300475173.475401000');
      assert.equal(rows[135].origlen, 92);
      rows.forEach((r, i) => {
        assert.equal(epochString(r), tsv[i]['frame.time_epoch'], `${reader} packet ${i + 1} time`);
        assert.equal(r.origlen, Number(tsv[i]['frame.len']));
        assert.equal(r.caplen, Number(tsv[i]['frame.cap_len']));
        assert.equal(r.index, i + 1);
        assert.equal(r.linktype, 1);
      });
      assert.equal(rows[0].fileOffset, 24);
      assert.equal(rows[1].fileOffset, 24 + 16 + 87);
    }
  });

  it('tcp-handshake-nano.pcap (LE ns): exact nanosecond timestamps as printed by tcpdump --nano', async function () {
    requireCorpus(this);
    const f = corpusPath('tcpdump/tcp-handshake-nano.pcap');
    const expected = fs
      .readFileSync(`${f}.tcpdump.txt`, 'utf8')
      .split('\n')
      .filter((l) => /^\d+\.\d{9} /.test(l))
      .map((l) => l.split(' ')[0]);
    assert.deepEqual(expected, ['1418145369.924505488', '1418145370.052027262', '1418145370.052115157']);
    for (const reader of READERS) {
      const { rows, summary } = await collect(f, { reader });
      assert.deepEqual(rows.map(epochString), expected, reader);
      assert.deepEqual(
        rows.map((r) => r.caplen),
        [76, 76, 68],
      );
      assert.deepEqual(summary?.linktypes, [113]);
    }
  });

  it('empty.pcap: a header-only file is valid with 0 packets', async function () {
    requireCorpus(this);
    for (const reader of READERS) {
      const { rows, summary, error } = await collect(corpusPath('zeek/empty.pcap'), { reader });
      assert.equal(error, undefined);
      assert.equal(rows.length, 0);
      assert.equal(summary?.packets, 0);
      assert.equal(summary?.bytes, 24);
    }
  });

  it('both readers agree on every classic pcap of the corpus, and match tshark row by row', async function () {
    requireCorpus(this);
    const files = classicPcaps();
    assert.ok(files.length >= 30, `found ${files.length} pcaps`);
    for (const f of files) {
      const a = await collect(f, { reader: 'native' });
      const b = await collect(f, { reader: 'pcap-parser' });
      const rel = path.relative(CORPUS_DIR, f);
      assert.deepEqual(a.rows, b.rows, rel);
      assert.deepEqual(a.summary, b.summary, rel);
      assert.equal(a.error?.message, b.error?.message, rel);
      const tsv = readTsv(`${f}.tshark.tsv`);
      assert.equal(a.rows.length, tsv.length, `${rel}: packet count`);
      a.rows.forEach((r, i) => {
        assert.equal(epochString(r), tsv[i]['frame.time_epoch'], `${rel} #${i + 1}`);
        assert.equal(r.origlen, Number(tsv[i]['frame.len']), `${rel} #${i + 1}`);
        assert.equal(r.caplen, Number(tsv[i]['frame.cap_len']), `${rel} #${i + 1}`);
      });
    }
  });

  it('corrupt corpus file (4325376-byte caplen): 6 packets, then CaptureError at record 7', async function () {
    requireCorpus(this);
    const f = corpusPath('suricata-verify/bug-1450-04/tls_DER-incomplete-header.pcap');
    for (const reader of READERS) {
      const { rows, error } = await collect(f, { reader });
      assert.equal(rows.length, 6, reader);
      assert.ok(error instanceof CaptureError);
      assert.equal(error.record, 7);
      assert.equal(error.offset, rows[5].fileOffset + 16 + 4274);
      assert.equal(error.offset, 5035);
      assert.equal(error.file, f);
      assert.match(error.message, /4325376 captured bytes, more than the maximum of 262144/);
    }
  });

  it('big-endian µs and big-endian ns files give the same packets as their little-endian originals', async function () {
    requireCorpus(this);
    for (const name of ['zeek/wikipedia.pcap', 'tcpdump/tcp-handshake-nano.pcap']) {
      const le = fs.readFileSync(corpusPath(name));
      const be = pcapToBigEndian(le);
      const magic = be.readUInt32BE(0);
      assert.ok(magic === 0xa1b2c3d4 || magic === 0xa1b23c4d);
      assert.equal(be.subarray(0, 4).toString('hex'), name.includes('nano') ? 'a1b23c4d' : 'a1b2c3d4');
      const f = tmpFile('be.pcap', be);
      const orig = await collect(corpusPath(name));
      for (const reader of READERS) {
        const got = await collect(f, { reader });
        assert.equal(got.error, undefined);
        assert.deepEqual(got.rows, orig.rows, `${name} ${reader}`);
      }
    }
  });

  it('tcpdump/pptp.pcap (a real big-endian file) matches its tcpdump -tttt oracle', async function () {
    requireCorpus(this);
    const f = corpusPath('tcpdump/pptp.pcap');
    assert.equal(fs.readFileSync(f).subarray(0, 4).toString('hex'), 'a1b2c3d4');
    // tcpdump's test suite prints -tttt in UTC: "    1  2000-03-27 08:56:35.148077 IP ..."
    const expected = fs
      .readFileSync(`${f}.tcpdump-test.pptp.out`, 'utf8')
      .split('\n')
      .map((l) => /^\s*\d+\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)\.(\d{6}) /.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${Date.parse(`${m[1]}T${m[2]}Z`) / 1000}.${m[3]}000`);
    assert.equal(expected.length, 23);
    for (const reader of READERS) {
      const { rows } = await collect(f, { reader });
      assert.deepEqual(rows.map(epochString), expected, reader);
    }
  });

  it('records straddling chunk boundaries give identical packets (read chunks of 1..4096 bytes)', async function () {
    requireCorpus(this);
    const f = corpusPath('zeek/wikipedia.pcap');
    const ref = await collect(f);
    for (const hwm of [1, 7, 16, 17, 100, 1500, 4096]) {
      const got = await collect(f, { highWaterMark: hwm });
      assert.deepEqual(got.rows, ref.rows, `highWaterMark ${hwm}`);
      assert.deepEqual(got.summary, ref.summary);
    }
    const data = fs.readFileSync(f);
    for (const step of [1, 3, 24, 25]) {
      const got = pushInPieces(data, step);
      assert.equal(got.error, undefined);
      assert.deepEqual(got.rows, ref.rows, `push() step ${step}`);
    }
  });

  it('a record inside one chunk is a view into that chunk (no copy)', function () {
    requireCorpus(this);
    const data = fs.readFileSync(corpusPath('zeek/wikipedia.pcap'));
    let sameBuffer = 0;
    const parser = new PcapParser('mem', (p) => {
      if (p.buf === data && p.offset === p.fileOffset + 16) sameBuffer++;
    });
    parser.push(data);
    parser.end();
    assert.equal(sameBuffer, 136);
  });

  it('truncated in the middle of a record: all earlier packets, then CaptureError with its offset and number', async function () {
    requireCorpus(this);
    const data = fs.readFileSync(corpusPath('zeek/wikipedia.pcap'));
    const offs = pcapRecordOffsets(data);
    const ref = await collect(corpusPath('zeek/wikipedia.pcap'));
    for (const cut of [offs[49] + 5, offs[49] + 16 + 3, offs[135] + 20]) {
      const f = tmpFile('trunc.pcap', data.subarray(0, cut));
      const rec = cut > offs[135] ? 136 : 50;
      for (const reader of READERS) {
        for (const hwm of [undefined, 64]) {
          const got = await collect(f, { reader, highWaterMark: hwm });
          assert.deepEqual(got.rows, ref.rows.slice(0, rec - 1), `${reader} cut ${cut}`);
          assert.ok(got.error);
          assert.equal(got.error.offset, offs[rec - 1]);
          assert.equal(got.error.record, rec);
          assert.match(got.error.message, new RegExp(`file ends inside packet record ${rec} at offset ${offs[rec - 1]}`));
        }
      }
    }
    // Cut inside the 24-byte file header.
    const f = tmpFile('hdr.pcap', data.subarray(0, 10));
    for (const reader of READERS) {
      const got = await collect(f, { reader });
      assert.equal(got.error?.offset, 0);
      assert.match(got.error?.message ?? '', /file ends inside the pcap file header/);
    }
  });

  it('absurd caplen: packets before it, then CaptureError at that record (also with a lower maxPacketBytes)', async function () {
    requireCorpus(this);
    const data = Buffer.from(fs.readFileSync(corpusPath('zeek/wikipedia.pcap')));
    const offs = pcapRecordOffsets(data);
    data.writeUInt32LE(0x7fffffff, offs[9] + 8);
    const f = tmpFile('absurd.pcap', data);
    for (const reader of READERS) {
      const got = await collect(f, { reader });
      assert.equal(got.rows.length, 9);
      assert.equal(got.error?.record, 10);
      assert.equal(got.error?.offset, offs[9]);
      assert.match(got.error?.message ?? '', /2147483647 captured bytes/);
      // The largest wikipedia packet has 665 bytes.
      const small = await collect(corpusPath('zeek/wikipedia.pcap'), { reader, maxPacketBytes: 600 });
      assert.ok(small.error && small.rows.length > 0 && small.rows.every((r) => r.caplen <= 600));
      assert.equal(small.error.record, small.rows.length + 1);
    }
  });

  it('push parser reports the header fields', function () {
    requireCorpus(this);
    const got = pushInPieces(fs.readFileSync(corpusPath('tcpdump/tcp-handshake-nano.pcap')), 5);
    assert.equal(got.parser.nanosecond, true);
    assert.equal(got.parser.littleEndian, true);
    assert.equal(got.parser.linktype, 113);
    assert.equal(got.parser.snaplen, 262144);
    assert.equal(got.parser.versionMajor, 2);
    assert.equal(got.parser.versionMinor, 4);
  });
});
