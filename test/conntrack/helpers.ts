/**
 * Test helpers: hand-built DecodedPackets, and a deliberately minimal classic-pcap +
 * Ethernet/802.1Q/IPv4/IPv6/TCP/UDP/ICMP reader so the tracker can be checked against Zeek's
 * baselines on real captures independently of the production decoder.
 */
import * as fs from 'node:fs';
import { DecodedPacket, DecodeStatus, type FlowLayer, TunnelKind } from '../../parsers/decode/layers';
import { parseAddress } from '../../parsers/record/address';
import { ConnectionTracker, type TrackerOptions } from '../../parsers/conntrack/tracker';
import type { ConnRecord } from '../../parsers/record/conn';

export interface Pkt {
  src: string;
  dst: string;
  sport?: number;
  dport?: number;
  proto?: number; // default 6
  flags?: string; // e.g. 'S', 'SA', 'A', 'PA', 'FA', 'R', 'RA'
  seq?: number;
  ack?: number;
  len?: number; // payload length
  win?: number;
  icmpType?: number;
  icmpCode?: number;
  vlan?: number;
  tunnel?: TunnelKind;
  tunnelId?: number;
  ipChecksumBad?: boolean;
  /** Leading payload bytes (the rest of `len` is zeros). */
  payload?: number[];
}

const FLAG_BITS: Record<string, number> = { F: 1, S: 2, R: 4, P: 8, A: 16 };

export function fillLayer(l: FlowLayer, p: Pkt): void {
  l.reset();
  const s = parseAddress(p.src);
  const d = parseAddress(p.dst);
  if (!s || !d) throw new Error('bad address');
  const len = p.len ?? 0;
  const buf = Buffer.alloc(32 + len);
  buf.set(s, 0);
  buf.set(d, 16);
  if (p.payload) buf.set(p.payload.slice(0, len), 32);
  l.buf = buf;
  l.srcOff = 0;
  l.dstOff = 16;
  l.payloadOff = 32;
  l.addrLen = s.length;
  l.ipVersion = s.length === 4 ? 4 : 6;
  l.proto = p.proto ?? 6;
  const hdr = l.proto === 6 ? 20 : 8;
  l.ipHdrLen = s.length === 4 ? 20 : 40;
  l.l4Len = hdr + len;
  l.ipTotalLen = l.ipHdrLen + l.l4Len;
  l.payloadLen = len;
  l.capturedPayloadLen = len;
  l.sport = p.sport ?? 0;
  l.dport = p.dport ?? 0;
  l.seq = (p.seq ?? 0) >>> 0;
  l.ack = (p.ack ?? 0) >>> 0;
  l.window = p.win ?? 65535;
  let f = 0;
  for (const ch of p.flags ?? '') f |= FLAG_BITS[ch];
  l.tcpFlags = f;
  if (p.icmpType !== undefined) {
    l.icmpType = p.icmpType;
    l.icmpCode = p.icmpCode ?? 0;
    l.sport = l.icmpType;
    l.dport = l.icmpCode;
  }
  l.vlan = p.vlan ?? -1;
  l.tunnel = p.tunnel ?? TunnelKind.NONE;
  l.tunnelId = p.tunnelId ?? -1;
  l.ipChecksumBad = p.ipChecksumBad ?? false;
}

/** Feed [time, packet-or-layers] pairs, finish, and return the records. */
export function runPackets(pkts: [number, Pkt | Pkt[]][], opts: Partial<TrackerOptions> = {}): { recs: ConnRecord[]; tracker: ConnectionTracker } {
  const recs: ConnRecord[] = [];
  const tracker = new ConnectionTracker(opts, (r) => recs.push(r));
  const d = new DecodedPacket(4);
  for (const [t, p] of pkts) {
    const layers = Array.isArray(p) ? p : [p];
    for (const [i, lp] of layers.entries()) fillLayer(d.layers[i], lp);
    d.count = layers.length;
    d.status = DecodeStatus.OK;
    const sec = Math.floor(t);
    // microsecond steps keep hand-written times like T0 + 0.07 exact
    tracker.onPacket(d, sec, Math.round((t - sec) * 1e6) * 1000);
  }
  tracker.finish();
  return { recs, tracker };
}

// ---- minimal real-capture reader (test only) ----

/** Decode a classic pcap (Ethernet, optional 802.1Q) into DecodedPackets and feed the tracker. */
export function runPcap(file: string, opts: Partial<TrackerOptions> = {}): ConnRecord[] {
  const recs: ConnRecord[] = [];
  const tracker = new ConnectionTracker(opts, (r) => recs.push(r));
  const b = fs.readFileSync(file);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u32(20) !== 1) throw new Error('test reader: Ethernet only');
  const d = new DecodedPacket(1);
  const l = d.layers[0];
  let off = 24;
  while (off + 16 <= b.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const caplen = u32(off + 8);
    const p = off + 16;
    off = p + caplen;
    const end = p + caplen;
    l.reset();
    l.buf = b;
    l.dstMacOff = p;
    l.srcMacOff = p + 6;
    let q = p + 12;
    let et = b.readUInt16BE(q);
    while (et === 0x8100 || et === 0x88a8) {
      const id = b.readUInt16BE(q + 2) & 0xfff;
      if (l.vlan < 0) l.vlan = id;
      else l.innerVlan = id;
      q += 4;
      et = b.readUInt16BE(q);
    }
    q += 2;
    let l4: number;
    if (et === 0x0800) {
      const ihl = (b[q] & 15) * 4;
      l.ipVersion = 4;
      l.ipTotalLen = b.readUInt16BE(q + 2);
      l.proto = b[q + 9];
      l.srcOff = q + 12;
      l.dstOff = q + 16;
      l.addrLen = 4;
      l4 = q + ihl;
      l.l4Len = l.ipTotalLen - ihl;
    } else if (et === 0x86dd) {
      l.ipVersion = 6;
      l.ipTotalLen = 40 + b.readUInt16BE(q + 4);
      l.proto = b[q + 6];
      l.srcOff = q + 8;
      l.dstOff = q + 24;
      l.addrLen = 16;
      l4 = q + 40;
      l.l4Len = l.ipTotalLen - 40;
    } else continue;
    if (l.proto === 6) {
      const thl = (b[l4 + 12] >> 4) * 4;
      l.sport = b.readUInt16BE(l4);
      l.dport = b.readUInt16BE(l4 + 2);
      l.seq = b.readUInt32BE(l4 + 4);
      l.ack = b.readUInt32BE(l4 + 8);
      l.tcpFlags = b[l4 + 13];
      l.window = b.readUInt16BE(l4 + 14);
      l.payloadLen = l.l4Len - thl;
      l.payloadOff = l4 + thl;
      l.capturedPayloadLen = Math.max(0, Math.min(l.payloadLen, end - (l4 + thl)));
    } else if (l.proto === 17) {
      l.sport = b.readUInt16BE(l4);
      l.dport = b.readUInt16BE(l4 + 2);
      l.payloadLen = b.readUInt16BE(l4 + 4) - 8;
      // The tracker reads DNS and NTP headers to orient the connection, as Zeek's analyzers do.
      l.payloadOff = l4 + 8;
      l.capturedPayloadLen = Math.max(0, Math.min(l.payloadLen, end - (l4 + 8)));
    } else if (l.proto === 1 || l.proto === 58) {
      l.icmpType = b[l4];
      l.icmpCode = b[l4 + 1];
      l.sport = l.icmpType;
      l.dport = l.icmpCode;
      l.payloadLen = l.l4Len - 8;
    }
    d.count = 1;
    d.status = DecodeStatus.OK;
    tracker.onPacket(d, sec, nano ? frac : frac * 1000);
  }
  tracker.finish();
  return recs;
}

/** Rows of a Zeek conn.log baseline as field->value maps. */
export function readZeekLog(file: string): Record<string, string>[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const hdr = lines.find((x) => x.startsWith('#fields'));
  if (!hdr) throw new Error(`no #fields in ${file}`);
  const cols = hdr.split('\t').slice(1);
  return lines
    .filter((x) => x && !x.startsWith('#'))
    .map((x) => {
      const v = x.split('\t');
      const o: Record<string, string> = {};
      for (const [i, c] of cols.entries()) o[c] = v[i];
      return o;
    });
}

/** A record in Zeek's text form for the compared columns ('-' where Zeek leaves a field unset: duration 0 unsets duration and byte counts). */
export function zeekColumns(r: ConnRecord): Record<string, string> {
  const set = r.duration > 0;
  return {
    'id.orig_h': r.orig_h,
    'id.orig_p': String(r.orig_p),
    'id.resp_h': r.resp_h,
    'id.resp_p': String(r.resp_p),
    proto: r.proto,
    duration: set ? r.duration.toFixed(6) : '-',
    orig_bytes: set ? String(r.orig_bytes) : '-',
    resp_bytes: set ? String(r.resp_bytes) : '-',
    conn_state: r.conn_state,
    missed_bytes: String(r.missed_bytes),
    history: r.history || '-',
    orig_pkts: String(r.orig_pkts),
    orig_ip_bytes: String(r.orig_ip_bytes),
    resp_pkts: String(r.resp_pkts),
    resp_ip_bytes: String(r.resp_ip_bytes),
    ip_proto: String(r.ip_proto),
  };
}
