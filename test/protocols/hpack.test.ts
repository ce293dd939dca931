import { strict as assert } from 'node:assert';
import { canonicalCode, HUFFMAN_LENGTHS, STATIC_TABLE } from '../../parsers/protocols/hpack-tables';
import { HpackDecoder, HpackError, huffmanDecode } from '../../parsers/protocols/hpack';
import { rng } from './helpers';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
type Pair = [string, string];

function decode(d: HpackDecoder, block: Buffer): Pair[] {
  const out: Pair[] = [];
  d.decode(block, 0, block.length, (n, v) => out.push([n, v]));
  return out;
}
const table = (d: HpackDecoder): Pair[] => d.table.entries().map((e) => [e.name, e.value]);
const hpackError =
  (code: string) =>
  (e: unknown): boolean =>
    e instanceof HpackError && e.code === code;

// RFC 7541 Appendix C: each step decoded by the same decoder, with the dynamic table (newest
// first) and its size as the RFC prints them after that step.
interface Step {
  id: string;
  block: string;
  fields: Pair[];
  table: Pair[];
  size: number;
}

const REQ1: Pair[] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const REQ2: Pair[] = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: Pair[] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const REQ_TABLES: Pair[][] = [
  [[':authority', 'www.example.com']],
  [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
  [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
];
const RESP1: Pair[] = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
  ['location', 'https://www.example.com'],
];
const RESP2: Pair[] = [[':status', '307'], ...RESP1.slice(1)];
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESP3: Pair[] = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
  ['location', 'https://www.example.com'],
  ['content-encoding', 'gzip'],
  ['set-cookie', COOKIE],
];
const RESP_TABLES: Pair[][] = [
  [
    ['location', 'https://www.example.com'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['cache-control', 'private'],
    [':status', '302'],
  ],
  [
    [':status', '307'],
    ['location', 'https://www.example.com'],
    ['date', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['cache-control', 'private'],
  ],
  [
    ['set-cookie', COOKIE],
    ['content-encoding', 'gzip'],
    ['date', 'Mon, 21 Oct 2013 20:13:22 GMT'],
  ],
];

const C3: Step[] = [
  { id: 'C.3.1', block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', fields: REQ1, table: REQ_TABLES[0], size: 57 },
  { id: 'C.3.2', block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: REQ2, table: REQ_TABLES[1], size: 110 },
  { id: 'C.3.3', block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65', fields: REQ3, table: REQ_TABLES[2], size: 164 },
];
const C4: Step[] = [
  { id: 'C.4.1', block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', fields: REQ1, table: REQ_TABLES[0], size: 57 },
  { id: 'C.4.2', block: '8286 84be 5886 a8eb 1064 9cbf', fields: REQ2, table: REQ_TABLES[1], size: 110 },
  { id: 'C.4.3', block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', fields: REQ3, table: REQ_TABLES[2], size: 164 },
];
const C5: Step[] = [
  {
    id: 'C.5.1',
    block:
      '4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
    fields: RESP1,
    table: RESP_TABLES[0],
    size: 222,
  },
  { id: 'C.5.2', block: '4803 3330 37c1 c0bf', fields: RESP2, table: RESP_TABLES[1], size: 222 },
  {
    id: 'C.5.3',
    block:
      '88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31',
    fields: RESP3,
    table: RESP_TABLES[2],
    size: 215,
  },
];
const C6: Step[] = [
  {
    id: 'C.6.1',
    block: '4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3',
    fields: RESP1,
    table: RESP_TABLES[0],
    size: 222,
  },
  { id: 'C.6.2', block: '4883 640e ffc1 c0bf', fields: RESP2, table: RESP_TABLES[1], size: 222 },
  {
    id: 'C.6.3',
    block:
      '88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    fields: RESP3,
    table: RESP_TABLES[2],
    size: 215,
  },
];

function runSeries(steps: Step[], maxTableSize: number): void {
  const d = new HpackDecoder({ maxTableSize });
  for (const s of steps) {
    assert.deepEqual(decode(d, hex(s.block)), s.fields, s.id);
    assert.deepEqual(table(d), s.table, `${s.id} table`);
    assert.equal(d.table.size, s.size, `${s.id} size`);
  }
}

describe('protocols/hpack (RFC 7541)', () => {
  it('derives the Appendix B Huffman codes from the lengths: a complete prefix code with the printed values', () => {
    const kraft = HUFFMAN_LENGTHS.reduce((s, l) => s + 2 ** -l, 0);
    assert.equal(HUFFMAN_LENGTHS.length, 257);
    assert.equal(kraft, 1);
    const { codes } = canonicalCode(HUFFMAN_LENGTHS);
    // Values printed in Appendix B, across every length range.
    const printed: [number, number][] = [
      [0, 0x1ff8],
      [1, 0x7fffd8],
      [9, 0xffffea],
      [10, 0x3ffffffc],
      [22, 0x3ffffffe],
      [32, 0x14],
      [48, 0x0],
      [58, 0x5c],
      [60, 0x7ffc],
      [92, 0x7fff0],
      [94, 0x3ffc],
      [97, 0x3],
      [122, 0x7b],
      [127, 0xffffffc],
      [128, 0xfffe6],
      [153, 0x1fffdc],
      [199, 0x1ffffec],
      [203, 0x7ffffde],
      [220, 0xffffffd],
      [249, 0xffffffe],
      [255, 0x3ffffee],
      [256, 0x3fffffff],
    ];
    for (const [sym, code] of printed) assert.equal(codes[sym], code, `symbol ${sym}`);
    assert.equal(STATIC_TABLE.length, 61);
    assert.deepEqual(STATIC_TABLE[60], ['www-authenticate', '']);
  });

  it('decodes the Huffman strings of Appendix C', () => {
    const cases: [string, string][] = [
      ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
      ['a8eb 1064 9cbf', 'no-cache'],
      ['25a8 49e9 5ba9 7d7f', 'custom-key'],
      ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
      ['6402', '302'],
      ['aec3 771a 4b', 'private'],
      ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
      ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
      ['9bd9 ab', 'gzip'],
    ];
    for (const [h, want] of cases) {
      const b = hex(h);
      assert.equal(huffmanDecode(b, 0, b.length), want);
    }
  });

  it('C.2: the four representations, each on a fresh decoder, with the table after', () => {
    const c21 = new HpackDecoder();
    assert.deepEqual(decode(c21, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [['custom-key', 'custom-header']]);
    assert.deepEqual(table(c21), [['custom-key', 'custom-header']]);
    assert.equal(c21.table.size, 55);
    const c22 = new HpackDecoder();
    assert.deepEqual(decode(c22, hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
    assert.equal(c22.table.length, 0);
    const c23 = new HpackDecoder();
    assert.deepEqual(decode(c23, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [['password', 'secret']]);
    assert.equal(c23.table.length, 0);
    const c24 = new HpackDecoder();
    assert.deepEqual(decode(c24, hex('82')), [[':method', 'GET']]);
    assert.equal(c24.table.length, 0);
  });

  it('C.3: requests without Huffman on one connection', () => runSeries(C3, 4096));
  it('C.4: requests with Huffman on one connection', () => runSeries(C4, 4096));
  it('C.5: responses without Huffman, 256-byte table: eviction', () => runSeries(C5, 256));
  it('C.6: responses with Huffman, 256-byte table: eviction', () => runSeries(C6, 256));

  it('applies dynamic table size updates at the start of a block and evicts to fit', () => {
    const d = new HpackDecoder();
    runSeriesOn(d, C3);
    // 0x3f 0xe1 0x01 = size update to 31 + 0x61 + 0x80 = 256: the 164 bytes fit, nothing evicted;
    // index 64 is then still the oldest entry.
    assert.deepEqual(decode(d, hex('3fe101 c0')), [[':authority', 'www.example.com']]);
    assert.equal(d.table.maxSize, 256);
    assert.equal(d.table.length, 3);
    // Size update to 100 evicts the two oldest (57 + 53) to keep 54.
    decode(d, Buffer.from([0x3f, 100 - 31]));
    assert.deepEqual(table(d), [['custom-key', 'custom-value']]);
    assert.equal(d.table.size, 54);
    // To 0: empty.
    decode(d, Buffer.from([0x20]));
    assert.equal(d.table.length, 0);
    assert.equal(d.table.size, 0);
  });

  it('an entry larger than the table empties it and is not added', () => {
    const d = new HpackDecoder({ maxTableSize: 256 });
    runSeriesOn(d, C5.slice(0, 1));
    const big = Buffer.concat([Buffer.from([0x40, 0x01, 0x78, 0x7f, 250 - 127]), Buffer.alloc(250, 0x61)]);
    assert.deepEqual(decode(d, big), [['x', 'a'.repeat(250)]]);
    assert.equal(d.table.length, 0);
    assert.equal(d.table.size, 0);
  });

  it('rejects malformed blocks with a code saying what is wrong', () => {
    const cases: [string, string][] = [
      ['80', 'hpack-index'], // index 0
      ['be', 'hpack-index'], // dynamic index 62 in an empty table
      ['3fe120', 'hpack-size-update'], // size update to 31 + 0x61 + 0x20 * 128 = 4224, above 4096
      ['82 3f e1 01', 'hpack-size-update'], // size update after a field
      ['400a 6375 7374', 'hpack-truncated'], // name runs past the end
      ['40', 'hpack-truncated'],
      ['ff ff ff ff ff ff 0f', 'hpack-integer'],
      ['0081 ff', 'hpack-huffman-padding'], // 8 bits of padding
      ['0081 00', 'hpack-huffman-padding'], // '0' (00000) then padding 000, not EOS bits
      ['0084 ff ff ff ff', 'hpack-huffman-eos'], // 30 one bits: EOS
    ];
    for (const [h, code] of cases) {
      const d = new HpackDecoder();
      assert.throws(() => decode(d, hex(h)), hpackError(code), `${h} -> ${code}`);
    }
  });

  it('only ever fails with an HpackError on random and mutated blocks, and keeps the table within its bound', () => {
    const r = rng(41);
    const seeds = [...C3, ...C4, ...C5, ...C6].map((x) => hex(x.block));
    for (let i = 0; i < 3000; i++) {
      const d = new HpackDecoder({ maxTableSize: 256 });
      let b: Buffer;
      if (i % 2 === 0) b = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
      else {
        b = Buffer.from(seeds[i % seeds.length]);
        for (let k = 0; k < 3; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      }
      try {
        decode(d, b);
      } catch (e) {
        assert.ok(e instanceof HpackError, String(e));
      }
      assert.ok(d.table.size <= d.table.maxSize && d.table.maxSize <= 256);
    }
  });

  it('bounds the decoded header list', () => {
    const d = new HpackDecoder({ maxHeaderListSize: 100 });
    assert.throws(() => decode(d, hex('82'.repeat(3))), hpackError('hpack-list-size'));
  });
});

function runSeriesOn(d: HpackDecoder, steps: Step[]): void {
  for (const s of steps) decode(d, hex(s.block));
}
