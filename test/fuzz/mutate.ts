/**
 * Deterministic capture mutations for the fuzz test: truncations, bit flips, absurd record
 * lengths, and clobbered header fields inside packets.
 */

/** xorshift32: small, fast, seedable, so a failing case can be replayed from its seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  int(n: number): number {
    return this.next() % n;
  }
}

export type Mutation = 'truncate' | 'bitflip' | 'absurd-caplen' | 'clobber16' | 'splice';
export const MUTATIONS: Mutation[] = ['truncate', 'bitflip', 'absurd-caplen', 'clobber16', 'splice'];

const ABSURD = [0xffffffff, 0x7fffffff, 0x80000000, 0x00100000, 65536, 0, 1, 3];

export function mutate(seed: Buffer, kind: Mutation, rng: Rng): Buffer {
  const b = Buffer.from(seed);
  if (b.length === 0) return b;
  switch (kind) {
    case 'truncate':
      return b.subarray(0, rng.int(b.length));
    case 'bitflip': {
      const flips = 1 + rng.int(16);
      for (let i = 0; i < flips; i++) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    }
    case 'absurd-caplen': {
      // Classic pcap: the first record's caplen is at 24+8; pcapng: a block length near the start.
      const at = b.length > 40 ? 24 + 8 + 4 * rng.int(Math.max(1, Math.floor((b.length - 40) / 4))) : 0;
      if (at + 4 <= b.length) b.writeUInt32LE(ABSURD[rng.int(ABSURD.length)], at);
      return b;
    }
    case 'clobber16': {
      // Length-like fields inside packets: IP total length, IHL/data offset bytes, UDP length, ...
      const n = 1 + rng.int(8);
      for (let i = 0; i < n; i++) {
        const at = 24 + rng.int(Math.max(1, b.length - 26));
        if (at + 2 <= b.length) b.writeUInt16BE([0, 0xffff, 1, 0x8000, 20, 5][rng.int(6)], at);
      }
      return b;
    }
    case 'splice': {
      // Repeat a random slice in place: records and blocks no longer line up.
      const from = rng.int(b.length);
      const len = 1 + rng.int(Math.min(512, b.length - from));
      const at = rng.int(b.length);
      return Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)]);
    }
  }
}
