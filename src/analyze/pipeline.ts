/**
 * analyze: one capture file or stream (stdin, a live tcpdump) -> connection records.
 * Wires the capture reader, the packet decoder and the connection tracker, and for live input the
 * wall clock that ends idle connections; owns nothing else.
 */
import type { Readable } from 'node:stream';
import { readCapture, readCaptureStream } from '../../parsers/capture/open';
import { CaptureError, type CapturedPacket, type CaptureSummary, type ReaderKind } from '../../parsers/capture/types';
import { PacketDecoder } from '../../parsers/decode/decoder';
import { DecodeStatus, type DecodedPacket } from '../../parsers/decode/layers';
import { ConnectionTracker, type TrackerOptions } from '../../parsers/conntrack/tracker';
import type { ConnRecord } from '../../parsers/record/conn';

/** Connections emitted between two looks at the output at the end of input (about 1 MB of ndjson). */
const FINISH_STEP = 2048;

export interface AnalyzeOptions {
  reader?: ReaderKind;
  tracker?: Partial<TrackerOptions>;
  maxTunnelDepth?: number;
  vxlanPorts?: number[];
  genevePorts?: number[];
  /** Called with decompressed bytes consumed and file bytes read. */
  onProgress?: (consumedBytes: number, fileBytesRead: number) => void;
  /** Awaited between read chunks when it returns a promise: backpressure from whoever consumes the records. */
  pace?: () => Promise<void> | undefined;
  /**
   * Zeek without -C: drop packets with bad IPv4 header checksums silently and those with bad
   * TCP/UDP checksums after a `C`/`c` in the history. Off by default (as `zeek -C`). Same as
   * `tracker.verifyChecksums`; either turns it on.
   */
  verifyChecksums?: boolean;
  /** How many malformed packets to describe individually (the rest are only counted). */
  malformedExamples?: number;
  /** Called on every record before `emit` (e.g. the Kubernetes identity resolver); may add fields to it. */
  enrich?: (r: ConnRecord) => void;
  /** Live input only: the wall clock also drives the tracker's timers (see LiveClock). */
  liveClock?: LiveClock;
  /**
   * Called with every captured packet once the tracker has seen it, with the uids of the
   * connections it belongs to (`uids[0..n)`, none for a packet no connection took: not IP, a
   * fragment held). The packet ring (src/capture/ring.ts) files packets by connection with it.
   * `p` and `uids` are reused after the call.
   */
  onPacket?: (p: CapturedPacket, uids: readonly string[], n: number) => void;
}

/**
 * A capture read as it is taken has packet times close to the wall clock, and an idle connection
 * must end when its timeout passes, not when some later packet arrives. Every `everyMs`, once no
 * input has arrived for `slackSec`, the tracker's clock is moved to now minus `slackSec` (the
 * slack covers packets still in tcpdump's and the pipe's buffers, so none arrives older than the
 * clock). Never for a replayed file: its packet times are in the past and the wall clock would
 * end every connection at once.
 */
export interface LiveClock {
  slackSec: number;
  everyMs: number;
  /** Seconds since the epoch; Date.now()/1000 by default. */
  now?: () => number;
  /** After each tick, with the counts so far (health counters, flushing output). */
  onTick?: (res: AnalyzeResult) => void;
}

export interface MalformedPacket {
  packet: number;
  /** Byte offset of the packet's record in the (decompressed) capture. */
  fileOffset: number;
  /** Byte offset of the fault within the packet. */
  offsetInPacket: number;
  code: string;
  message: string;
}

export interface AnalyzeResult {
  file: string;
  capture: CaptureSummary | null;
  packets: number;
  /** Packets by decode outcome. */
  ipPackets: number;
  nonIpPackets: number;
  fragmentsHeld: number;
  unsupportedLink: number;
  malformed: number;
  malformedByCode: Record<string, number>;
  malformedExamples: MalformedPacket[];
  depthLimited: number;
  tracker: ConnectionTracker['stats'];
  decoder: PacketDecoder['stats'];
  /** Set when the capture could not be read to its end; records before the fault were all emitted. */
  error: CaptureError | null;
}

/**
 * Analyse one capture, calling `emit` for every connection record. Resolves with the counts;
 * a corrupt or truncated capture resolves too, with `error` set, after flushing every record
 * that the packets before the fault produced. Unreadable files (missing, not a capture) reject.
 */
export function analyzeFile(file: string, emitRecord: (r: ConnRecord) => void, opts: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  return analyzeSource(file, (onPacket, pace) => readCapture(file, onPacket, { reader: opts.reader, onProgress: opts.onProgress, pace }), emitRecord, opts);
}

/**
 * Analyse a capture arriving on a stream (stdin, tcpdump -w -): read as it comes, never seeked,
 * with bounded memory; each record is emitted as soon as its connection ends. `name` names the
 * input in messages ("-" for stdin).
 */
export function analyzeStream(
  input: Readable | NodeJS.ReadableStream,
  name: string,
  emitRecord: (r: ConnRecord) => void,
  opts: AnalyzeOptions = {},
): Promise<AnalyzeResult> {
  return analyzeSource(
    name,
    (onPacket, pace) => readCaptureStream(input, name, onPacket, { reader: opts.reader, onProgress: opts.onProgress, pace }),
    emitRecord,
    opts,
  );
}

async function analyzeSource(
  file: string,
  read: (onPacket: (p: CapturedPacket) => void, pace: (() => Promise<void> | undefined) | undefined) => Promise<CaptureSummary>,
  emitRecord: (r: ConnRecord) => void,
  opts: AnalyzeOptions,
): Promise<AnalyzeResult> {
  const enrich = opts.enrich;
  const emit = enrich
    ? (r: ConnRecord): void => {
        enrich(r);
        emitRecord(r);
      }
    : emitRecord;
  const decoder = new PacketDecoder({
    maxTunnelDepth: opts.maxTunnelDepth,
    vxlanPorts: opts.vxlanPorts,
    genevePorts: opts.genevePorts,
  });
  const decoded = decoder.newPacket();
  // Like `zeek -C` unless asked: captures taken in pods and on nodes carry offloaded (unfilled)
  // checksums, so a bad checksum is no reason to drop a packet unless the caller wants Zeek's default.
  const verifyChecksums = opts.verifyChecksums === true || opts.tracker?.verifyChecksums === true;
  const tracker = new ConnectionTracker({ ...opts.tracker, verifyChecksums }, emit);
  const maxExamples = opts.malformedExamples ?? 20;
  const res = emptyResult(file, tracker.stats, decoder.stats);

  const packetHook = opts.onPacket;
  const frameUids: string[] = [];
  let frameUidCount = 0;
  const onPacket = (p: CapturedPacket): void => {
    res.packets++;
    frameUidCount = 0;
    onDecoded(p, decoder.decode(p, decoded));
    // An 802.11 A-MSDU carries several packets in one frame.
    while (decoder.hasNext()) onDecoded(p, decoder.decodeNext(decoded));
    packetHook?.(p, frameUids, frameUidCount);
  };
  const tracked = (p: CapturedPacket): void => {
    tracker.onPacket(decoded, p.tsSec, p.tsNsec);
    if (packetHook === undefined) return;
    for (let i = 0; i < tracker.packetUidCount; i++) {
      const u = tracker.packetUids[i];
      // The frame's packets of an A-MSDU often share their carrier.
      let seen = false;
      for (let j = 0; j < frameUidCount; j++) if (frameUids[j] === u) seen = true;
      if (!seen) frameUids[frameUidCount++] = u;
    }
  };

  const onDecoded = (p: CapturedPacket, status: DecodeStatus): void => {
    if (countDecoded(res, p, decoded, status, maxExamples)) tracked(p);
  };

  const live = opts.liveClock;
  let timer: NodeJS.Timeout | null = null;
  let pace = opts.pace;
  if (live) {
    const now = live.now ?? ((): number => Date.now() / 1000);
    // While packets flow their own times drive the timers. The wall clock takes over only once
    // the input has been quiet for the slack: then nothing older is still on its way, and a
    // reader that falls behind a busy interface never ends a connection whose packets it has yet to read.
    let lastChunk = now();
    const inner = pace;
    pace = () => {
      lastChunk = now();
      return inner?.();
    };
    timer = setInterval(() => {
      const wall = now();
      if (wall - lastChunk >= live.slackSec) {
        const t = wall - live.slackSec;
        const sec = Math.floor(t);
        tracker.advance(sec, Math.floor((t - sec) * 1e9));
      }
      live.onTick?.(res);
    }, live.everyMs);
  }
  try {
    res.capture = await read(onPacket, pace);
  } catch (err) {
    if (!(err instanceof CaptureError)) throw err;
    // Nothing read at all means the file is not a capture: the caller reports it as unreadable.
    if (res.packets === 0 && err.offset === 0) throw err;
    res.error = err;
  } finally {
    if (timer !== null) clearInterval(timer);
  }
  // The connections still open go out in steps, each waiting for the output to take the last.
  while (!tracker.finishStep(FINISH_STEP)) {
    const wait = pace?.();
    if (wait !== undefined) await wait;
  }
  return res;
}

/**
 * Counts one decode outcome in `res`; true when the packet has layers to track. Layers repeated
 * from the frame's previous packet (A-MSDU) were tracked with it; of a malformed packet, the
 * layers before the fault are sound (e.g. the outer VXLAN flow of a broken inner frame).
 */
/** The counts of a capture before its first packet. */
export function emptyResult(file: string, tracker: AnalyzeResult['tracker'], decoder: AnalyzeResult['decoder']): AnalyzeResult {
  return {
    file,
    capture: null,
    packets: 0,
    ipPackets: 0,
    nonIpPackets: 0,
    fragmentsHeld: 0,
    unsupportedLink: 0,
    malformed: 0,
    malformedByCode: {},
    malformedExamples: [],
    depthLimited: 0,
    tracker,
    decoder,
    error: null,
  };
}

export function countDecoded(res: AnalyzeResult, p: CapturedPacket, d: DecodedPacket, status: DecodeStatus, maxExamples: number): boolean {
  if (d.depthLimited) res.depthLimited++;
  switch (status) {
    case DecodeStatus.OK:
      res.ipPackets++;
      return d.count > d.repeated;
    case DecodeStatus.NOT_IP:
      res.nonIpPackets++;
      return false;
    case DecodeStatus.FRAGMENT_HELD:
      res.fragmentsHeld++;
      return false;
    case DecodeStatus.UNSUPPORTED_LINK:
      res.unsupportedLink++;
      return false;
    case DecodeStatus.MALFORMED:
      recordMalformed(res, p, d, maxExamples);
      return d.count > d.repeated;
  }
  return false;
}

export function recordMalformed(res: AnalyzeResult, p: CapturedPacket, d: DecodedPacket, maxExamples: number): void {
  res.malformed++;
  const code = d.errorCode || 'malformed';
  res.malformedByCode[code] = (res.malformedByCode[code] ?? 0) + 1;
  if (res.malformedExamples.length < maxExamples) {
    res.malformedExamples.push({
      packet: p.index,
      fileOffset: p.fileOffset,
      offsetInPacket: d.errorOffset,
      code,
      message: d.errorMessage,
    });
  }
}
