/** Byte builders for hand-made test packets (tests only). */
import type { CapturedPacket } from '../../parsers/capture/types';
import { ipv4HeaderSum } from '../../parsers/decode/ipv4';

export const cat = (...parts: (Buffer | number[])[]): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

export const MAC_A = [0x02, 0, 0, 0, 0, 0xaa];
export const MAC_B = [0x02, 0, 0, 0, 0, 0xbb];

/** Ethernet II frame; `vlanTags` outer-first as [TPID, VLAN id]. */
export function eth(type: number, payload: Buffer, vlanTags: [number, number][] = []): Buffer {
  const out: number[] = [...MAC_B, ...MAC_A];
  for (const [tpid, vid] of vlanTags) out.push(...u16(tpid), ...u16(vid));
  out.push(...u16(type));
  return cat(out, payload);
}

export interface V4Opts {
  proto: number;
  src?: number[];
  dst?: number[];
  id?: number;
  mf?: boolean;
  fragOff?: number;
  ttl?: number;
  badSum?: boolean;
  totalLen?: number;
  ihl?: number;
}

export function ipv4(o: V4Opts, payload: Buffer): Buffer {
  const ihl = o.ihl ?? 5;
  const opts = Buffer.alloc(ihl * 4 - 20, 1); // NOP-ish option bytes
  const total = o.totalLen ?? ihl * 4 + payload.length;
  const h = cat(
    [0x40 | ihl, 0],
    u16(total),
    u16(o.id ?? 0x1234),
    u16((o.mf ? 0x2000 : 0) | ((o.fragOff ?? 0) >> 3)),
    [o.ttl ?? 64, o.proto, 0, 0],
    o.src ?? [10, 0, 0, 1],
    o.dst ?? [10, 0, 0, 2],
    opts,
  );
  h.writeUInt16BE(~ipv4HeaderSum(h, 0, h.length) & 0xffff, 10);
  if (o.badSum) h[10] ^= 0x55;
  return cat(h, payload);
}

export const V6_A = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
export const V6_B = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

export function ipv6(next: number, payload: Buffer, src = V6_A, dst = V6_B): Buffer {
  return cat([0x60, 0, 0, 0], u16(payload.length), [next, 64], src, dst, payload);
}

/** Extension header with `len8` 8-octet units beyond the first (hop-by-hop/routing/dest-opts format). */
export function ext(next: number, len8 = 0): Buffer {
  const b = Buffer.alloc(8 + len8 * 8);
  b[0] = next;
  b[1] = len8;
  return b;
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  return cat(u16(sport), u16(dport), u16(8 + payload.length), [0, 0], payload);
}

export function tcp(sport: number, dport: number, flags: number, options: number[] = [], payload: Buffer = Buffer.alloc(0), doffOverride?: number): Buffer {
  const opt = [...options];
  while (opt.length % 4) opt.push(0);
  const doff = doffOverride ?? 5 + opt.length / 4;
  return cat(u16(sport), u16(dport), u32(1000), u32(2000), [doff << 4, flags], u16(65535), [0, 0, 0, 0], opt, payload);
}

export function vxlan(vni: number, inner: Buffer): Buffer {
  return cat([0x08, 0, 0, 0], [(vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0], inner);
}

export function packet(bytes: Buffer, linktype = 1, opts: { caplen?: number; origlen?: number; tsSec?: number; pad?: number } = {}): CapturedPacket {
  // Put the frame at a non-zero offset of a bigger buffer, as a streaming reader would.
  const pad = opts.pad ?? 7;
  const buf = Buffer.concat([Buffer.alloc(pad, 0xee), bytes, Buffer.alloc(5, 0xee)]);
  const caplen = opts.caplen ?? bytes.length;
  return {
    buf,
    offset: pad,
    caplen,
    origlen: opts.origlen ?? bytes.length,
    tsSec: opts.tsSec ?? 1_700_000_000,
    tsNsec: 0,
    linktype,
    interfaceId: 0,
    section: 0,
    fileOffset: 0,
    index: 1,
  };
}

export { u16, u32 };
