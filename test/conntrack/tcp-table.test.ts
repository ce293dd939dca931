import * as assert from 'node:assert/strict';
import { Ep } from '../../parsers/conntrack/conn';
import {
  D_LAST_REASSEM,
  D_TIMER,
  D_TRIM_SEQ,
  E_LAST_SEQ,
  E_START_SEQ,
  E_STATE,
  ED,
  EI,
  F_ACTIVE,
  F_PARTIAL,
  F_SEEN_ORIG,
  F_SEEN_RESP,
  S_FLAGS,
  TcpTable,
  setState,
  tcpSize,
} from '../../parsers/conntrack/tcp-table';
import type { ConnRecord } from '../../parsers/record/conn';
import { type Pkt, runPackets } from './helpers';

const C = '10.0.0.1';
const S = '10.0.0.2';
const T0 = 1_700_000_000;

describe('conntrack/tcp-table: TCP state without objects', () => {
  it('a recycled slot starts as a fresh one (states, sequence words, timers, out-of-order ranges)', () => {
    const t = new TcpTable(4);
    const s = t.alloc();
    const o = t.origEp(s);
    setState(t, o, Ep.ESTABLISHED);
    setState(t, o ^ 1, Ep.CLOSED);
    t.u32[o * EI + E_START_SEQ] = 0xfffffff0;
    t.f64[o * ED + D_LAST_REASSEM] = 5000;
    t.f64[s * 2 * ED + D_TIMER] = 42;
    t.blocks[o] = [10, 20];
    t.flipRoles(s);
    t.release(s);
    const r = t.alloc();
    assert.equal(r, s);
    for (const e of [r * 2, r * 2 + 1]) {
      assert.equal(t.i32[e * EI + E_STATE], Ep.INACTIVE);
      assert.equal(t.u32[e * EI + E_START_SEQ], 0);
      assert.equal(t.f64[e * ED + D_LAST_REASSEM], 1);
      assert.equal(t.f64[e * ED + D_TRIM_SEQ], 1);
      assert.equal(t.f64[e * ED + D_TIMER], Number.POSITIVE_INFINITY);
      assert.equal(t.blocks[e], null);
    }
    assert.equal(t.i32[r * 2 * EI + S_FLAGS], F_ACTIVE);
    assert.equal(t.origEp(r), r * 2);
    assert.equal(t.size, 1);
  });

  it('growing keeps every live slot as it was, unsigned sequence numbers included', () => {
    const t = new TcpTable(2);
    const slots: number[] = [];
    for (let k = 0; k < 5000; k++) {
      const s = t.alloc();
      slots.push(s);
      const o = t.origEp(s);
      t.u32[o * EI + E_START_SEQ] = (0xffff0000 + k) >>> 0;
      t.u32[o * EI + E_LAST_SEQ] = (0xffff0000 + k + 101) >>> 0;
      t.f64[(o ^ 1) * ED + D_LAST_REASSEM] = k + 0.5;
      if (k % 3 === 0) t.flipRoles(s);
    }
    assert.equal(new Set(slots).size, 5000);
    for (let k = 0; k < 5000; k++) {
      const s = slots[k];
      const o = k % 3 === 0 ? t.respEp(s) : t.origEp(s);
      assert.equal(t.u32[o * EI + E_START_SEQ], (0xffff0000 + k) >>> 0);
      assert.equal(tcpSize(t, o), 100);
      assert.equal(t.f64[(o ^ 1) * ED + D_LAST_REASSEM], k + 0.5);
    }
  });

  it('a role flip swaps originator and responder and their first-packet bits, and ends partial status', () => {
    const t = new TcpTable();
    const s = t.alloc();
    const f = s * 2 * EI + S_FLAGS;
    t.i32[f] |= F_SEEN_ORIG | F_PARTIAL;
    const o = t.origEp(s);
    assert.ok(t.isOrig(o));
    t.flipRoles(s);
    assert.equal(t.origEp(s), o ^ 1);
    assert.equal(t.respEp(s), o);
    assert.ok(!t.isOrig(o));
    assert.equal(t.i32[f] & (F_SEEN_ORIG | F_SEEN_RESP | F_PARTIAL), F_SEEN_RESP);
  });

  // Through the tracker: more live connections than the first TCP table (1,024 slots) and flow
  // table (4,096 entries) hold, then a second generation in the slots and entries the first left.
  it('5,000 overlapping connections, then 5,000 more in their recycled slots: every record as alone', () => {
    const n = 5000;
    const c = (i: number, o: Partial<Pkt>): Pkt => ({ src: C, dst: S, sport: 20000 + i, dport: 80, ...o });
    const s = (i: number, o: Partial<Pkt>): Pkt => ({ src: S, dst: C, sport: 80, dport: 20000 + i, ...o });
    // The client's data arrives out of order; the server's sequence numbers wrap.
    const steps = (i: number): Pkt[] => [
      c(i, { flags: 'S', seq: 1000 }),
      s(i, { flags: 'SA', seq: 0xfffffff0, ack: 1001 }),
      c(i, { flags: 'PA', seq: 1051, ack: 0xfffffff1, len: 50 }),
      c(i, { flags: 'PA', seq: 1001, ack: 0xfffffff1, len: 50 }),
      s(i, { flags: 'PA', seq: 0xfffffff1, ack: 1101, len: 40 }),
      c(i, { flags: 'FA', seq: 1101, ack: 0x19 }),
      s(i, { flags: 'FA', seq: 0x19, ack: 1102 }),
    ];
    const at = (i: number, step: number): number => T0 + step + i * 1e-4;
    const [alone] = runPackets(steps(0).map((p, k): [number, Pkt] => [at(0, k), p])).recs;
    assert.equal(alone.conn_state, 'SF');
    assert.equal(alone.orig_bytes, 100);
    assert.equal(alone.resp_bytes, 40);
    assert.equal(alone.duration, 6);

    // First generation: every connection opened before any closes, step by step.
    const pkts: [number, Pkt][] = [];
    const per = steps(0).length;
    for (let k = 0; k < per; k++) for (let i = 0; i < n; i++) pkts.push([at(i, k), steps(i)[k]]);
    // Second generation, well after the first was removed: other ports, a bare SYN each.
    for (let i = 0; i < n; i++) pkts.push([at(i, 100), { src: C, dst: S, sport: 40000 + i, dport: 443, flags: 'S', seq: 7 }]);
    const { recs } = runPackets(pkts);
    assert.equal(recs.length, 2 * n);
    const first = recs.filter((r) => r.resp_p === 80);
    const second = recs.filter((r) => r.resp_p === 443);
    assert.equal(first.length, n);
    assert.equal(second.length, n);
    const byPort = new Map<number, ConnRecord>(first.map((r) => [r.orig_p, r]));
    const same = ['conn_state', 'history', 'orig_bytes', 'resp_bytes', 'missed_bytes', 'orig_pkts', 'resp_pkts', 'duration'] as const;
    for (let i = 0; i < n; i++) {
      const r = byPort.get(20000 + i);
      assert.ok(r);
      const t = at(i, 0);
      assert.equal(r.ts, Math.floor(t) + (Math.round((t - Math.floor(t)) * 1e6) * 1000) / 1e9, `ts of ${i}`);
      for (const k of same) assert.equal(r[k], alone[k], `${k} of ${i}`);
    }
    for (const r of second) {
      assert.equal(r.conn_state, 'S0');
      assert.equal(r.history, 'S');
      assert.equal(r.orig_bytes, 0);
      assert.equal(r.resp_bytes, 0);
      assert.equal(r.duration, 0);
    }
  });

  // The timer lists link flow-table entry ids; the links must survive the table's growth.
  it('5,000 idle UDP flows expire by their timers, in the order they started, and the same flows later make new records', () => {
    const n = 5000;
    const u = (i: number): Pkt => ({ src: C, dst: S, sport: 30000 + i, dport: 9999, proto: 17, len: 10 });
    const pkts: [number, Pkt][] = [];
    for (let i = 0; i < n; i++) pkts.push([T0 + i * 1e-3, u(i)]);
    for (let i = 0; i < n; i++) pkts.push([T0 + 500 + i * 1e-3, u(i)]);
    const { recs } = runPackets(pkts);
    assert.equal(recs.length, 2 * n);
    for (let i = 0; i < 2 * n; i++) {
      assert.equal(recs[i].orig_p, 30000 + (i % n), `record ${i}`);
      assert.equal(recs[i].orig_pkts, 1);
    }
  });
});
