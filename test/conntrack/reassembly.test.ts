/**
 * TCP stream reassembly: in order, out of order, retransmissions and overlaps (first-wins),
 * holes turned into gaps by acknowledgements, budgets and close; any arrival order of the same
 * segments gives the same stream.
 */
import { strict as assert } from 'node:assert';
import { ReassemblyBudget, StreamReassembler, type StreamSink } from '../../parsers/conntrack/reassembly';

/** Records what the reassembler hands on: bytes as text, gaps as `<gap N>`. */
class Collect implements StreamSink {
  out = '';
  data(buf: Buffer, off: number, len: number): void {
    this.out += buf.toString('latin1', off, off + len);
  }
  gap(len: number): void {
    this.out += `<gap ${len}>`;
  }
}

function setup(maxHeld?: number, budget = new ReassemblyBudget(1 << 20)): { r: StreamReassembler; c: Collect; budget: ReassemblyBudget } {
  const c = new Collect();
  return { r: new StreamReassembler(1, c, budget, maxHeld), c, budget };
}

/** Feeds text at a relative sequence number, from a larger buffer to exercise offsets. */
function seg(r: StreamReassembler, seq: number, text: string): void {
  const buf = Buffer.from(`##${text}##`, 'latin1');
  r.segment(seq, buf, 2, text.length);
}

/** xorshift, for reproducible shuffles. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

describe('conntrack/reassembly', () => {
  it('delivers in-order data at once, without holding anything', () => {
    const { r, c } = setup();
    seg(r, 1, 'GET / HTTP/1.1\r\n');
    seg(r, 17, 'Host: a\r\n\r\n');
    assert.equal(c.out, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.equal(r.holding, 0);
    assert.equal(r.next, 28);
  });

  it('holds out-of-order segments and delivers them when the hole fills', () => {
    const { r, c, budget } = setup();
    seg(r, 6, 'world');
    seg(r, 11, '!');
    assert.equal(c.out, '');
    assert.equal(r.holding, 6);
    assert.equal(budget.used, 6);
    seg(r, 1, 'hello');
    assert.equal(c.out, 'helloworld!');
    assert.equal(r.holding, 0);
    assert.equal(budget.used, 0);
  });

  it('counts retransmissions once and keeps the first copy of overlapping bytes', () => {
    const { r, c } = setup();
    seg(r, 1, 'abcdef');
    seg(r, 1, 'abcdef'); // full retransmission
    seg(r, 4, 'defghi'); // partial: 'def' known, 'ghi' new
    assert.equal(c.out, 'abcdefghi');
    assert.equal(r.stats.retransmitted, 9);
    // Held bytes win over a later, different copy of them.
    seg(r, 13, 'MNO');
    seg(r, 10, 'jklXYZp');
    assert.equal(c.out, 'abcdefghijklMNOp');
    assert.equal(r.stats.inconsistent, 3);
  });

  it('turns an acknowledged hole into a gap and goes on after it', () => {
    const { r, c } = setup();
    seg(r, 1, 'aaaa');
    seg(r, 9, 'cccc');
    r.ack(9); // the peer has bytes 5..8, which we never saw
    assert.equal(c.out, 'aaaa<gap 4>cccc');
    assert.equal(r.stats.gapBytes, 4);
    r.ack(20); // acknowledged beyond anything seen: a gap up to the ack
    assert.equal(c.out, 'aaaa<gap 4>cccc<gap 7>');
    assert.equal(r.next, 20);
  });

  it('gives up the first hole when a direction holds more than its limit', () => {
    const { r, c } = setup(8);
    seg(r, 11, 'xxxxx');
    seg(r, 21, 'yyyyy'); // 10 bytes held > 8
    assert.equal(c.out, '<gap 10>xxxxx');
    assert.equal(r.stats.forcedGaps, 1);
    assert.equal(r.holding, 5);
  });

  it('shares one budget across connections', () => {
    const budget = new ReassemblyBudget(6);
    const a = setup(undefined, budget);
    const b = setup(undefined, budget);
    seg(a.r, 5, 'aaaa');
    seg(b.r, 5, 'bbbb'); // 8 bytes held in all > 6: b skips its hole
    assert.equal(b.c.out, '<gap 4>bbbb');
    assert.equal(budget.forcedGaps, 1);
    assert.equal(budget.used, 4);
    a.r.close();
    assert.equal(a.c.out, '<gap 4>aaaa');
    assert.equal(budget.used, 0);
  });

  it('delivers what is held at close, with the holes as gaps', () => {
    const { r, c } = setup();
    seg(r, 3, 'cc');
    seg(r, 8, 'hh');
    r.close();
    assert.equal(c.out, '<gap 2>cc<gap 3>hh');
    seg(r, 1, 'late');
    assert.equal(c.out, '<gap 2>cc<gap 3>hh');
  });

  it('any arrival order of overlapping segments yields the original stream', () => {
    const text = 'The quick brown fox jumps over the lazy dog, then naps under the old oak tree.';
    const rand = rng(42);
    for (let trial = 0; trial < 300; trial++) {
      // Random overlapping cover of the text, every byte covered at least once.
      const pieces: Array<[number, string]> = [];
      for (let at = 0; at < text.length; ) {
        const len = 1 + Math.floor(rand() * 12);
        const back = Math.floor(rand() * 4);
        const start = Math.max(0, at - back);
        pieces.push([start, text.slice(start, at + len)]);
        at += len;
      }
      for (let i = pieces.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [pieces[i], pieces[j]] = [pieces[j], pieces[i]];
      }
      const { r, c, budget } = setup();
      for (const [start, t] of pieces) seg(r, 1 + start, t);
      assert.equal(c.out, text, `trial ${trial}`);
      assert.equal(r.stats.gapBytes, 0);
      assert.equal(budget.used, 0);
    }
  });
});
