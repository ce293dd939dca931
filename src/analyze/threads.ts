/**
 * `analyze --threads N`: one capture file over N worker threads, with the records, their uids and
 * their order exactly those of the one-thread run (pipeline.ts).
 *
 * This thread reads and decodes every packet, tracks the outer layers of tunnelled packets
 * itself (an outer flow such as a VXLAN UDP flow carries many inner connections, and their
 * tunnel_parents name its uid), and hands each packet's innermost layer, with the uid of the
 * connection carrying it, to the worker its connection hashes to: a symmetric hash of the
 * innermost 5-tuple, so both directions and every tunnel path of a connection reach one worker.
 * Hand-off is through a SharedArrayBuffer ring per worker (shard-ring.ts), never a message per
 * packet. Every other worker gets the packet's time (a tick), so each shard's timers fire at
 * exactly the packet where one tracker's would.
 *
 * Order: the trackers say where in a packet's processing each record comes out (EmitOrder); every
 * item carries the packet's global index too, and this thread merges them, once every source has
 * passed an index, in that order: expiry by list, deadline and the stamp of entering the list, then the
 * layers outermost first, and at the end the live connections by first packet time and uid.
 * What can still differ from one thread: a live table that reaches --max-connections (each shard
 * counts its own); timer lists a single tracker could not keep in deadline order (packets far
 * out of time order, or DNS connections active for longer than dns_session_timeout); and a UDP
 * flow off the tunnel ports that the decoder takes for Teredo or AYIYA (by its payload) in some
 * packets and not in others (see `carrier`).
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
import { type AnalyzeOptions, type AnalyzeResult, countDecoded } from './pipeline';
import { FIN_EVENT, ItemKind, META_WORDS, type ShardMessage } from './shard-protocol';
import { type RingBuffers, RingWriter, newRing } from './shard-ring';

export interface ThreadedOptions extends AnalyzeOptions {
  /** Worker threads (>= 1). */
  threads: number;
  /** Protocol analyzers (all: true; these by name; none: false): their records go to onApp, in the one-thread order among the connection records. */
  analyzers: boolean | readonly string[];
  /** HTTP and TLS on connections seen without their SYN too (MuxOptions.analyzePartial). */
  analyzePartial?: boolean;
  onApp?: (r: AppRecordOut) => void;
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

/** Symmetric in the two endpoints: (a, p) -> (b, q) and (b, q) -> (a, p) hash alike. */
function endpointHash(buf: Buffer, off: number, len: number, port: number): number {
  let h = 0x9747b28c ^ port;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ buf[off + i], 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

export function shardOf(l: FlowLayer, shards: number): number {
  // Ports only where the tracker keys on them; ICMP and the rest go by addresses (a superset).
  const ports = l.proto === 6 || l.proto === 17;
  const h = (endpointHash(l.buf, l.srcOff, l.addrLen, ports ? l.sport : 0) + endpointHash(l.buf, l.dstOff, l.addrLen, ports ? l.dport : 0)) >>> 0;
  let x = Math.imul(h ^ (h >>> 16) ^ l.proto, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  return (x >>> 0) % shards;
}

export async function analyzeFileThreaded(file: string, emitRecord: (r: ConnRecord) => void, opts: ThreadedOptions): Promise<AnalyzeResult> {
  const n = opts.threads;
  if (!(n >= 1)) throw new Error('threads must be >= 1');
  const shard = opts.shard;
  if (shard && (n !== 1 || !(shard.of >= 1) || !(shard.index >= 0 && shard.index < shard.of)))
    throw new Error('a shard runs on one thread, with 0 <= index < of');
  // The outer layers' items are shard 0's; the worker is source index + 1, as in the `--threads of` run.
  const mainOut = shard === undefined || shard.index === 0;
  const sourceOf = (s: number): number => (shard === undefined || s === 0 ? s : shard.index + 1);
  const onOrdered = opts.onOrdered;
  const enrich = opts.enrich;
  const onApp = opts.onApp;
  const verifyChecksums = opts.verifyChecksums === true || opts.tracker?.verifyChecksums === true;
  const trackerOpts: Partial<TrackerOptions> = { ...opts.tracker, verifyChecksums, payload: null };

  // ---- the merge
  // Announced connections (FTP data, IRC DCC) are matched here: announcer and announced may be
  // different threads' connections, and here both come in the one-tracker order.
  const expected = new ExpectedResolver();
  const queues: Item[][] = [];
  const heads: number[] = [];
  const marks: number[] = [];
  const seqs: number[] = [];
  for (let s = 0; s <= n; s++) {
    queues.push([]);
    heads.push(0);
    marks.push(0);
    seqs.push(0);
  }
  /** Emits what every source has passed (`all`: everything, at the end). */
  const flush = (all = false): void => {
    let w = Number.POSITIVE_INFINITY;
    if (!all) for (const m of marks) if (m < w) w = m;
    const ready: Item[] = [];
    for (let s = 0; s <= n; s++) {
      const q = queues[s];
      let h = heads[s];
      while (h < q.length && q[h].g < w) ready.push(q[h++]);
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
        onOrdered(shard === undefined ? it : { ...it, source: sourceOf(it.source) });
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
  };

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
          const q = queues[source];
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
              seq: seqs[source]++,
              kind: meta[k + 5] as ItemKind,
              gs: meta[k + 6],
              ps: meta[k + 7],
              rec: m.recs[i],
            });
          }
          marks[source] = m.upTo;
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
  const res: AnalyzeResult = {
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
    tracker: main.stats,
    decoder: decoder.stats,
    error: null,
  };
  // The time each worker last got: a tick at the same instant fires nothing new (every timeout is
  // positive, so whatever was scheduled since is due later), so runs of equal times go once.
  const lastSec = new Float64Array(n).fill(-1);
  // Without payload analysis or checksum checks the tracker reads only addresses and MACs from the bytes.
  const wholePackets = opts.analyzers !== false || verifyChecksums;
  const lastNsec = new Float64Array(n).fill(-1);

  /**
   * Whether the innermost layer's connection belongs to this thread: a flow that carries a tunnel
   * in some packets and not in others (ARP inside VXLAN, a packet whose tunnel header is broken)
   * must be one connection, so every flow that can carry one stays here: UDP on a tunnel port,
   * IP-in-IP and GRE, and whatever the decoder found a tunnel header in.
   */
  const carrier = (l: FlowLayer, innerTunnel: number): boolean => {
    if (innerTunnel !== 0) return true;
    const proto = l.proto;
    if (proto === 17) return decoder.isTunnelPort(l.dport) || decoder.isTunnelPort(l.sport);
    return proto === 4 || proto === 41 || proto === 47;
  };

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
