/**
 * The flow table through its growth (by half: entry counts that are not powers of two, the index
 * a power of two at least twice as large): every live key found with its value and columns, none
 * of the deleted ones.
 */
import { strict as assert } from 'node:assert';
import { FlowTable } from '../../parsers/conntrack/flow-table';

function stage(t: FlowTable<number>, n: number): void {
  t.key.fill(0);
  t.key[0] = n;
  t.key[5] = n * 7919;
}

describe('conntrack/flow-table: growth', () => {
  it('keeps every live entry, its id and its columns across many growths, with deletions between', () => {
    const t = new FlowTable<number>(16, 1, 1);
    const ids = new Map<number, number>();
    for (let n = 1; n <= 50_000; n++) {
      stage(t, n);
      assert.equal(t.get(), undefined);
      const id = t.insert(n);
      t.cols[id] = n + 0.5;
      t.ints[id] = -n;
      ids.set(n, id);
      // Every third entry goes again: ids are reused, the table grows by the live count.
      if (n % 3 === 0) {
        const gone = n - 1;
        t.delete(ids.get(gone) as number);
        ids.delete(gone);
      }
    }
    assert.equal(t.size, ids.size);
    for (let n = 1; n <= 50_000; n++) {
      stage(t, n);
      const id = ids.get(n);
      if (id === undefined) {
        assert.equal(t.get(), undefined, `key ${n} was deleted`);
        continue;
      }
      assert.equal(t.get(), n);
      assert.equal(t.at(id), n);
      assert.equal(t.cols[id], n + 0.5);
      assert.equal(t.ints[id], -n);
    }
    assert.equal(t.values().length, ids.size);
  });
});
