import * as assert from 'node:assert/strict';
import { CappedMap } from '../../detectors/common';
import { rng } from '../util/rng';

/**
 * The capped map evicts through one iterator kept from one eviction to the next (common.ts). These runs hold
 * it to a plain model of the same contract (insertion order, touch and set make a key the
 * youngest, the oldest go beyond the cap) through the table rebuilds that growth, deletes and
 * clear cause in V8.
 */
describe('detectors: CappedMap', () => {
  class Model {
    keys: string[] = [];
    vals = new Map<string, number>();
    evicted: [string, number][] = [];
    constructor(private readonly cap: number) {}
    private drop(k: string): void {
      const i = this.keys.indexOf(k);
      if (i >= 0) this.keys.splice(i, 1);
    }
    set(k: string, v: number): void {
      this.drop(k);
      this.keys.push(k);
      this.vals.set(k, v);
      while (this.keys.length > this.cap) {
        const o = this.keys.shift()!;
        this.evicted.push([o, this.vals.get(o)!]);
        this.vals.delete(o);
      }
    }
    touch(k: string): number | undefined {
      const v = this.vals.get(k);
      if (v !== undefined) {
        this.drop(k);
        this.keys.push(k);
      }
      return v;
    }
    delete(k: string): boolean {
      this.drop(k);
      return this.vals.delete(k);
    }
    clear(): void {
      this.keys = [];
      this.vals.clear();
    }
  }

  // `again`: the share of operations on the key of the operation before (the youngest, after a set or a touch that found it).
  for (const again of [0, 0.5])
    for (const cap of [0, 1, 7, 64, 500]) {
      it(`evicts oldest first under random set, touch, delete and clear (cap ${cap}, ${again * 100} % on the last key)`, () => {
        const rand = rng(1000 + cap + again * 10);
        const evicted: [string, number][] = [];
        const m = new CappedMap<string, number>(cap, (k, v) => evicted.push([k, v]));
        const model = new Model(cap);
        // Keys from a pool four times the cap, so that sets both add and refresh.
        const pool = Math.max(4, cap * 4 + 3);
        let last = '';
        for (let i = 0; i < 20_000; i++) {
          const k = again > 0 && i > 0 && rand() < again ? last : `10.0.${Math.floor(rand() * pool)}.1|tcp/443`;
          last = k;
          const op = rand();
          if (op < 0.6) {
            const had = model.vals.has(k);
            assert.equal(m.set(k, i), had, `set ${k} at op ${i}`);
            model.set(k, i);
          } else if (op < 0.8) assert.equal(m.touch(k), model.touch(k), `touch ${k} at op ${i}`);
          else if (op < 0.9) assert.equal(m.delete(k), model.delete(k), `delete ${k} at op ${i}`);
          else if (op < 0.9002) {
            m.clear();
            model.clear();
          } else assert.equal(m.get(k), model.vals.get(k), `get ${k} at op ${i}`);
          assert.equal(m.size, model.keys.length, `size at op ${i}`);
        }
        assert.deepEqual(evicted, model.evicted);
        assert.deepEqual(
          [...m.entries()],
          model.keys.map((k) => [k, model.vals.get(k)]),
        );
        // Enough happened for the comparison to mean something.
        if (cap > 0) assert.ok(model.evicted.length > 1000, `${model.evicted.length} evictions`);
      });
    }

  it('keeps evicting in order after the map was emptied by deletes and refilled', () => {
    const evicted: string[] = [];
    const m = new CappedMap<string, number>(3, (k) => evicted.push(k));
    for (const k of ['a', 'b', 'c', 'd']) m.set(k, 0);
    assert.deepEqual(evicted, ['a']);
    for (const k of ['b', 'c', 'd']) m.delete(k);
    assert.equal(m.size, 0);
    for (const k of ['e', 'f', 'g']) m.set(k, 0);
    m.touch('e');
    m.set('h', 0);
    m.set('i', 0);
    assert.deepEqual(evicted, ['a', 'f', 'g']);
    assert.deepEqual([...m.map.keys()], ['e', 'h', 'i']);
  });
});
