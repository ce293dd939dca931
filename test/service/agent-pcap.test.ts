/**
 * The service's cut of an agent's pcap at its byte bound (src/service/agent-pcap.ts PcapCutter):
 * whole packets only, whatever the chunking, in either byte order; a non-pcap is refused. The
 * fetch itself is tested end to end against a live agent in test/live/netns.test.ts.
 */
import { strict as assert } from 'node:assert';
import { PcapCutter } from '../../src/service/agent-pcap';

function pcap(le: boolean, sizes: number[]): Buffer {
  const h = Buffer.alloc(24);
  if (le) h.writeUInt32LE(0xa1b23c4d, 0);
  else h.writeUInt32BE(0xa1b23c4d, 0);
  const recs = sizes.map((n, i) => {
    const b = Buffer.alloc(16 + n, i + 1);
    if (le) b.writeUInt32LE(n, 8);
    else b.writeUInt32BE(n, 8);
    return b;
  });
  return Buffer.concat([h, ...recs]);
}

describe('agent pcap cut at the byte bound', () => {
  for (const le of [true, false]) {
    it(`keeps whole packets within the bound, chunked any way (${le ? 'little' : 'big'}-endian)`, () => {
      const sizes = [60, 1514, 9000, 40, 300];
      const all = pcap(le, sizes);
      const upTo = (k: number): number => 24 + sizes.slice(0, k).reduce((s, n) => s + 16 + n, 0);
      for (const chunk of [7, 100, 4096, all.length]) {
        for (const k of [0, 1, 3, 5]) {
          const c = new PcapCutter(k === 5 ? all.length : upTo(k) + 10);
          const parts: Buffer[] = [];
          for (let i = 0; i < all.length && !c.full; i += chunk) parts.push(c.take(all.subarray(i, i + chunk)));
          const got = Buffer.concat(parts);
          assert.deepEqual(got, all.subarray(0, upTo(k)), `chunk ${chunk}, ${k} packets`);
          assert.equal(c.packets, k);
          assert.equal(c.full, k < 5);
          if (k === 5) assert.ok(c.whole);
        }
      }
    });
  }

  it('refuses an answer that is not a pcap', () => {
    assert.throws(() => new PcapCutter(1e6).take(Buffer.from('<html>not found</html>  padding')), /not a pcap/);
  });
});
