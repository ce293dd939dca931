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
import { DecodeStatus } from '../../parsers/decode/layers';
import type { ConnRecord } from '../../parsers/record/conn';
import { layerKey, recordKey } from '../../parsers/session/key';

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

export interface CutOptions {
  /** Seconds of slack around each connection's span (timestamps of its first and last packet). */
  slack?: number;
  /** As readCapture's: the reader waits between chunks for the promise it returns. */
  pace?: () => Promise<void> | undefined;
}

/**
 * Calls `onPacket` with every packet of `file` that belongs to one of `targets` (at any tunnel
 * depth) within its time span, in capture order; once it returns false it is called no more.
 */
export async function cutPackets(file: string, targets: readonly ExtractTarget[], onPacket: (p: CapturedPacket) => boolean, o: CutOptions = {}): Promise<void> {
  const slack = o.slack ?? 1;
  const wanted = new Map<string, Span[]>();
  let first = Infinity;
  let last = -Infinity;
  for (const t of targets) {
    const k = recordKey(t);
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
  let more = true;
  const matches = (ts: number): boolean => {
    for (let i = 0; i < d.count; i++) {
      const spans = wanted.get(layerKey(d.layers[i]));
      if (spans?.some((s) => ts >= s.from && ts <= s.to)) return true;
    }
    return false;
  };
  const usable = (st: DecodeStatus): boolean => st === DecodeStatus.OK || (st === DecodeStatus.MALFORMED && d.count > 0);
  const each = (p: CapturedPacket): void => {
    if (!more) return;
    const ts = p.tsSec + p.tsNsec / 1e9;
    if (ts < first || ts > last) return;
    let hit = usable(decoder.decode(p, d)) && matches(ts);
    // A frame holding several packets (802.11 A-MSDU) belongs to every connection among them.
    while (!hit && decoder.hasNext()) hit = usable(decoder.decodeNext(d)) && matches(ts);
    if (hit) more = onPacket(p);
  };
  await readCapture(file, each, { pace: o.pace });
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
  let draining: Promise<void> | null = null;
  const onPacket = (p: CapturedPacket): boolean => {
    if (state.linktype === -1) {
      state.linktype = p.linktype;
      out.write(pcapHeader(p.linktype));
    } else if (p.linktype !== state.linktype) {
      res.otherLinktype++;
      return true;
    }
    if (res.packets >= maxPackets || res.bytes + p.caplen > maxBytes) {
      res.truncated = true;
      return false;
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
    return true;
  };
  await cutPackets(file, targets, onPacket, { slack: o.slack, pace: () => draining ?? undefined });
}
