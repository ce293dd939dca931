/**
 * One worker thread of `analyze --threads N` (threads.ts, analyzeByReaders): reads the whole
 * capture itself (the page cache serves every thread the same bytes) and decodes every packet, so
 * no packet crosses threads. It tracks the outer layers of tunnelled packets (every worker needs
 * their uids for its connections' tunnel_parents; only worker 0's outer records are sent) and the
 * innermost layers whose connection hashes to it (shardOf), and expires its timers on everyone
 * else's packet times. Its items go back in batches with their place in the one-tracker order, as
 * the ring workers' do (shard-worker.ts), so the reading thread's merge is the same.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readCapture } from '../../parsers/capture/open';
import { CaptureError, type CapturedPacket, type ReaderKind } from '../../parsers/capture/types';
import type { Expectation } from '../../parsers/conntrack/expect';
import { ConnectionTracker, EmitPhase, type TrackerOptions } from '../../parsers/conntrack/tracker';
import { PacketDecoder } from '../../parsers/decode/decoder';
import type { DecodeStatus } from '../../parsers/decode/layers';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { countDecoded, emptyResult } from './pipeline';
import { FIN_EVENT, ItemKind, type ReaderMessage } from './shard-protocol';
import { carries, shardOf } from './shard-hash';

export interface ReaderWorkerData {
  file: string;
  index: number;
  of: number;
  reader?: ReaderKind;
  maxTunnelDepth?: number;
  vxlanPorts?: number[];
  genevePorts?: number[];
  malformedExamples?: number;
  tracker: Partial<TrackerOptions>;
  analyzers: boolean | readonly string[];
  analyzePartial: boolean;
  /** Int32 [0]: items of this worker the reading thread has emitted (it notifies on it). */
  credit: SharedArrayBuffer;
  /** Items sent and not yet emitted before this worker waits (bounds the reading thread's queues). */
  maxAhead: number;
}

type Rec = ConnRecord | AppRecordOut | Expectation;

/** One source's items since the last batch. */
class Outbox {
  recs: Rec[] = [];
  meta: number[] = [];
  uids: string[] = [];
}

function run(): void {
  const port = parentPort;
  if (port === null) throw new Error('shard-reader runs as a worker thread');
  const data = workerData as ReaderWorkerData;
  const { index, of } = data;
  const credit = new Int32Array(data.credit);
  let g = 0;
  let sent = 0;

  const outer = new Outbox();
  const inner = new Outbox();
  // Only worker 0 sends the outer layers' items; the others track them for the uids alone.
  const sendOuter = index === 0;
  // The analyzers' modules are loaded only when they run: every worker pays for what it loads.
  const app = data.analyzers !== false ? (require('./app') as typeof import('./app')) : null;
  const payloadOf = (box: Outbox, tracker: () => ConnectionTracker) => {
    if (app === null || data.analyzers === false) return { payload: null, began: (_r: ConnRecord) => null };
    const { analyzerFactory, analyzerSelection, deferredExpectations } = app;
    const expect = deferredExpectations(
      () => ({ g, phase: tracker().order.phase }),
      (e) => push(box, tracker(), e, ItemKind.EXPECT, null),
    );
    return {
      began: expect.began,
      payload: analyzerFactory((r) => push(box, tracker(), r, ItemKind.APP, null), analyzerSelection(data.analyzers, data.analyzePartial), expect.hooks),
    };
  };
  const push = (box: Outbox, t: ConnectionTracker, r: Rec, kind: ItemKind, began: { g: number; phase: number } | null): void => {
    if (box === outer && !sendOuter) return;
    const o = t.order;
    box.recs.push(r);
    box.meta.push(g, o.phase, o.a, o.b, o.c, kind, began?.g ?? -1, began?.phase ?? -1);
    box.uids.push(o.phase === EmitPhase.FINISH ? o.uid : '');
  };
  const trackerOpts: Partial<TrackerOptions> = { ...data.tracker };
  const outerPay = payloadOf(outer, () => outerT);
  const outerT: ConnectionTracker = new ConnectionTracker({ ...trackerOpts, payload: outerPay.payload }, (r) =>
    push(outer, outerT, r, ItemKind.CONN, outerPay.began(r)),
  );
  const innerPay = payloadOf(inner, () => innerT);
  const innerT: ConnectionTracker = new ConnectionTracker({ ...trackerOpts, payload: innerPay.payload }, (r) =>
    push(inner, innerT, r, ItemKind.CONN, innerPay.began(r)),
  );

  const post = (upTo: number): void => {
    for (const [box, source] of [
      [outer, 0],
      [inner, 1],
    ] as const) {
      if (source === 0 && !sendOuter) continue;
      const msg: ReaderMessage = { type: 'batch', source, upTo, recs: box.recs, meta: Float64Array.from(box.meta), uids: box.uids };
      port.postMessage(msg, [msg.meta.buffer as ArrayBuffer]);
      sent += box.recs.length;
      box.recs = [];
      box.meta = [];
      box.uids = [];
    }
  };
  /** Waits while the reading thread has more than maxAhead of this worker's items still to emit. */
  const waitForCredit = (): void => {
    for (;;) {
      const done = Atomics.load(credit, 0);
      if (sent - done <= data.maxAhead) return;
      Atomics.wait(credit, 0, done, 100);
    }
  };

  const decoder = new PacketDecoder({ maxTunnelDepth: data.maxTunnelDepth, vxlanPorts: data.vxlanPorts, genevePorts: data.genevePorts });
  const decoded = decoder.newPacket();
  const maxExamples = data.malformedExamples ?? 20;
  const res = emptyResult(data.file, outerT.stats, decoder.stats);
  // The time the inner tracker last had: a tick at the same instant fires nothing new.
  let lastSec = -1;
  let lastNsec = -1;

  const event = (p: CapturedPacket): void => {
    const d = decoded;
    const count = d.count;
    outerT.stampBase = g * 64;
    const l = d.layers[count - 1];
    let mine = false;
    if (carries(decoder, l, d.innerTunnel)) outerT.onPacket(d, p.tsSec, p.tsNsec);
    else {
      let parent: string | null | undefined = null;
      if (count > 1) parent = outerT.onLayers(d, p.tsSec, p.tsNsec, 0, count - 1, null);
      else outerT.tick(p.tsSec, p.tsNsec);
      if (parent !== undefined && shardOf(l, of) === index) {
        mine = true;
        innerT.stampBase = g * 64;
        innerT.onLayers(d, p.tsSec, p.tsNsec, count - 1, count, parent);
      }
    }
    if (!mine && !(lastSec === p.tsSec && lastNsec === p.tsNsec)) {
      innerT.stampBase = g * 64;
      innerT.tick(p.tsSec, p.tsNsec);
    }
    lastSec = p.tsSec;
    lastNsec = p.tsNsec;
    g++;
  };
  const onDecoded = (p: CapturedPacket, status: DecodeStatus): void => {
    if (countDecoded(res, p, decoded, status, maxExamples)) event(p);
  };
  const onPacket = (p: CapturedPacket): void => {
    res.packets++;
    onDecoded(p, decoder.decode(p, decoded));
    while (decoder.hasNext()) onDecoded(p, decoder.decodeNext(decoded));
  };
  const onProgress =
    index === 0 ? (consumed: number, read: number) => port.postMessage({ type: 'progress', consumed, read } satisfies ReaderMessage) : undefined;
  const pace = (): undefined => {
    post(g);
    waitForCredit();
    return undefined;
  };

  const finish = (): void => {
    g = FIN_EVENT;
    outerT.finish();
    innerT.finish();
    post(FIN_EVENT);
    const { tracker: _t, decoder: _d, error: _e, ...counts } = res;
    port.postMessage({
      type: 'done',
      res: counts,
      decoder: { ...decoder.stats },
      outer: { ...outerT.stats },
      inner: { ...innerT.stats },
      error: res.error ? captureErrorFields(res.error) : null,
    } satisfies ReaderMessage);
  };

  readCapture(data.file, onPacket, { reader: data.reader, onProgress, pace }).then(
    (capture) => {
      res.capture = capture;
      finish();
    },
    (err: unknown) => {
      if (!(err instanceof CaptureError)) throw err;
      // Nothing read at all: the file is not a capture, which the caller reports as unreadable.
      if (res.packets === 0 && err.offset === 0) {
        port.postMessage({ type: 'unreadable', error: captureErrorFields(err) } satisfies ReaderMessage);
        return;
      }
      res.error = err;
      finish();
    },
  );
}

function captureErrorFields(e: CaptureError): { message: string; file: string; offset: number; record?: number } {
  return { message: e.message, file: e.file, offset: e.offset, record: e.record };
}

run();
