/**
 * A connection's packets from its pcap (GET /connections/:uid/pcap), read in the browser: each
 * packet's time, direction, TCP flags, sequence and acknowledgement numbers and lengths, and
 * the payload of each direction reassembled (TCP in sequence order, retransmitted bytes once,
 * holes marked; UDP datagrams one after another). Link types: Ethernet (with VLAN tags), Linux
 * cooked v1 and v2, raw IP and BSD loopback; VXLAN is unwrapped to the inner packet, which is
 * the one the connection record describes.
 */

export interface SessionPacket {
  /** Its place in the pcap, from 1 (frames that were left out keep their numbers). */
  n: number;
  /** Seconds since the epoch, with the capture's precision. */
  ts: number;
  /** orig: from the connection's originator; resp: from its responder. */
  dir: 'orig' | 'resp';
  src: string;
  dst: string;
  sport: number;
  dport: number;
  transport: 'tcp' | 'udp' | 'other';
  /** TCP flags as letters (S, A, F, R, P, U), '' for UDP. */
  flags: string;
  /** Relative to the direction's first sequence number (as Wireshark shows them); null for UDP. */
  seq: number | null;
  ack: number | null;
  /** Bytes of IP packet and of transport payload. */
  ipLen: number;
  payloadLen: number;
}

export interface Reassembled {
  bytes: Uint8Array;
  /** Bytes never seen between the first and the last (a capture that missed segments). */
  missing: number;
  /** More payload than the view keeps (MAX_PAYLOAD): the rest is in the pcap. */
  truncated: boolean;
}

export interface Session {
  packets: SessionPacket[];
  orig: Reassembled;
  resp: Reassembled;
  /** Packets that were not IP (ARP, ...), or not decodable. */
  skipped: number;
}

/** Per direction: enough to read a request and a response, bounded so the page stays light. */
export const MAX_PAYLOAD = 256 * 1024;

interface Decoded {
  src: string;
  dst: string;
  proto: number;
  ipLen: number;
  /** The transport header and payload. */
  l4: DataView;
}

function ipv4Text(v: DataView, o: number): string {
  return `${v.getUint8(o)}.${v.getUint8(o + 1)}.${v.getUint8(o + 2)}.${v.getUint8(o + 3)}`;
}

/** RFC 5952 text, as the connection records hold IPv6 addresses. */
function ipv6Text(v: DataView, o: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(v.getUint16(o + i * 2));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function sub(v: DataView, o: number, len = v.byteLength - o): DataView {
  return new DataView(v.buffer, v.byteOffset + o, Math.max(0, Math.min(len, v.byteLength - o)));
}

function decodeIp(v: DataView, depth: number): Decoded | null {
  if (v.byteLength < 1) return null;
  const version = v.getUint8(0) >> 4;
  let d: Decoded | null = null;
  if (version === 4 && v.byteLength >= 20) {
    const ihl = (v.getUint8(0) & 15) * 4;
    const total = v.getUint16(2);
    // A fragment after the first has no transport header.
    if ((v.getUint16(6) & 0x1fff) !== 0) return null;
    d = { src: ipv4Text(v, 12), dst: ipv4Text(v, 16), proto: v.getUint8(9), ipLen: total, l4: sub(v, ihl, total - ihl) };
  } else if (version === 6 && v.byteLength >= 40) {
    let next = v.getUint8(6);
    let o = 40;
    // Hop-by-hop, routing and destination options headers before the transport.
    while ((next === 0 || next === 43 || next === 60) && o + 8 <= v.byteLength) {
      next = v.getUint8(o);
      o += (v.getUint8(o + 1) + 1) * 8;
    }
    const payload = v.getUint16(4);
    d = { src: ipv6Text(v, 8), dst: ipv6Text(v, 24), proto: next, ipLen: payload + 40, l4: sub(v, o, payload + 40 - o) };
  }
  // VXLAN (UDP 4789): the connection is the inner one.
  if (d && d.proto === 17 && d.l4.byteLength >= 16 && d.l4.getUint16(2) === 4789 && depth < 3) {
    const inner = decodeEthernet(sub(d.l4, 16), depth + 1);
    if (inner) return inner;
  }
  return d;
}

function decodeEthernet(v: DataView, depth: number): Decoded | null {
  if (v.byteLength < 14) return null;
  let o = 12;
  let type = v.getUint16(o);
  while ((type === 0x8100 || type === 0x88a8) && o + 6 <= v.byteLength) {
    o += 4;
    type = v.getUint16(o);
  }
  if (type !== 0x0800 && type !== 0x86dd) return null;
  return decodeIp(sub(v, o + 2), depth);
}

function decodeLink(linktype: number, v: DataView): Decoded | null {
  switch (linktype) {
    case 1:
      return decodeEthernet(v, 0);
    case 113:
      return v.byteLength > 16 ? decodeIp(sub(v, 16), 0) : null;
    case 276:
      return v.byteLength > 20 ? decodeIp(sub(v, 20), 0) : null;
    case 0:
    case 108:
      return v.byteLength > 4 ? decodeIp(sub(v, 4), 0) : null;
    case 12:
    case 14:
    case 101:
      return decodeIp(v, 0);
    default:
      return null;
  }
}

const FLAG_LETTERS: [number, string][] = [
  [0x02, 'S'],
  [0x10, 'A'],
  [0x08, 'P'],
  [0x01, 'F'],
  [0x04, 'R'],
  [0x20, 'U'],
];

interface Segment {
  seq: number;
  data: Uint8Array;
}

/** TCP bytes in sequence order, each once; UDP (seq null) datagrams in arrival order. */
function reassemble(segs: Segment[], tcp: boolean): Reassembled {
  const out = new Uint8Array(MAX_PAYLOAD);
  let n = 0;
  let missing = 0;
  let truncated = false;
  const put = (d: Uint8Array): void => {
    const room = MAX_PAYLOAD - n;
    if (d.length > room) truncated = true;
    out.set(d.subarray(0, Math.max(0, room)), n);
    n += Math.min(room, d.length);
  };
  if (!tcp) {
    for (const s of segs) put(s.data);
    return { bytes: out.slice(0, n), missing, truncated };
  }
  const sorted = [...segs].sort((a, b) => a.seq - b.seq);
  let cursor = sorted.length ? sorted[0].seq : 0;
  for (const s of sorted) {
    const end = s.seq + s.data.length;
    if (end <= cursor) continue;
    if (s.seq > cursor) missing += s.seq - cursor;
    put(s.data.subarray(Math.max(0, cursor - s.seq)));
    cursor = end;
  }
  return { bytes: out.slice(0, n), missing, truncated };
}

/**
 * Reads a pcap (microsecond or nanosecond, either byte order). `orig`: the connection's
 * originator (address and port) from its record, which says which packets are "orig".
 */
export function readSession(buf: ArrayBuffer, orig?: { h: string; p: number }): Session {
  const v = new DataView(buf);
  if (v.byteLength < 24) throw new Error('not a pcap: shorter than its header');
  const magic = v.getUint32(0, true);
  let le: boolean;
  let nano: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) {
    le = true;
    nano = magic === 0xa1b23c4d;
  } else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) {
    le = false;
    nano = magic === 0x4d3cb2a1;
  } else throw new Error('not a pcap: unknown magic number');
  const linktype = v.getUint32(20, le) & 0x0fffffff;
  const packets: SessionPacket[] = [];
  const segs: Record<'orig' | 'resp', Segment[]> = { orig: [], resp: [] };
  const isn: Partial<Record<'orig' | 'resp', number>> = {};
  let skipped = 0;
  let tcp = false;
  let first: { h: string; p: number } | null = orig ?? null;
  const raw: { p: SessionPacket; seqAbs: number | null; ackAbs: number | null; syn: boolean }[] = [];
  let frame = 0;
  for (let o = 24; o + 16 <= v.byteLength; ) {
    frame++;
    const sec = v.getUint32(o, le);
    const frac = v.getUint32(o + 4, le);
    const incl = v.getUint32(o + 8, le);
    const data = sub(v, o + 16, incl);
    o += 16 + incl;
    const d = decodeLink(linktype, data);
    if (!d || (d.proto !== 6 && d.proto !== 17) || d.l4.byteLength < 8) {
      skipped++;
      continue;
    }
    const sport = d.l4.getUint16(0);
    const dport = d.l4.getUint16(2);
    if (first === null) first = { h: d.src, p: sport };
    const dir: 'orig' | 'resp' = d.src === first.h && sport === first.p ? 'orig' : 'resp';
    const ts = sec + frac / (nano ? 1e9 : 1e6);
    if (d.proto === 6 && d.l4.byteLength >= 20) {
      tcp = true;
      const off = (d.l4.getUint8(12) >> 4) * 4;
      const fl = d.l4.getUint8(13);
      const payload = new Uint8Array(d.l4.buffer, d.l4.byteOffset + Math.min(off, d.l4.byteLength), Math.max(0, d.l4.byteLength - off));
      const seqAbs = d.l4.getUint32(4);
      const ackAbs = fl & 0x10 ? d.l4.getUint32(8) : null;
      const p: SessionPacket = {
        n: frame,
        ts,
        dir,
        src: d.src,
        dst: d.dst,
        sport,
        dport,
        transport: 'tcp',
        flags: FLAG_LETTERS.filter(([bit]) => fl & bit)
          .map(([, l]) => l)
          .join(''),
        seq: null,
        ack: null,
        ipLen: d.ipLen,
        payloadLen: payload.length,
      };
      raw.push({ p, seqAbs, ackAbs, syn: (fl & 0x02) !== 0 });
      if (isn[dir] === undefined || (fl & 0x02) !== 0) isn[dir] = seqAbs;
      if (payload.length) segs[dir].push({ seq: seqAbs, data: payload.slice() });
    } else {
      const payload = new Uint8Array(d.l4.buffer, d.l4.byteOffset + 8, d.l4.byteLength - 8);
      const p: SessionPacket = {
        n: frame,
        ts,
        dir,
        src: d.src,
        dst: d.dst,
        sport,
        dport,
        transport: d.proto === 17 ? 'udp' : 'other',
        flags: '',
        seq: null,
        ack: null,
        ipLen: d.ipLen,
        payloadLen: payload.length,
      };
      raw.push({ p, seqAbs: null, ackAbs: null, syn: false });
      segs[dir].push({ seq: 0, data: payload.slice() });
    }
  }
  // Sequence numbers relative to each direction's initial one, modulo 2^32 (a wrap stays in order).
  const rel = (abs: number, base: number | undefined): number => (base === undefined ? abs : (abs - base) >>> 0);
  for (const r of raw) {
    if (r.seqAbs === null) {
      packets.push(r.p);
      continue;
    }
    const other = r.p.dir === 'orig' ? 'resp' : 'orig';
    packets.push({ ...r.p, seq: rel(r.seqAbs, isn[r.p.dir]), ack: r.ackAbs === null ? null : rel(r.ackAbs, isn[other]) });
  }
  const relSegs = (dir: 'orig' | 'resp'): Segment[] => (tcp ? segs[dir].map((s) => ({ seq: rel(s.seq, isn[dir]), data: s.data })) : segs[dir]);
  return { packets, orig: reassemble(relSegs('orig'), tcp), resp: reassemble(relSegs('resp'), tcp), skipped };
}

/** Payload as text: printable ASCII and line breaks kept, every other byte a middle dot. */
export function payloadText(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += c === 10 || c === 13 || c === 9 || (c >= 32 && c < 127) ? String.fromCharCode(c) : '·';
  return s;
}

/** A hex dump: offset, 16 bytes in hex, the same bytes as text. */
export function hexDump(b: Uint8Array, max = b.length): string {
  const lines: string[] = [];
  for (let o = 0; o < Math.min(b.length, max); o += 16) {
    const row = b.subarray(o, Math.min(o + 16, b.length));
    const hex = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const txt = [...row].map((x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${o.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${txt}`);
  }
  return lines.join('\n');
}
