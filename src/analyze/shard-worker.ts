/**
 * One worker thread of `analyze --threads`: tracks the innermost layer of the packets whose
 * connection hashes to it (see threads.ts), reading them from its ring, and expires its timers on
 * the ticks of everyone else's packets. Its records go back in batches, each item with its place
 * in the single-tracker order (the tracker's EmitOrder and the packet's global index).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DecodedPacket, DecodeStatus, FlowLayer } from '../../parsers/decode/layers';
import { ConnectionTracker, EmitPhase, type TrackerOptions } from '../../parsers/conntrack/tracker';
import type { ConnRecord } from '../../parsers/record/conn';
import type { AppRecordOut } from '../../parsers/record/app';
import { analyzerFactory, analyzerSelection, deferredExpectations } from './app';
import { ENTRY_TICK, RingReader, type RingBuffers, markFailed } from './shard-ring';
import type { Expectation } from '../../parsers/conntrack/expect';
import { FIN_EVENT, ItemKind, type ShardBatch, type ShardDone } from './shard-protocol';

interface ShardWorkerData {
  ring: RingBuffers;
  tracker: Partial<TrackerOptions>;
  analyzers: boolean | readonly string[];
  analyzePartial: boolean;
}

/** Items per batch message, and events without a message at most (so the merge can move on). */
const BATCH_ITEMS = 4096;
const PROGRESS_EVENTS = 65536;

function run(): void {
  const port = parentPort;
  if (port === null) throw new Error('shard-worker runs as a worker thread');
  const data = workerData as ShardWorkerData;
  const reader = new RingReader(data.ring);
  let g = 0;
  let recs: (ConnRecord | AppRecordOut | Expectation)[] = [];
  let meta: number[] = [];
  let uids: string[] = [];
  let posted = 0;
  let upTo = 0;
  let tracker: ConnectionTracker;
  // Announced connections are matched in the reading thread's merge, which sees every shard's.
  const expect = deferredExpectations(
    () => ({ g, phase: tracker.order.phase }),
    (e) => push(e, ItemKind.EXPECT),
  );
  const push = (r: ConnRecord | AppRecordOut | Expectation, kind: ItemKind): void => {
    const o = tracker.order;
    recs.push(r);
    const began = kind === ItemKind.CONN ? expect.began(r as ConnRecord) : null;
    meta.push(g, o.phase, o.a, o.b, o.c, kind, began?.g ?? -1, began?.phase ?? -1);
    uids.push(o.phase === EmitPhase.FINISH ? o.uid : '');
  };
  tracker = new ConnectionTracker(
    {
      ...data.tracker,
      payload:
        data.analyzers !== false ? analyzerFactory((r) => push(r, ItemKind.APP), analyzerSelection(data.analyzers, data.analyzePartial), expect.hooks) : null,
    },
    (r) => push(r, ItemKind.CONN),
  );
  const post = (): void => {
    const msg: ShardBatch = { type: 'batch', upTo, recs, meta: Float64Array.from(meta), uids };
    port.postMessage(msg, [msg.meta.buffer as ArrayBuffer]);
    posted = upTo;
    recs = [];
    meta = [];
    uids = [];
  };

  const d = new DecodedPacket(16);
  d.status = DecodeStatus.OK;
  const layer = new FlowLayer();
  for (;;) {
    if (reader.next(layer)) {
      g = reader.g;
      tracker.stampBase = g * 64;
      if (reader.kind === ENTRY_TICK) tracker.tick(reader.tsSec, reader.tsNsec);
      else {
        const L = reader.layer;
        d.layers[L] = layer;
        d.count = L + 1;
        d.innerTunnel = reader.innerTunnel;
        tracker.onLayers(d, reader.tsSec, reader.tsNsec, L, L + 1, reader.parent);
      }
      upTo = g + 1;
      if (recs.length >= BATCH_ITEMS || upTo - posted >= PROGRESS_EVENTS) post();
    } else if (reader.done()) break;
    else {
      if (upTo > posted || recs.length > 0) post();
      reader.wait(100);
    }
  }
  g = FIN_EVENT;
  tracker.finish();
  upTo = FIN_EVENT;
  post();
  const done: ShardDone = { type: 'done', stats: { ...tracker.stats } };
  port.postMessage(done);
}

try {
  run();
} catch (e) {
  // The reading thread may be waiting for room in the ring: tell it no one will make any.
  markFailed((workerData as ShardWorkerData).ring);
  throw e;
}
