/**
 * Cutting connections back out of a capture, as Arkime serves a session's packets: the capture
 * is read again and every packet whose flow (at any tunnel depth, so the overlay packets of an
 * inner connection come too) is one of the wanted connections within its time span is written
 * to a pcap. Streams in and out with backpressure; bounded by packet and byte limits.
 */
import type { Writable } from 'node:stream';
import { readCapture } from '../../parsers/capture/open';
import { pcapHeader, pcapRecord } from '../../parsers/capture/pcap-writer';
import type { CapturedPacket } from '../../parsers/capture/types';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { DecodeStatus, type FlowLayer } from '../../parsers/decode/layers';
import { formatAddress } from '../../parsers/record/address';
import { icmpCounterpart } from '../../parsers/record/community-id';
import type { ConnRecord } from '../../parsers/record/conn';

export type ExtractTarget = Pick<ConnRecord, 'ts' | 'duration' | 'orig_h' | 'orig_p' | 'resp_h' | 'resp_p' | 'ip_proto'>;

export interface ExtractOptions {
  maxPackets?: number;
  maxBytes?: number;
  /** Seconds of slack around each connection's span (timestamps of its first and last packet). */
  slack?: number;
}

export interface ExtractResult {
  packets: number;
  bytes: number;
  /** Matching packets left out because their link type differs from the first one's (pcap has one per file). */
  otherLinktype: number;
  truncated: boolean;
}

interface Span {
  from: number;
  to: number;
}

/** Direction-free key of a flow: protocol and both ends, lower end first. */
function keyOf(proto: number, a: string, pa: number, b: string, pb: number): string {
  const x = `${a}|${pa}`;
  const y = `${b}|${pb}`;
  return x < y ? `${proto}|${x}|${y}` : `${proto}|${y}|${x}`;
}

function layerKey(l: FlowLayer): string {
  // SCTP records carry ports 0/0 (Zeek's unknown_transport), so its packets match on the addresses.
  const sctp = l.proto === 132;
  let sp = sctp ? 0 : l.sport;
  let dp = sctp ? 0 : l.dport;
  if ((l.proto === 1 && l.ipVersion === 4) || (l.proto === 58 && l.ipVersion === 6)) {
    // As the tracker keys ICMP: the type, and its counterpart type (echo request 8 <-> reply 0) or
    // else the code. Keyed on the ports the decoder leaves at 0, an echo's replies were never cut.
    const cp = icmpCounterpart(l.proto, l.icmpType);
    sp = l.icmpType;
    dp = cp >= 0 ? cp : l.icmpCode;
  }
  return keyOf(l.proto, formatAddress(l.buf, l.srcOff, l.addrLen), sp, formatAddress(l.buf, l.dstOff, l.addrLen), dp);
}

/** The connections of several captures into one pcap (one header; the first matching packet's link type). */
export async function extractConnections(
  sources: readonly { file: string; targets: readonly ExtractTarget[] }[],
  out: Writable,
  o: ExtractOptions = {},
): Promise<ExtractResult> {
  const res: ExtractResult = { packets: 0, bytes: 0, otherLinktype: 0, truncated: false };
  const state = { linktype: -1 };
  for (const s of sources) {
    if (res.truncated) break;
    await extractFrom(s.file, s.targets, out, o, res, state);
  }
  if (state.linktype === -1) out.write(pcapHeader(1));
  return res;
}

async function extractFrom(
  file: string,
  targets: readonly ExtractTarget[],
  out: Writable,
  o: ExtractOptions,
  res: ExtractResult,
  state: { linktype: number },
): Promise<void> {
  const maxPackets = o.maxPackets ?? 1_000_000;
  const maxBytes = o.maxBytes ?? 1024 * 1024 * 1024;
  const slack = o.slack ?? 1;
  const wanted = new Map<string, Span[]>();
  let first = Infinity;
  let last = -Infinity;
  for (const t of targets) {
    const k = keyOf(t.ip_proto, t.orig_h, t.orig_p, t.resp_h, t.resp_p);
    const span = { from: t.ts - slack, to: t.ts + (t.duration ?? 0) + slack };
    const l = wanted.get(k);
    if (l) l.push(span);
    else wanted.set(k, [span]);
    first = Math.min(first, span.from);
    last = Math.max(last, span.to);
  }
  if (wanted.size === 0) return;
  const decoder = new PacketDecoder({});
  const d = decoder.newPacket();
  let draining: Promise<void> | null = null;
  const matches = (ts: number): boolean => {
    for (let i = 0; i < d.count; i++) {
      const spans = wanted.get(layerKey(d.layers[i]));
      if (spans?.some((s) => ts >= s.from && ts <= s.to)) return true;
    }
    return false;
  };
  const usable = (st: DecodeStatus): boolean => st === DecodeStatus.OK || (st === DecodeStatus.MALFORMED && d.count > 0);
  const onPacket = (p: CapturedPacket): void => {
    if (res.truncated) return;
    const ts = p.tsSec + p.tsNsec / 1e9;
    if (ts < first || ts > last) return;
    let hit = usable(decoder.decode(p, d)) && matches(ts);
    // A frame holding several packets (802.11 A-MSDU) belongs to every connection among them.
    while (!hit && decoder.hasNext()) hit = usable(decoder.decodeNext(d)) && matches(ts);
    if (!hit) return;
    if (state.linktype === -1) {
      state.linktype = p.linktype;
      out.write(pcapHeader(p.linktype));
    } else if (p.linktype !== state.linktype) {
      res.otherLinktype++;
      return;
    }
    if (res.packets >= maxPackets || res.bytes + p.caplen > maxBytes) {
      res.truncated = true;
      return;
    }
    res.packets++;
    res.bytes += p.caplen;
    if (!out.write(pcapRecord(p)) && !draining) {
      draining = new Promise<void>((r) =>
        out.once('drain', () => {
          draining = null;
          r();
        }),
      );
    }
  };
  await readCapture(file, onPacket, { pace: () => draining ?? undefined });
}
