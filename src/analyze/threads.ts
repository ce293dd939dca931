/**
 * `analyze --threads N`: one capture file over N worker threads, with the records, their uids and
 * their order exactly those of the one-thread run (pipeline.ts).
 *
 * Each connection is tracked by the worker its innermost 5-tuple hashes to (a symmetric hash, so
 * both directions and every tunnel path of a connection reach one worker); the outer layers of
 * tunnelled packets (an outer flow such as a VXLAN UDP flow carries many inner connections, and
 * their tunnel_parents name its uid) by one tracker of their own. Every worker's timers also
 * see the other workers' packet times (ticks), so they fire at exactly the packet where one
 * tracker's would. Two hand-offs (handOff):
 *  - 'read' (the default, analyzeByReaders): every worker reads and decodes the whole file itself
 *    (shard-reader.ts) and tracks the outer layers too, for their uids; worker 0 sends their
 *    records. No packet crosses threads; this thread only merges.
 *  - 'ring' (always for `shard`): this thread reads and decodes every packet, tracks the outer
 *    layers, and hands each packet's innermost layer, with the uid of the connection carrying it,
 *    to its worker through a SharedArrayBuffer ring per worker (shard-ring.ts), never a message
 *    per packet; the other workers get its time.
 *
 * Order: the trackers say where in a packet's processing each record comes out (EmitOrder); every
 * item carries the packet's global index too, and this thread merges them, once every source has
 * passed an index, in that order: expiry by list, deadline and the stamp of entering the list, then the
 * layers outermost first, and at the end the live connections by first packet time and uid.
 * What can still differ from one thread: a live table that reaches --max-connections (each shard
 * counts its own); timer lists a single tracker could not keep in deadline order (packets far
 * out of time order, or DNS connections active for longer than dns_session_timeout); and a UDP
 * flow off the tunnel ports that the decoder takes for Teredo or AYIYA (by its payload) in some
 * packets and not in others (see `carries`).
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { readCapture } from '../../parsers/capture/open';
import { CaptureError, type CapturedPacket } from '../../parsers/capture/types';
import { PacketDecoder } from '../../parsers/decode/decoder';
import type { DecodeStatus, FlowLayer } from '../../parsers/decode/layers';
import { ConnectionTracker, EmitPhase, type TrackerOptions, type TrackerStats } from '../../parsers/conntrack/tracker';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import { ExpectedResolver, analyzerFactory, analyzerSelection, deferredExpectations } from './app';
import type { Expectation } from '../../parsers/conntrack/expect';
import { type AnalyzeOptions, type AnalyzeResult, countDecoded, emptyResult } from './pipeline';
import { type CaptureErrorFields, FIN_EVENT, ItemKind, META_WORDS, type ReaderMessage, type ShardBatch, type ShardMessage } from './shard-protocol';
import type { ReaderWorkerData } from './shard-reader';
import { type RingBuffers, RingWriter, newRing } from './shard-ring';
import { carries, shardOf } from './shard-hash';

export { carries, shardOf };

export interface ThreadedOptions extends AnalyzeOptions {
  /** Worker threads (>= 1). */
  threads: number;
  /** Protocol analyzers (all: true; these by name; none: false): their records go to onApp, in the one-thread order among the connection records. */
  analyzers: boolean | readonly string[];
  /** HTTP and TLS on connections seen without their SYN too (MuxOptions.analyzePartial). */
  analyzePartial?: boolean;
  onApp?: (r: AppRecordOut) => void;
  /**
   * How packets reach the workers: 'read' (default), every worker reads the file itself and keeps
   * its connections' packets; 'ring', this thread decodes them and hands each worker its packets'
   * innermost layers through a shared ring (always so for `shard`).
   */
  handOff?: 'read' | 'ring';
  /** 'read': a worker's items not yet merged before it waits (default 65536). */
  maxItemsAhead?: number;
  /** Bytes of each worker's ring (default 32 MiB: measured a little faster than 8 MiB on a loaded machine, where a full ring waits on the scheduler). */
  ringBytes?: number;
  /**
   * One shard of `of` (the service's shard jobs, jobs/capture-shards.ts): only the connections whose
   * innermost 5-tuple hashes to `index` (the hash that places them on threads), as the `--threads
   * of` run's worker `index` makes them, and the outer layers' connections only in shard 0. Every
   * packet is still read and decoded: the shard's timers fire on everyone's packets, and the outer
   * layers are tracked in every shard for the tunnel_parents of its connections. With one thread.
   */
  shard?: { index: number; of: number };
  /**
   * Every item that comes out, in the merged order, with its place in it (the key compareItems
   * sorts on, the source numbered as in the `--threads shard.of` run): shards' items merged by it
   * come in that run's order. Before the item goes to emitRecord or onApp.
   */
  onOrdered?: (item: OrderedItem) => void;
}

/** An item of the merged output with its place in the one-tracker order (see ThreadedOptions.onOrdered). */
export interface OrderedItem {
  g: number;
  phase: number;
  a: number;
  b: number;
  c: number;
  uid: string;
  source: number;
  seq: number;
  kind: ItemKind;
  /** A connection record's: where its connection began (g -1: not analysed). */
  gs: number;
  ps: number;
  rec: ConnRecord | AppRecordOut | Expectation;
}

/** One item waiting for the merge. */
type Item = OrderedItem;

export function compareItems(x: OrderedItem, y: OrderedItem): number {
  return (
    x.g - y.g ||
    x.phase - y.phase ||
    x.a - y.a ||
    x.b - y.b ||
    x.c - y.c ||
    (x.uid === y.uid ? 0 : x.uid < y.uid ? -1 : 1) ||
    x.source - y.source ||
    x.seq - y.seq
  );
}

/**
 * The merge of every source's items into the one-tracker order. Announced connections (FTP data,
 * IRC DCC) are matched here: announcer and announced may be different threads' connections, and
 * here both come in the one-tracker order. Source 0 is the outer layers' tracker, source s > 0
 * worker s - 1's; each source's items come in its own order, with a mark: every item of events
 * before it has come.
 */
class OrderedMerge {
  private readonly expected = new ExpectedResolver();
  readonly queues: Item[][] = [];
  private readonly heads: number[] = [];
  readonly marks: number[] = [];
  readonly seqs: number[] = [];
  /** Items emitted per source (the reading workers' credit, see analyzeByReaders). */
  readonly emitted: number[] = [];

  constructor(
    private readonly n: number,
    private readonly opts: ThreadedOptions,
    private readonly emitRecord: (r: ConnRecord) => void,
    /** false: the outer layers' items are another shard's (only their announcements count here). */
    private readonly mainOut: boolean,
    /** The source an item has in the `--threads shard.of` run (null: as it is). */
    private readonly sourceOf: ((s: number) => number) | null,
  ) {
    for (let s = 0; s <= n; s++) {
      this.queues.push([]);
      this.heads.push(0);
      this.marks.push(0);
      this.seqs.push(0);
      this.emitted.push(0);
    }
  }

  /** Emits what every source has passed (`all`: everything, at the end). */
  flush(all = false): void {
    const { queues, heads, marks, expected, mainOut, sourceOf } = this;
    const { onOrdered, onApp, enrich } = this.opts;
    const emitRecord = this.emitRecord;
    let w = Number.POSITIVE_INFINITY;
    if (!all) for (const m of marks) if (m < w) w = m;
    const ready: Item[] = [];
    for (let s = 0; s <= this.n; s++) {
      const q = queues[s];
      let h = heads[s];
      const from = h;
      while (h < q.length && q[h].g < w) ready.push(q[h++]);
      this.emitted[s] += h - from;
      if (h === q.length) {
        queues[s] = [];
        heads[s] = 0;
      } else if (h > 4096 && h * 2 > q.length) {
        queues[s] = q.slice(h);
        heads[s] = 0;
      } else heads[s] = h;
    }
    if (ready.length === 0) return;
    ready.sort(compareItems);
    for (const it of ready) {
      if (it.source === 0 && !mainOut) {
        // Announcements of the outer layers still reach this shard's connections.
        if (it.kind === ItemKind.EXPECT) expected.announce(it.rec as Expectation, it);
        continue;
      }
      if (onOrdered) {
        if (it.kind === ItemKind.CONN && it.gs >= 0) expected.record(it.rec as ConnRecord, { g: it.gs, phase: it.ps }, it);
        onOrdered(sourceOf === null ? it : { ...it, source: sourceOf(it.source) });
      }
      if (it.kind === ItemKind.APP) onApp?.(it.rec as AppRecordOut);
      else if (it.kind === ItemKind.EXPECT) expected.announce(it.rec as Expectation, it);
      else {
        const r = it.rec as ConnRecord;
        if (it.gs >= 0 && !onOrdered) expected.record(r, { g: it.gs, phase: it.ps }, it);
        enrich?.(r);
        emitRecord(r);
      }
    }
  }

  /** Queues a worker's batch as source `source`'s items. */
  take(source: number, m: ShardBatch): void {
    const q = this.queues[source];
    const meta = m.meta;
    for (let i = 0; i < m.recs.length; i++) {
      const k = i * META_WORDS;
      q.push({
        g: meta[k],
        phase: meta[k + 1],
        a: meta[k + 2],
        b: meta[k + 3],
        c: meta[k + 4],
        uid: m.uids[i],
        source,
        seq: this.seqs[source]++,
        kind: meta[k + 5] as ItemKind,
        gs: meta[k + 6],
        ps: meta[k + 7],
        rec: m.recs[i],
      });
    }
    this.marks[source] = m.upTo;
  }
}

/** A CaptureError as a reading worker described it (its class does not cross threads). */
function captureError(f: CaptureErrorFields): CaptureError {
  const e = new CaptureError('', f.file, f.offset, f.record);
  e.message = f.message;
  return e;
}

/**
 * `--threads N` with every worker reading the file itself (shard-reader.ts): this thread only merges
 * the workers' items in the one-tracker order and hands them on. Every worker decodes every packet
 * (the cost of not handing packets over) and tracks the tunnels' outer layers for their uids.
 */
async function analyzeByReaders(file: string, emitRecord: (r: ConnRecord) => void, opts: ThreadedOptions): Promise<AnalyzeResult> {
  const n = opts.threads;
  const merge = new OrderedMerge(n, opts, emitRecord, true, null);
  const verifyChecksums = opts.verifyChecksums === true || opts.tracker?.verifyChecksums === true;
  const trackerOpts: Partial<TrackerOptions> = { ...opts.tracker, verifyChecksums, payload: undefined };
  const credits: Int32Array[] = [];
  const workers: Worker[] = [];
  const dones: (Extract<ReaderMessage, { type: 'done' }> | null)[] = new Array(n).fill(null);
  let failure: Error | null = null;
  let unreadable: CaptureError | null = null;
  /** Set once this thread stops the workers itself: their exits are then no failure. */
  let stopping = false;
  // The merge runs in the loop below, woken by each message.
  let dirty = false;
  let wake: (() => void) | null = null;
  const poke = (): void => {
    dirty = true;
    const w = wake;
    wake = null;
    w?.();
  };
  const finished: Promise<void>[] = [];
  for (let w = 0; w < n; w++) {
    const credit = new SharedArrayBuffer(4);
    credits.push(new Int32Array(credit));
    const data: ReaderWorkerData = {
      file,
      index: w,
      of: n,
      reader: opts.reader,
      maxTunnelDepth: opts.maxTunnelDepth,
      vxlanPorts: opts.vxlanPorts,
      genevePorts: opts.genevePorts,
      malformedExamples: opts.malformedExamples,
      tracker: trackerOpts,
      analyzers: opts.analyzers,
      analyzePartial: opts.analyzePartial === true,
      credit,
      maxAhead: opts.maxItemsAhead ?? 1 << 16,
    };
    const worker = new Worker(path.join(__dirname, 'shard-reader.js'), { workerData: data });
    workers.push(worker);
    finished.push(
      new Promise<void>((resolve) => {
        let reported = false;
        const end = (): void => {
          reported = true;
          resolve();
          poke();
        };
        worker.on('message', (m: ReaderMessage) => {
          if (m.type === 'batch') {
            merge.take(m.source === 0 ? 0 : w + 1, m);
            poke();
          } else if (m.type === 'progress') opts.onProgress?.(m.consumed, m.read);
          else if (m.type === 'unreadable') {
            unreadable ??= captureError(m.error);
            end();
          } else {
            dones[w] = m;
            end();
          }
        });
        worker.on('error', (e) => {
          failure ??= e;
          end();
        });
        worker.on('exit', (code) => {
          if (code !== 0) {
            if (!stopping) failure ??= new Error(`worker thread ${w + 1} exited with code ${code}`);
            end();
            return;
          }
          // 'exit' can come before the messages the thread posted last: those still arrive.
          if (!reported)
            setTimeout(() => {
              if (reported) return;
              failure ??= new Error(`worker thread ${w + 1} exited without reporting its last records`);
              end();
            }, 5000);
        });
      }),
    );
  }
  let over = false;
  void Promise.all(finished).then(() => {
    over = true;
    poke();
  });
  try {
    for (;;) {
      if (!dirty) await new Promise<void>((r) => (wake = r));
      dirty = false;
      if (failure || unreadable) break;
      merge.flush();
      // Credit back: a worker runs at most maxItemsAhead items ahead of what went out.
      for (let w = 0; w < n; w++) {
        const out = merge.emitted[w + 1] + (w === 0 ? merge.emitted[0] : 0);
        if (Atomics.load(credits[w], 0) !== out) {
          Atomics.store(credits[w], 0, out);
          Atomics.notify(credits[w], 0);
        }
      }
      if (over) break;
      const wait = opts.pace?.();
      if (wait) await wait;
    }
  } finally {
    // A worker may be waiting for credit that will not come.
    if (failure || unreadable || !over) {
      stopping = true;
      await Promise.all(workers.map((wk) => wk.terminate()));
    }
  }
  // Every worker finds a file that is no capture so: the first to say so is the answer.
  if (unreadable) throw unreadable;
  if (failure) throw failure;
  merge.flush(true);
  const first = dones[0] as Extract<ReaderMessage, { type: 'done' }>;
  const tracker: TrackerStats = { ...first.outer };
  for (const d of dones) for (const k of Object.keys(tracker) as (keyof TrackerStats)[]) tracker[k] += (d as typeof first).inner[k];
  return { ...first.res, tracker, decoder: first.decoder, error: first.error ? captureError(first.error) : null };
}

export async function analyzeFileThreaded(file: string, emitRecord: (r: ConnRecord) => void, opts: ThreadedOptions): Promise<AnalyzeResult> {
  const n = opts.threads;
  if (!(n >= 1)) throw new Error('threads must be >= 1');
  const shard = opts.shard;
  if (shard && (n !== 1 || !(shard.of >= 1) || !(shard.index >= 0 && shard.index < shard.of)))
    throw new Error('a shard runs on one thread, with 0 <= index < of');
  if (shard === undefined && opts.handOff !== 'ring') return analyzeByReaders(file, emitRecord, opts);
  // The outer layers' items are shard 0's; the worker is source index + 1, as in the `--threads of` run.
  const mainOut = shard === undefined || shard.index === 0;
  const sourceOf = (s: number): number => (shard === undefined || s === 0 ? s : shard.index + 1);
  const verifyChecksums = opts.verifyChecksums === true || opts.tracker?.verifyChecksums === true;
  const trackerOpts: Partial<TrackerOptions> = { ...opts.tracker, verifyChecksums, payload: null };

  // ---- the merge
  const merge = new OrderedMerge(n, opts, emitRecord, mainOut, shard === undefined ? null : sourceOf);
  const { queues, marks, seqs } = merge;
  const flush = (all = false): void => merge.flush(all);

  // ---- this thread's tracker: the outer layers
  let g = 0;
  let main: ConnectionTracker;
  const mainExpect = deferredExpectations(
    () => ({ g, phase: main.order.phase }),
    (e) => pushMain(e, ItemKind.EXPECT),
  );
  const pushMain = (rec: ConnRecord | AppRecordOut | Expectation, kind: ItemKind): void => {
    const o = main.order;
    const began = kind === ItemKind.CONN ? mainExpect.began(rec as ConnRecord) : null;
    queues[0].push({
      g,
      phase: o.phase,
      a: o.a,
      b: o.b,
      c: o.c,
      uid: o.phase === EmitPhase.FINISH ? o.uid : '',
      source: 0,
      seq: seqs[0]++,
      kind,
      gs: began?.g ?? -1,
      ps: began?.phase ?? -1,
      rec,
    });
  };
  main = new ConnectionTracker(
    {
      ...trackerOpts,
      payload:
        opts.analyzers !== false
          ? analyzerFactory((r) => pushMain(r, ItemKind.APP), analyzerSelection(opts.analyzers, opts.analyzePartial), mainExpect.hooks)
          : null,
    },
    (r) => pushMain(r, ItemKind.CONN),
  );

  // ---- the workers
  const rings: RingBuffers[] = [];
  const writers: RingWriter[] = [];
  const workers: Worker[] = [];
  const stats: TrackerStats[] = [];
  let failure: Error | null = null;
  const finished: Promise<void>[] = [];
  for (let w = 0; w < n; w++) {
    const ring = newRing(opts.ringBytes ?? 32 << 20);
    rings.push(ring);
    writers.push(new RingWriter(ring));
    const worker = new Worker(path.join(__dirname, 'shard-worker.js'), {
      workerData: { ring, tracker: { ...trackerOpts, payload: undefined }, analyzers: opts.analyzers, analyzePartial: opts.analyzePartial === true },
    });
    workers.push(worker);
    const source = w + 1;
    finished.push(
      new Promise<void>((resolve) => {
        let reported = false;
        worker.on('message', (m: ShardMessage) => {
          if (m.type === 'done') {
            reported = true;
            stats.push(m.stats);
            resolve();
            return;
          }
          merge.take(source, m);
          flush();
        });
        worker.on('error', (e) => {
          failure ??= e;
          resolve();
        });
        worker.on('exit', (code) => {
          if (code !== 0) {
            failure ??= new Error(`worker thread ${source} exited with code ${code}`);
            resolve();
            return;
          }
          // 'exit' can come before the messages the thread posted last (its final batch and
          // 'done'): those still arrive, and resolve. Only a thread that never reports fails.
          if (!reported)
            setTimeout(() => {
              if (reported) return;
              failure ??= new Error(`worker thread ${source} exited without reporting its last records`);
              resolve();
            }, 5000);
        });
      }),
    );
  }

  // ---- reading
  const decoder = new PacketDecoder({ maxTunnelDepth: opts.maxTunnelDepth, vxlanPorts: opts.vxlanPorts, genevePorts: opts.genevePorts });
  const decoded = decoder.newPacket();
  const maxExamples = opts.malformedExamples ?? 20;
  const res = emptyResult(file, main.stats, decoder.stats);
  // The time each worker last got: a tick at the same instant fires nothing new (every timeout is
  // positive, so whatever was scheduled since is due later), so runs of equal times go once.
  const lastSec = new Float64Array(n).fill(-1);
  // Without payload analysis or checksum checks the tracker reads only addresses and MACs from the bytes.
  const wholePackets = opts.analyzers !== false || verifyChecksums;
  const lastNsec = new Float64Array(n).fill(-1);

  const carrier = (l: FlowLayer, innerTunnel: number): boolean => carries(decoder, l, innerTunnel);

  const event = (p: CapturedPacket): void => {
    const d = decoded;
    const count = d.count;
    main.stampBase = g * 64;
    const inner = d.layers[count - 1];
    let target = -1;
    if (carrier(inner, d.innerTunnel)) main.onPacket(d, p.tsSec, p.tsNsec);
    else {
      let parent: string | null | undefined = null;
      if (count > 1) parent = main.onLayers(d, p.tsSec, p.tsNsec, 0, count - 1, null);
      else main.tick(p.tsSec, p.tsNsec);
      if (parent !== undefined && (shard === undefined || shardOf(inner, shard.of) === shard.index)) {
        target = n === 1 ? 0 : shardOf(inner, n);
        // The packet's own bytes (its layers point into the reader's chunk), or all of a reassembled
        // datagram's; as far as the tracker may look: the transport's bytes per IP length when
        // payload is analysed or checksums verified, else only the addresses and MACs.
        const buf = inner.buf;
        let lo = 0;
        let hi = buf.length;
        if (buf === p.buf) lo = p.offset;
        if (!wholePackets) {
          hi = Math.max(inner.srcOff, inner.dstOff) + inner.addrLen;
          if (inner.srcMacOff >= 0) hi = Math.max(hi, inner.srcMacOff + 6);
          if (inner.dstMacOff >= 0) hi = Math.max(hi, inner.dstMacOff + 6);
          hi = Math.min(buf.length, hi);
        } else if (buf === p.buf) {
          hi = Math.min(buf.length, Math.max(p.offset + p.caplen, inner.l4Off + inner.l4Len, inner.payloadOff + inner.capturedPayloadLen));
        }
        writers[target].packet(g, p.tsSec, p.tsNsec, inner, count - 1, d.innerTunnel, parent, lo, hi);
        lastSec[target] = p.tsSec;
        lastNsec[target] = p.tsNsec;
      }
    }
    for (let w = 0; w < n; w++) {
      if (w === target || (lastSec[w] === p.tsSec && lastNsec[w] === p.tsNsec)) continue;
      writers[w].tick(g, p.tsSec, p.tsNsec);
      lastSec[w] = p.tsSec;
      lastNsec[w] = p.tsNsec;
    }
    g++;
    marks[0] = g;
  };

  const onDecoded = (p: CapturedPacket, status: DecodeStatus): void => {
    if (countDecoded(res, p, decoded, status, maxExamples)) event(p);
  };
  const onPacket = (p: CapturedPacket): void => {
    res.packets++;
    onDecoded(p, decoder.decode(p, decoded));
    while (decoder.hasNext()) onDecoded(p, decoder.decodeNext(decoded));
  };
  const pace = (): Promise<void> | undefined => {
    for (const w of writers) w.publish(true);
    flush();
    return opts.pace?.();
  };

  try {
    try {
      res.capture = await readCapture(file, onPacket, { reader: opts.reader, onProgress: opts.onProgress, pace });
    } catch (err) {
      if (!(err instanceof CaptureError)) throw err;
      if (res.packets === 0 && err.offset === 0) throw err;
      res.error = err;
    }
    g = FIN_EVENT;
    main.finish();
    marks[0] = FIN_EVENT;
  } finally {
    for (const w of writers) w.close();
    await Promise.all(finished);
  }
  if (failure) throw failure;
  flush(true);
  const total: TrackerStats = { ...main.stats };
  for (const s of stats) for (const k of Object.keys(total) as (keyof TrackerStats)[]) total[k] += s[k];
  res.tracker = total;
  return res;
}
