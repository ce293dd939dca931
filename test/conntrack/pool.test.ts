/**
 * Connection objects are pooled: a reset object must be indistinguishable from a new one, or
 * state from an earlier connection would leak into the next record.
 */
import { strict as assert } from 'node:assert';
import { Conn, Kind, TcpConn } from '../../src/conntrack/conn';

/** Own enumerable fields, with nested state objects compared by their fields (cycles cut). */
function fields(o: object, seen = new Set<object>()): Record<string, unknown> {
  seen.add(o);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) out[k] = seen.has(v) ? '<cycle>' : fields(v, seen);
    else out[k] = v;
  }
  return out;
}

/** Sets every number, boolean, string and nullable field of `o` (recursively) to something non-initial. */
function scribble(o: Record<string, unknown>, depth = 0): void {
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (typeof v === 'number') o[k] = 12345;
    else if (typeof v === 'boolean') o[k] = !v;
    else if (typeof v === 'string') o[k] = 'junk';
    else if (v === null) o[k] = k === 'prev' || k === 'next' ? null : ['junk'];
    else if (typeof v === 'object' && depth < 2 && !ArrayBuffer.isView(v)) scribble(v as Record<string, unknown>, depth + 1);
  }
}

describe('conntrack/pool: reset objects equal new ones', () => {
  it('TcpConn.reset() gives the state of new TcpConn()', () => {
    const used = new TcpConn();
    scribble(used as unknown as Record<string, unknown>);
    used.orig = used.b;
    used.reset();
    assert.deepEqual(fields(used), fields(new TcpConn()));
    assert.equal(used.orig, used.a);
    assert.equal(used.a.peer, used.b);
  });

  it('Conn.reset() gives the state of new Conn(), keeping the TCP objects aside', () => {
    const used = new Conn(Kind.TCP, 6, 4);
    used.tcp = new TcpConn();
    const tcp = used.tcp;
    scribble(used as unknown as Record<string, unknown>);
    used.tcp = tcp;
    used.reset(Kind.UDP, 17, 16);
    assert.equal(used.spareTcp, tcp);
    used.spareTcp = null;
    assert.deepEqual(fields(used), fields(new Conn(Kind.UDP, 17, 16)));
  });
});
