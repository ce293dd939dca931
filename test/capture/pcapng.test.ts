import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { PcapngParser, makeInterface, unitsToTime } from '../../parsers/capture/pcapng';
import { CaptureError } from '../../parsers/capture/types';
import { corpusPath, requireCorpus } from '../util/corpus';
import { collect, epochString, type PacketRow, PcapngWriter, readTsv, removeTmpFiles, rowOf, tmpFile } from './helpers';

/** tshark rows that are packets (tshark 4.0 also lists custom blocks as "data" frames without an interface). */
function tsharkPackets(file: string): Record<string, string>[] {
  return readTsv(`${file}.tshark.tsv`).filter((r) => r['frame.interface_id'] !== '');
}

/** Block counts from the generator's inventory ("\tEPB: 6"). */
function inventory(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of fs.readFileSync(`${file}.pcapng-test-generator.txt`, 'utf8').matchAll(/^\t(\w+): (\d+)$/gm)) {
    out[m[1]] = Number(m[2]);
  }
  return out;
}

function split64(v: bigint): [number, number] {
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

function timeOf(tsresol: number, units: bigint, offsetSec = 0): string {
  const out = { tsSec: 0, tsNsec: 0 };
  const [hi, lo] = split64(units);
  unitsToTime(makeInterface(1, 0, tsresol, offsetSec), hi, lo, out);
  return epochString(out);
}

function pushAll(data: Buffer, step: number): { rows: PacketRow[]; error?: CaptureError; parser: PcapngParser } {
  const rows: PacketRow[] = [];
  const parser = new PcapngParser('mem', (p) => rows.push(rowOf(p)));
  try {
    for (let i = 0; i < data.length; i += step) parser.push(data.subarray(i, Math.min(i + step, data.length)));
    parser.end();
    return { rows, parser };
  } catch (e) {
    if (e instanceof CaptureError) return { rows, error: e, parser };
    throw e;
  }
}

const ETH = Buffer.from('ffffffffffff0000000000010800', 'hex');

describe('capture: pcapng', () => {
  after(removeTmpFiles);

  it('pcapng-multi-interface.pcapng: interface ids, ns and µs resolutions against tshark', async function () {
    requireCorpus(this);
    const f = corpusPath('zeek/pcapng-multi-interface.pcapng');
    const tsv = tsharkPackets(f);
    const { rows, summary, error } = await collect(f);
    assert.equal(error, undefined);
    assert.deepEqual(summary, { format: 'pcapng', compressed: false, packets: 6, bytes: 1348, linktypes: [1], skippedBlocks: 0 });
    assert.equal(rows.length, tsv.length);
    rows.forEach((r, i) => {
      assert.equal(epochString(r), tsv[i]['frame.time_epoch'], `#${i + 1}`);
      assert.equal(r.interfaceId, Number(tsv[i]['frame.interface_id']));
      assert.equal(r.section, Number(tsv[i]['frame.section_number']) - 1);
      assert.equal(r.origlen, Number(tsv[i]['frame.len']));
      assert.equal(r.caplen, Number(tsv[i]['frame.cap_len']));
    });
    // Interface 0 has if_tsresol 9: nanoseconds survive exactly.
    assert.equal(epochString(rows[0]), '1767663089.500330493');
    assert.deepEqual(
      rows.map((r) => r.interfaceId),
      [0, 0, 1, 1, 1, 1],
    );
  });

  for (const rel of ['pcapng-test-generator/output_le/difficult/test202.pcapng', 'pcapng-test-generator/output_be/advanced/test102.pcapng']) {
    it(`${rel}: packets, sections, interfaces and skipped blocks match the inventory and tshark`, async function () {
      requireCorpus(this);
      const f = corpusPath(rel);
      const inv = inventory(f);
      const tsv = tsharkPackets(f);
      const { rows, summary, error } = await collect(f);
      assert.equal(error, undefined);
      assert.equal(summary?.packets, inv.EPB + inv.SPB);
      assert.equal(summary?.skippedBlocks, (inv.NRB ?? 0) + (inv.ISB ?? 0) + (inv.CB ?? 0) + (inv.DCB ?? 0));
      assert.deepEqual(summary?.linktypes, [1, 0]);
      assert.equal(rows.length, tsv.length);
      rows.forEach((r, i) => {
        const t = tsv[i];
        // SPBs carry no timestamp: tshark prints none, we report 0.
        assert.equal(t['frame.time_epoch'] === '' ? '0.000000000' : t['frame.time_epoch'], epochString(r), `#${i + 1}`);
        assert.equal(r.section, Number(t['frame.section_number']) - 1, `#${i + 1} section`);
        assert.equal(r.interfaceId, Number(t['frame.interface_id']), `#${i + 1} interface`);
        assert.equal(r.origlen, Number(t['frame.len']));
        assert.equal(r.caplen, Number(t['frame.cap_len']));
        assert.equal(r.linktype, t['frame.protocols'].startsWith('null') ? 0 : 1);
      });
      const sections = new Set(rows.map((r) => r.section));
      assert.equal(sections.size, rel.includes('test202') ? inv.SHB : 1);
      const spbs = rows.filter((r) => r.tsSec === 0);
      assert.equal(spbs.length, inv.SPB);
      // Same packets whatever the chunking (blocks straddling boundaries, byte-order switches mid-chunk).
      const data = fs.readFileSync(f);
      for (const step of [1, 5, 12, 13, 333]) {
        const got = pushAll(data, step);
        assert.equal(got.error, undefined);
        assert.deepEqual(got.rows, rows, `step ${step}`);
        assert.equal(got.parser.skippedBlocks, summary?.skippedBlocks);
      }
    });
  }

  it('timestamps are exact for 10^-9, 10^-6, 10^-12 and 2^-n resolutions and apply if_tsoffset', () => {
    assert.equal(timeOf(9, 1767663089500330493n), '1767663089.500330493');
    assert.equal(timeOf(9, 18446744073709551615n), '18446744073.709551615');
    assert.equal(timeOf(9, 999999999n), '0.999999999');
    assert.equal(timeOf(6, 1300475167096535n), '1300475167.096535000');
    assert.equal(timeOf(6, 1300475167999999n), '1300475167.999999000');
    // The high word is above the exact-double range: long division path.
    assert.equal(timeOf(6, 4294967296n * 3000000n + 999999n), '12884901888.999999000');
    assert.equal(timeOf(0, 1700000000n), '1700000000.000000000');
    assert.equal(timeOf(3, 1700000000123n), '1700000000.123000000');
    assert.equal(timeOf(12, 1700000000123456789123n), '1700000000.123456789');
    // 2^-32: 0x8000_0000 units = half a second; 2^-10: 1 unit = 976562.5 ns, truncated.
    assert.equal(timeOf(0x80 | 32, (1700000000n << 32n) | 0x80000000n), '1700000000.500000000');
    assert.equal(timeOf(0x80 | 10, (1700000000n << 10n) | 1n), '1700000000.000976562');
    assert.equal(timeOf(0x80 | 30, (1n << 30n) - 1n), '0.999999999');
    assert.equal(timeOf(6, 1000000n, 1700000000), '1700000001.000000000');
    assert.equal(timeOf(6, 1700000001000000n, -1), '1700000000.000000000');
  });

  it('generated big-endian pcapng with if_tsresol 2^-20 and if_tsoffset, then EPB + SPB', async () => {
    const w = new PcapngWriter(false);
    w.shb()
      .idb(1, 100, [w.option(9, Buffer.from([0x80 | 20])), w.option(14, w.i64(1000n))])
      .epb(0, (1700000000n << 20n) | (1n << 19n), ETH, 60)
      .spb(Buffer.concat([ETH, Buffer.alloc(200)]), 300);
    const f = tmpFile('gen.pcapng', w.bytes());
    const { rows, summary, error } = await collect(f);
    assert.equal(error, undefined);
    assert.equal(summary?.packets, 2);
    assert.equal(epochString(rows[0]), '1700001000.500000000');
    assert.equal(rows[0].caplen, 14);
    assert.equal(rows[0].origlen, 60);
    // SPB: caplen bounded by the interface snaplen (100), not the padded body.
    assert.equal(rows[1].caplen, 100);
    assert.equal(rows[1].origlen, 300);
    assert.equal(rows[1].tsSec, 0);
  });

  it('obsolete packet block (type 2) and unknown / custom / decryption-secrets blocks', () => {
    const w = new PcapngWriter(true);
    w.shb()
      .block(0x0a, Buffer.alloc(20)) // decryption secrets
      .idb(1, 0)
      .idb(228, 0, [w.option(9, Buffer.from([3]))])
      .block(0xbad, Buffer.alloc(8)) // custom block
      .block(0x12345678, Buffer.alloc(4)) // unknown type
      .opb(1, 1700000000123n, Buffer.from('4500', 'hex'), 40)
      .block(0x40000bad, Buffer.alloc(0));
    const got = pushAll(w.bytes(), 7);
    assert.equal(got.error, undefined);
    assert.equal(got.rows.length, 1);
    assert.equal(epochString(got.rows[0]), '1700000000.123000000');
    assert.deepEqual([got.rows[0].interfaceId, got.rows[0].linktype, got.rows[0].caplen, got.rows[0].origlen], [1, 228, 2, 40]);
    assert.equal(got.parser.skippedBlocks, 4);
    assert.equal(got.parser.blocks, 8);
  });

  it('SPB without snaplen: caplen is min(original length, body), padding excluded', () => {
    const w = new PcapngWriter(true);
    w.shb()
      .idb(1, 0)
      .spb(Buffer.concat([ETH, Buffer.from([1, 2, 3])]));
    const got = pushAll(w.bytes(), 4096);
    assert.equal(got.error, undefined);
    assert.equal(got.rows[0].caplen, 17);
    assert.equal(got.rows[0].origlen, 17);
  });

  it('interface ids restart in every section; an EPB on an undefined interface is a CaptureError', async () => {
    const w = new PcapngWriter(true);
    w.shb().idb(1, 0).idb(101, 0).epb(1, 1n, ETH);
    const w2 = new PcapngWriter(false);
    w2.shb().idb(0, 0).epb(0, 2n, ETH).epb(1, 3n, ETH);
    const data = Buffer.concat([w.bytes(), w2.bytes()]);
    const f = tmpFile('sections.pcapng', data);
    const { rows, error } = await collect(f);
    assert.deepEqual(
      rows.map((r) => [r.section, r.interfaceId, r.linktype]),
      [
        [0, 1, 101],
        [1, 0, 0],
      ],
    );
    assert.ok(error);
    // Blocks: SHB IDB IDB EPB | SHB IDB EPB EPB -> the 8th block fails.
    assert.equal(error.record, 8);
    assert.equal(error.offset, data.length - (12 + 20 + 16));
    assert.match(error.message, /interface 1, but section 1 defines 1 interface/);
  });

  it('bad block lengths are reported at the faulty block with every earlier packet delivered', async function () {
    requireCorpus(this);
    const orig = fs.readFileSync(corpusPath('zeek/pcapng-multi-interface.pcapng'));
    const ref = await collect(corpusPath('zeek/pcapng-multi-interface.pcapng'));
    const at = ref.rows[2].fileOffset; // third packet's EPB
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['not a multiple of 4', (b) => b.writeUInt32LE(b.readUInt32LE(at + 4) + 2, at + 4), /bad block length \d+ \(must be a multiple of 4/],
      ['below 12', (b) => b.writeUInt32LE(8, at + 4), /bad block length 8/],
      ['trailer mismatch', (b) => b.writeUInt32LE(4, at + b.readUInt32LE(at + 4) - 4), /trailing block length 4 does not match leading length/],
      ['huge', (b) => b.writeUInt32LE(0xfffffff0, at + 4), /exceeds the limit/],
    ];
    for (const [what, corrupt, re] of cases) {
      const data = Buffer.from(orig);
      corrupt(data);
      const f = tmpFile('bad.pcapng', data);
      for (const hwm of [undefined, 10]) {
        const got = await collect(f, { highWaterMark: hwm });
        assert.deepEqual(got.rows, ref.rows.slice(0, 2), what);
        assert.ok(got.error, what);
        assert.equal(got.error.offset, at, what);
        assert.match(got.error.message, re);
      }
    }
    // Truncated inside the last block.
    const f = tmpFile('trunc.pcapng', orig.subarray(0, orig.length - 7));
    const got = await collect(f);
    assert.deepEqual(got.rows, ref.rows.slice(0, 5));
    assert.equal(got.error?.offset, ref.rows[5].fileOffset);
    assert.match(got.error?.message ?? '', /file ends inside block/);
  });
});
