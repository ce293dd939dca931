/**
 * Builds real packets into Buffers: Ethernet II (+802.1Q), IPv4, IPv6, TCP, UDP, ICMP echo,
 * DNS, HTTP/1.1 and VXLAN, with correct lengths and checksums.
 *
 * This is a test-input generator, not a decoder: clarity beats zero-copy here. Each layer takes
 * its payload and returns a fresh Buffer (header + payload); every byte is written explicitly,
 * so `Buffer.allocUnsafe` (pooled, fast for the bench's millions of packets) is safe.
 */
import * as net from 'node:net';

export const EtherType = { IPV4: 0x0800, IPV6: 0x86dd, VLAN: 0x8100, ARP: 0x0806 } as const;
export const Proto = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;
export const Flags = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const;
export const VXLAN_PORT_FLANNEL = 8472;

// ---------------------------------------------------------------- addresses

/** 'aa:bb:cc:dd:ee:ff' -> 6 bytes. */
export function macBytes(mac: string): Buffer {
  const hit = macCache.get(mac);
  if (hit) return hit;
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new Error(`bad MAC ${mac}`);
  const out = Buffer.from(parts.map((p) => parseInt(p, 16)));
  macCache.set(mac, out);
  return out;
}

const macCache = new Map<string, Buffer>();

const addrCache = new Map<string, Buffer>();

/** IPv4 dotted quad or IPv6 text -> 4 or 16 bytes (cached: the generators reuse a few hundred addresses). */
export function ipBytes(ip: string): Buffer {
  const hit = addrCache.get(ip);
  if (hit) return hit;
  let out: Buffer;
  if (net.isIPv4(ip)) {
    out = Buffer.from(ip.split('.').map((p) => Number(p)));
  } else if (net.isIPv6(ip)) {
    out = Buffer.alloc(16);
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    for (const [i, g] of h.entries()) out.writeUInt16BE(parseInt(g, 16), i * 2);
    for (const [i, g] of t.entries()) out.writeUInt16BE(parseInt(g, 16), 16 - (t.length - i) * 2);
  } else {
    throw new Error(`bad IP address ${ip}`);
  }
  addrCache.set(ip, out);
  return out;
}

export function isIPv6(ip: string): boolean {
  return ipBytes(ip).length === 16;
}

// ---------------------------------------------------------------- checksum

/** Sum of 16-bit big-endian words over buf[start, end) (odd tail padded with zero), not folded. */
export function sum16(buf: Buffer, start: number, end: number, acc = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i < end) acc += buf[i] << 8;
  return acc;
}

/** Folds a 32-bit one's-complement accumulator and complements it (RFC 1071). */
export function finishChecksum(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return ~acc & 0xffff;
}

/** Pseudo-header sum for TCP/UDP/ICMPv6 (RFC 793 / RFC 8200 section 8.1). */
export function pseudoHeaderSum(src: Buffer, dst: Buffer, proto: number, length: number): number {
  let acc = sum16(src, 0, src.length) + sum16(dst, 0, dst.length);
  acc += proto + (length & 0xffff) + Math.floor(length / 0x10000);
  return acc;
}

// ---------------------------------------------------------------- link layer

export interface EthernetSpec {
  src: string;
  dst: string;
  /** 802.1Q VLAN id; absent means untagged. */
  vlan?: number;
  /** 802.1Q priority code point (0..7). */
  pcp?: number;
}

export function ethernet(eth: EthernetSpec, etherType: number, payload: Buffer): Buffer {
  const tagLen = eth.vlan !== undefined ? 4 : 0;
  const out = Buffer.allocUnsafe(14 + tagLen + payload.length);
  macBytes(eth.dst).copy(out, 0);
  macBytes(eth.src).copy(out, 6);
  let off = 12;
  if (eth.vlan !== undefined) {
    out.writeUInt16BE(EtherType.VLAN, 12);
    out.writeUInt16BE((((eth.pcp ?? 0) & 7) << 13) | (eth.vlan & 0x0fff), 14);
    off = 16;
  }
  out.writeUInt16BE(etherType, off);
  payload.copy(out, off + 2);
  return out;
}

// ---------------------------------------------------------------- network layer

export interface IpSpec {
  src: string;
  dst: string;
  /** IPv4 identification (default 0). */
  id?: number;
  /** TTL / hop limit (default 64). */
  ttl?: number;
  /** IPv4 Don't Fragment (default true, as Linux sets it with PMTU discovery). */
  df?: boolean;
  /** DSCP/ECN byte / IPv6 traffic class (default 0). */
  tos?: number;
  /** IPv6 flow label (default 0). */
  flowLabel?: number;
}

export function ipv4(spec: IpSpec, proto: number, payload: Buffer): Buffer {
  const total = 20 + payload.length;
  if (total > 0xffff) throw new Error(`IPv4 packet too long: ${total}`);
  const out = Buffer.allocUnsafe(total);
  out[0] = 0x45;
  out[1] = spec.tos ?? 0;
  out.writeUInt16BE(total, 2);
  out.writeUInt16BE((spec.id ?? 0) & 0xffff, 4);
  out.writeUInt16BE(spec.df === false ? 0 : 0x4000, 6);
  out[8] = spec.ttl ?? 64;
  out[9] = proto;
  out.writeUInt16BE(0, 10);
  ipBytes(spec.src).copy(out, 12);
  ipBytes(spec.dst).copy(out, 16);
  out.writeUInt16BE(finishChecksum(sum16(out, 0, 20)), 10);
  payload.copy(out, 20);
  return out;
}

export function ipv6(spec: IpSpec, nextHeader: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(40 + payload.length);
  const tc = spec.tos ?? 0;
  const fl = (spec.flowLabel ?? 0) & 0xfffff;
  out.writeUInt32BE(((6 << 28) | (tc << 20) | fl) >>> 0, 0);
  out.writeUInt16BE(payload.length, 4);
  out[6] = nextHeader;
  out[7] = spec.ttl ?? 64;
  ipBytes(spec.src).copy(out, 8);
  ipBytes(spec.dst).copy(out, 24);
  payload.copy(out, 40);
  return out;
}

/** IPv4 or IPv6 depending on the source address. */
export function ip(spec: IpSpec, proto: number, payload: Buffer): Buffer {
  return isIPv6(spec.src) ? ipv6(spec, proto, payload) : ipv4(spec, proto, payload);
}

export function etherTypeFor(srcIp: string): number {
  return isIPv6(srcIp) ? EtherType.IPV6 : EtherType.IPV4;
}

// ---------------------------------------------------------------- transport layer

export interface TcpOptionsSpec {
  mss?: number;
  /** Window scale shift count. */
  wscale?: number;
  sackPermitted?: boolean;
  /** Timestamps option: [TSval, TSecr]. */
  timestamp?: [number, number];
}

/** Encodes options in Linux's order and padding (SYN: MSS, SACK-perm+TS, NOP+WS; else NOP NOP TS). */
export function tcpOptions(o: TcpOptionsSpec): Buffer {
  const bytes: number[] = [];
  if (o.mss !== undefined) bytes.push(2, 4, (o.mss >> 8) & 0xff, o.mss & 0xff);
  if (o.sackPermitted && o.timestamp) bytes.push(4, 2);
  else if (o.sackPermitted) bytes.push(1, 1, 4, 2);
  if (o.timestamp) {
    if (!o.sackPermitted) bytes.push(1, 1);
    const [v, e] = o.timestamp;
    bytes.push(8, 10, (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
    bytes.push((e >>> 24) & 0xff, (e >>> 16) & 0xff, (e >>> 8) & 0xff, e & 0xff);
  }
  if (o.wscale !== undefined) bytes.push(1, 3, 3, o.wscale);
  while (bytes.length % 4 !== 0) bytes.push(1);
  return Buffer.from(bytes);
}

export interface TcpSpec {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options?: Buffer;
  urgent?: number;
}

/** TCP segment with its checksum over the pseudo-header of src/dst (v4 or v6). */
export function tcp(src: string, dst: string, spec: TcpSpec, payload: Buffer): Buffer {
  const opt = spec.options ?? EMPTY;
  if (opt.length % 4 !== 0 || opt.length > 40) throw new Error('TCP options must be padded to 4 bytes, at most 40');
  const hl = 20 + opt.length;
  const out = Buffer.allocUnsafe(hl + payload.length);
  out.writeUInt16BE(spec.sport, 0);
  out.writeUInt16BE(spec.dport, 2);
  out.writeUInt32BE(spec.seq >>> 0, 4);
  out.writeUInt32BE(spec.ack >>> 0, 8);
  out[12] = (hl / 4) << 4;
  out[13] = spec.flags & 0xff;
  out.writeUInt16BE(spec.window & 0xffff, 14);
  out.writeUInt16BE(0, 16);
  out.writeUInt16BE(spec.urgent ?? 0, 18);
  opt.copy(out, 20);
  payload.copy(out, hl);
  const acc = pseudoHeaderSum(ipBytes(src), ipBytes(dst), Proto.TCP, out.length);
  out.writeUInt16BE(finishChecksum(sum16(out, 0, out.length, acc)), 16);
  return out;
}

/**
 * UDP datagram. With `checksum: false` the field is 0 ("none"), which IPv4 allows and which
 * Linux VXLAN devices send by default; IPv6 always gets a checksum (RFC 8200 requires it).
 */
export function udp(src: string, dst: string, sport: number, dport: number, payload: Buffer, checksum = true): Buffer {
  const out = Buffer.allocUnsafe(8 + payload.length);
  out.writeUInt16BE(sport, 0);
  out.writeUInt16BE(dport, 2);
  out.writeUInt16BE(out.length, 4);
  out.writeUInt16BE(0, 6);
  payload.copy(out, 8);
  if (checksum || isIPv6(src)) {
    const acc = pseudoHeaderSum(ipBytes(src), ipBytes(dst), Proto.UDP, out.length);
    let c = finishChecksum(sum16(out, 0, out.length, acc));
    if (c === 0) c = 0xffff; // 0 means "no checksum" on the wire (RFC 768)
    out.writeUInt16BE(c, 6);
  }
  return out;
}

/** ICMPv4 echo request (type 8) or reply (type 0). */
export function icmpEcho(reply: boolean, id: number, seq: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + payload.length);
  out[0] = reply ? 0 : 8;
  out[1] = 0;
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(id & 0xffff, 4);
  out.writeUInt16BE(seq & 0xffff, 6);
  payload.copy(out, 8);
  out.writeUInt16BE(finishChecksum(sum16(out, 0, out.length)), 2);
  return out;
}

// ---------------------------------------------------------------- DNS (RFC 1035, RFC 2782, RFC 3596)

export const DnsType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, AAAA: 28, SRV: 33 } as const;
export const DnsRcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

export interface DnsQuestion {
  name: string;
  type: number;
}

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  ttl: number;
  /** A/AAAA: address text; CNAME/NS/PTR: domain name; SRV/SOA: structured. */
  data: string | SrvData | SoaData;
}

export interface DnsMessageSpec {
  id: number;
  response: boolean;
  opcode?: number;
  aa?: boolean;
  rd?: boolean;
  ra?: boolean;
  rcode?: number;
  questions: DnsQuestion[];
  answers?: DnsRecord[];
  authority?: DnsRecord[];
}

/** Writes names with RFC 1035 section 4.1.4 compression: suffixes already written become pointers. */
class NameWriter {
  readonly bytes: number[] = [];
  private readonly seen = new Map<string, number>();

  name(fqdn: string): void {
    const labels = fqdn
      .replace(/\.$/, '')
      .split('.')
      .filter((l) => l.length > 0);
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = this.seen.get(suffix);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.bytes.length < 0x3fff) this.seen.set(suffix, this.bytes.length);
      const l = Buffer.from(labels[i], 'ascii');
      if (l.length > 63) throw new Error(`DNS label too long: ${labels[i]}`);
      this.bytes.push(l.length, ...l);
    }
    this.bytes.push(0);
  }

  u16(v: number): void {
    this.bytes.push((v >> 8) & 0xff, v & 0xff);
  }

  u32(v: number): void {
    this.bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }

  raw(b: Buffer): void {
    for (const x of b) this.bytes.push(x);
  }
}

export function dnsMessage(m: DnsMessageSpec): Buffer {
  const w = new NameWriter();
  w.u16(m.id);
  const hi = (m.response ? 0x80 : 0) | (((m.opcode ?? 0) & 0xf) << 3) | (m.aa ? 0x04 : 0) | ((m.rd ?? true) ? 0x01 : 0);
  const lo = (m.ra ? 0x80 : 0) | ((m.rcode ?? 0) & 0xf);
  w.bytes.push(hi, lo);
  w.u16(m.questions.length);
  w.u16(m.answers?.length ?? 0);
  w.u16(m.authority?.length ?? 0);
  w.u16(0);
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(1); // class IN
  }
  for (const rr of [...(m.answers ?? []), ...(m.authority ?? [])]) {
    w.name(rr.name);
    w.u16(rr.type);
    w.u16(1);
    w.u32(rr.ttl);
    const lenAt = w.bytes.length;
    w.u16(0);
    const start = w.bytes.length;
    const d = rr.data;
    if (typeof d === 'string') {
      if (rr.type === DnsType.A || rr.type === DnsType.AAAA) w.raw(ipBytes(d));
      else w.name(d);
    } else if ('port' in d) {
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      w.name(d.target);
    } else {
      w.name(d.mname);
      w.name(d.rname);
      for (const v of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) w.u32(v);
    }
    const rdlen = w.bytes.length - start;
    w.bytes[lenAt] = rdlen >> 8;
    w.bytes[lenAt + 1] = rdlen & 0xff;
  }
  return Buffer.from(w.bytes);
}

// ---------------------------------------------------------------- HTTP/1.1

export function httpRequest(method: string, path: string, host: string, headers: [string, string][] = [], body?: Buffer): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`];
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  if (body) lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body ? Buffer.concat([head, body]) : head;
}

export function httpResponse(status: number, reason: string, headers: [string, string][], body: Buffer): Buffer {
  const lines = [`HTTP/1.1 ${status} ${reason}`];
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  lines.push(`Content-Length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return Buffer.concat([head, body]);
}

// ---------------------------------------------------------------- VXLAN (RFC 7348)

export interface VxlanSpec {
  /** Underlay link layer (node NICs). */
  outerEth: EthernetSpec;
  /** Underlay IPv4/IPv6 header fields (node addresses). */
  outerIp: IpSpec;
  /** Source port: Linux derives it from a hash of the inner flow, in 32768..60999 by default range. */
  sport: number;
  /** 8472 for Flannel / the Linux default, 4789 for the IANA port. */
  dport: number;
  vni: number;
  /** Outer UDP checksum; Linux VXLAN devices send 0 over IPv4 unless udpcsum is set. */
  udpChecksum?: boolean;
}

/** 8-byte VXLAN header: flags with the I bit, 24-bit VNI. */
export function vxlanHeader(vni: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = 0x08;
  h.writeUIntBE(vni & 0xffffff, 4, 3);
  return h;
}

/** Wraps an inner Ethernet frame: outer Ethernet / IP / UDP / VXLAN / inner frame. */
export function vxlan(spec: VxlanSpec, innerFrame: Buffer): Buffer {
  const payload = Buffer.concat([vxlanHeader(spec.vni), innerFrame]);
  const u = udp(spec.outerIp.src, spec.outerIp.dst, spec.sport, spec.dport, payload, spec.udpChecksum ?? false);
  return ethernet(spec.outerEth, etherTypeFor(spec.outerIp.src), ip(spec.outerIp, Proto.UDP, u));
}

const EMPTY = Buffer.alloc(0);
