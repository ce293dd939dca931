import * as dgram from 'node:dgram';
/** Hand-built NetFlow / IPFIX datagrams for the decoder tests. */

export class Bytes {
  private readonly parts: number[] = [];
  get length(): number {
    return this.parts.length;
  }
  u8(...v: number[]): this {
    for (const x of v) this.parts.push(x & 0xff);
    return this;
  }
  u16(...v: number[]): this {
    for (const x of v) this.parts.push((x >> 8) & 0xff, x & 0xff);
    return this;
  }
  u32(...v: number[]): this {
    for (const x of v) this.parts.push((x >>> 24) & 0xff, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff);
    return this;
  }
  u64(v: number): this {
    return this.u32(Math.floor(v / 4294967296), v % 4294967296);
  }
  ip4(s: string): this {
    return this.u8(...s.split('.').map(Number));
  }
  raw(b: Uint8Array | number[]): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  bytes(): Buffer {
    return Buffer.from(this.parts);
  }
}

/** A set / flowset: id, length (header included), body. */
export function set(id: number, body: Bytes | Buffer): Buffer {
  const b = body instanceof Bytes ? body.bytes() : body;
  return Buffer.concat([new Bytes().u16(id, b.length + 4).bytes(), b]);
}

export function ipfix(exportSecs: number, seq: number, domain: number, ...sets: Buffer[]): Buffer {
  const body = Buffer.concat(sets);
  return Buffer.concat([
    new Bytes()
      .u16(10, body.length + 16)
      .u32(exportSecs, seq, domain)
      .bytes(),
    body,
  ]);
}

export function v9(sysUptime: number, unixSecs: number, seq: number, sourceId: number, count: number, ...sets: Buffer[]): Buffer {
  return Buffer.concat([new Bytes().u16(9, count).u32(sysUptime, unixSecs, seq, sourceId).bytes(), ...sets]);
}

export interface V5Rec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: number;
  flags: number;
  pkts: number;
  bytes: number;
  first: number;
  last: number;
  input?: number;
  output?: number;
}

export function v5(sysUptime: number, secs: number, nsecs: number, seq: number, recs: V5Rec[], count = recs.length): Buffer {
  const b = new Bytes().u16(5, count).u32(sysUptime, secs, nsecs, seq).u8(1, 2).u16(0);
  for (const r of recs) {
    b.ip4(r.src)
      .ip4(r.dst)
      .ip4('0.0.0.0')
      .u16(r.input ?? 0, r.output ?? 0)
      .u32(r.pkts, r.bytes, r.first, r.last)
      .u16(r.sport, r.dport)
      .u8(0, r.flags, r.proto, 0)
      .u16(0, 0)
      .u8(0, 0)
      .u16(0);
  }
  return b.bytes();
}

/** Sends the datagrams in order from one socket. */
export function sendDatagrams(family: 'udp4' | 'udp6', host: string, port: number, msgs: Buffer[]): Promise<void> {
  const s = dgram.createSocket(family);
  return new Promise((resolve, reject) => {
    let i = 0;
    const next = (): void => {
      if (i === msgs.length) {
        s.close();
        resolve();
        return;
      }
      s.send(msgs[i++], port, host, (e) => (e ? reject(e) : next()));
    };
    next();
  });
}
