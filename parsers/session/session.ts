/**
 * One connection's packets as an analyst reads them (the session view): each packet's time,
 * direction, TCP flags, relative sequence and acknowledgement numbers and lengths, the tunnels
 * it came through, and each direction's payload put back together.
 *
 * Packets are decoded with the project's decoder (every link type and tunnel it knows); the
 * connection's packet is the innermost layer whose flow is the record's, so an overlay's inner
 * connection is shown as the tracker saw it, with the layers around it as its encapsulation.
 * TCP payload goes through the tracker's StreamReassembler: sequence order, each byte once (the
 * first copy wins), holes counted as missing. Other transports' payloads follow one another in
 * arrival order. Bounded: at most `maxPackets` packets and `maxPayload` bytes kept per direction.
 */
import type { CapturedPacket } from '../capture/types';
import { PacketDecoder } from '../decode/decoder';
import { type DecodedPacket, DecodeStatus, type FlowLayer, TUNNEL_NAMES } from '../decode/layers';
import { ReassemblyBudget, StreamReassembler, type StreamSink } from '../conntrack/reassembly';
import { formatAddress } from '../record/address';
import { layerKey, recordKey } from './key';

/** The connection whose packets these are: its record's id fields. */
export interface SessionTarget {
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  ip_proto: number;
}

/** A layer around the connection's packet: the flow that carried it, and how. */
export interface SessionHop {
  /** How the next layer inward was carried: gre, vxlan, geneve, ip-in-ip, teredo, ayiya, gtpv1. */
  tunnel: string;
  /** The tunnel header's id when it carries one: VXLAN/Geneve VNI, GRE key, GTP TEID, ... */
  tunnelId: number | null;
  src: string;
  dst: string;
  /** IP protocol of the carrying flow (47 GRE, 17 UDP, 4/41 IP in IP). */
  proto: number;
  sport: number;
  dport: number;
}

export interface SessionPacket {
  /** The frame's place among the connection's packets, from 1: its number in the connection's pcap. */
  n: number;
  /** Seconds since the epoch. */
  ts: number;
  /** orig: sent by the record's originator (id.orig_h, id.orig_p); resp: by its responder. */
  dir: 'orig' | 'resp';
  src: string;
  dst: string;
  /** Ports; ICMP: type and code. */
  sport: number;
  dport: number;
  transport: 'tcp' | 'udp' | 'icmp' | 'other';
  /** TCP flags as letters in the order S A P F R U E C ('' when none, and for other transports). */
  flags: string;
  /** As Wireshark's relative numbers: seq from the direction's first, ack from the other's; null without TCP (ack: without ACK). */
  seq: number | null;
  ack: number | null;
  /** IP bytes per its header (Zeek's ip_bytes) and transport payload bytes per the IP length. */
  ipLen: number;
  payloadLen: number;
  /** The layers around this packet, outermost first; empty when it was not tunnelled. */
  encap: SessionHop[];
}

export interface SessionPayload {
  /** The first bytes of the direction's payload, at most maxPayload. */
  data: Buffer;
  /** Bytes of payload the direction carried in all (TCP: in sequence space, each byte once). */
  total: number;
  /** TCP: bytes never seen between the direction's first and last (the capture missed them). */
  missing: number;
  /** More payload than maxPayload: only the first maxPayload bytes are in `data`. */
  truncated: boolean;
}

export interface Session {
  packets: SessionPacket[];
  orig: SessionPayload;
  resp: SessionPayload;
  /** Packets that were not the connection's: not IP, undecodable, or without a layer of its flow. */
  skipped: number;
  /** More than maxPackets packets were given: the rest were left out (packets and payload). */
  truncated: boolean;
}

export interface SessionOptions {
  maxPackets: number;
  /** Payload bytes kept per direction. */
  maxPayload: number;
  /**
   * TCP bytes held out of order per direction while waiting for a hole to fill: beyond it the
   * first hole is given up on and counted as missing (as the tracker does). Default 16 MiB.
   */
  maxHeld?: number;
}

const FLAG_LETTERS: readonly [number, string][] = [
  [0x02, 'S'],
  [0x10, 'A'],
  [0x08, 'P'],
  [0x01, 'F'],
  [0x04, 'R'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'C'],
];

/** TCP flag bits as letters, in FLAG_LETTERS order. */
export function tcpFlagLetters(flags: number): string {
  let s = '';
  for (const [bit, letter] of FLAG_LETTERS) if (flags & bit) s += letter;
  return s;
}

/** Up to `max` bytes of payload, in order; everything beyond is only counted. */
class Collector implements StreamSink {
  private readonly chunks: Buffer[] = [];
  kept = 0;
  total = 0;
  missing = 0;
  constructor(private readonly max: number) {}

  data(buf: Buffer, off: number, len: number): void {
    this.total += len;
    const take = Math.min(len, this.max - this.kept);
    if (take <= 0) return;
    // The reassembler's buffer is valid only during the call: keep a copy.
    this.chunks.push(Buffer.from(buf.subarray(off, off + take)));
    this.kept += take;
  }

  gap(len: number): void {
    this.missing += len;
  }

  result(): SessionPayload {
    return { data: Buffer.concat(this.chunks, this.kept), total: this.total, missing: this.missing, truncated: this.total > this.kept };
  }
}

/** One direction of a TCP connection: Wireshark's base sequence number and the stream being put together. */
class TcpDirection {
  /** The number Wireshark's relative numbers count from (the SYN's, else one before the first seen); null until known. */
  base: number | null = null;
  private stream: StreamReassembler | null = null;
  // Sequence numbers unwrapped past 2^32: the last absolute number seen and its place.
  private lastAbs = 0;
  private lastRel = 0;

  constructor(
    readonly sink: Collector,
    private readonly budget: ReassemblyBudget,
    private readonly maxHeld: number,
  ) {}

  setBase(b: number): void {
    if (this.base !== null) return;
    this.base = b >>> 0;
    this.lastAbs = this.base;
    this.lastRel = 0;
  }

  relative(abs: number): number {
    return ((abs - (this.base as number)) >>> 0) as number;
  }

  /** Payload whose first byte has absolute sequence number `abs` (the direction's base is set). */
  segment(abs: number, buf: Buffer, off: number, len: number): void {
    const rel = this.lastRel + ((abs - this.lastAbs) | 0);
    this.lastAbs = abs >>> 0;
    this.lastRel = rel;
    // The stream starts at relative 1: the byte after the SYN, or the first one seen.
    this.stream ??= new StreamReassembler(1, this.sink, this.budget, this.maxHeld);
    this.stream.segment(rel, buf, off, len);
  }

  close(): void {
    this.stream?.close();
  }
}

export class SessionBuilder {
  private readonly decoder = new PacketDecoder({});
  private readonly d: DecodedPacket;
  private readonly key: string;
  private readonly packets: SessionPacket[] = [];
  private readonly payload: { orig: Collector; resp: Collector };
  private readonly tcp: { orig: TcpDirection; resp: TcpDirection };
  private frames = 0;
  private skipped = 0;
  private truncated = false;

  constructor(
    private readonly target: SessionTarget,
    private readonly o: SessionOptions,
  ) {
    this.d = this.decoder.newPacket();
    this.key = recordKey(target);
    this.payload = { orig: new Collector(o.maxPayload), resp: new Collector(o.maxPayload) };
    const maxHeld = o.maxHeld ?? 16 * 1024 * 1024;
    const budget = new ReassemblyBudget(2 * maxHeld);
    this.tcp = { orig: new TcpDirection(this.payload.orig, budget, maxHeld), resp: new TcpDirection(this.payload.resp, budget, maxHeld) };
  }

  /** One frame of the connection's pcap; false once maxPackets is reached (the rest are not wanted). */
  add(p: CapturedPacket): boolean {
    if (this.frames >= this.o.maxPackets) {
      this.truncated = true;
      return false;
    }
    const n = ++this.frames;
    const d = this.d;
    let found = this.take(this.decoder.decode(p, d), p, n);
    // A frame holding several packets (802.11 A-MSDU): each of them may be the connection's.
    while (this.decoder.hasNext()) found = this.take(this.decoder.decodeNext(d), p, n) || found;
    if (!found) this.skipped++;
    return true;
  }

  finish(): Session {
    this.tcp.orig.close();
    this.tcp.resp.close();
    return { packets: this.packets, orig: this.payload.orig.result(), resp: this.payload.resp.result(), skipped: this.skipped, truncated: this.truncated };
  }

  private take(status: DecodeStatus, p: CapturedPacket, n: number): boolean {
    const d = this.d;
    if (status !== DecodeStatus.OK && !(status === DecodeStatus.MALFORMED && d.count > 0)) return false;
    let at = -1;
    for (let i = d.count - 1; i >= 0; i--) {
      if (layerKey(d.layers[i]) === this.key) {
        at = i;
        break;
      }
    }
    if (at < 0) return false;
    this.packet(d.layers[at], p, n, hops(d, at));
    return true;
  }

  private packet(l: FlowLayer, p: CapturedPacket, n: number, encap: SessionHop[]): void {
    const t = this.target;
    const src = formatAddress(l.buf, l.srcOff, l.addrLen);
    const dst = formatAddress(l.buf, l.dstOff, l.addrLen);
    const icmp = (l.proto === 1 && l.ipVersion === 4) || (l.proto === 58 && l.ipVersion === 6);
    const sport = icmp ? l.icmpType : l.sport;
    const dport = icmp ? l.icmpCode : l.dport;
    // By address first: ICMP's and SCTP's records do not carry the packets' ports.
    const dir: 'orig' | 'resp' = src === t.orig_h && (t.orig_h !== t.resp_h || sport === t.orig_p) ? 'orig' : 'resp';
    const out: SessionPacket = {
      n,
      ts: p.tsSec + p.tsNsec / 1e9,
      dir,
      src,
      dst,
      sport,
      dport,
      transport: l.proto === 6 ? 'tcp' : l.proto === 17 ? 'udp' : icmp ? 'icmp' : 'other',
      flags: '',
      seq: null,
      ack: null,
      ipLen: l.ipTotalLen,
      payloadLen: l.payloadLen,
      encap,
    };
    if (l.proto === 6) {
      const fwd = this.tcp[dir];
      const rev = this.tcp[dir === 'orig' ? 'resp' : 'orig'];
      const flags = l.tcpFlags;
      const syn = (flags & 0x02) !== 0;
      const ack = (flags & 0x10) !== 0;
      // Wireshark's bases: the SYN's number, else one before the first seen (so data starts at 1);
      // the peer's from the first acknowledgement of it when that comes before any of its packets.
      fwd.setBase(syn ? l.seq : l.seq - 1);
      if (ack) rev.setBase(l.ack - 1);
      out.flags = tcpFlagLetters(flags);
      out.seq = fwd.relative(l.seq);
      out.ack = ack ? rev.relative(l.ack) : null;
      if (l.capturedPayloadLen > 0) fwd.segment(syn ? l.seq + 1 : l.seq, l.buf, l.payloadOff, l.capturedPayloadLen);
    } else if (l.capturedPayloadLen > 0) {
      this.payload[dir].data(l.buf, l.payloadOff, l.capturedPayloadLen);
    }
    this.packets.push(out);
  }
}

/** The layers outside layer `at`, outermost first, each with the tunnel that carried the next. */
function hops(d: DecodedPacket, at: number): SessionHop[] {
  const out: SessionHop[] = [];
  for (let i = 0; i < at; i++) {
    const l = d.layers[i];
    const inner = d.layers[i + 1];
    out.push({
      tunnel: TUNNEL_NAMES[inner.tunnel] ?? '',
      tunnelId: inner.tunnelId >= 0 ? inner.tunnelId : null,
      src: formatAddress(l.buf, l.srcOff, l.addrLen),
      dst: formatAddress(l.buf, l.dstOff, l.addrLen),
      proto: l.proto,
      sport: l.sport,
      dport: l.dport,
    });
  }
  return out;
}
