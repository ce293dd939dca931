/**
 * UDP collector for NetFlow v5, v9 and IPFIX: datagrams are decoded as they arrive, each flow
 * becomes a connection record (the two one-way records of a conversation stitched into one,
 * parsers/netflow/stitch.ts; a malformed datagram gives none), and records are handed on in batches (by count, or after a delay
 * so that a quiet exporter's records are not held back), so that ingestion does not pay a call
 * per record. UDP has no backpressure: the consumer must keep up, or datagrams are lost in the
 * kernel (see `receiveBufferSize`).
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import type { Writable } from 'node:stream';
import type { DecoderOptions, ExporterStats, NetflowProblem } from '../../parsers/netflow/decoder';
import { NetflowRecords } from '../../parsers/netflow/records';
import type { StitchOptions } from '../../parsers/netflow/stitch';
import type { ConnRecord } from '../../parsers/record/conn';
import { createWriter } from '../output/formats';
import type { CollectFormat } from './formats';
import { TextSink } from '../output/sink';

export interface CollectorOptions {
  /** Address to bind, e.g. 127.0.0.1, ::1, 0.0.0.0. */
  host: string;
  /** UDP port; 0 picks a free one (see Collector.address). */
  port: number;
  /** Receives each batch. A returned promise's rejection goes to onError; it is not awaited (UDP cannot wait). */
  onRecords(batch: ConnRecord[]): void | Promise<void>;
  /** Malformed datagrams (with exporter, offset, reason) and socket or consumer errors. */
  onError?(e: NetflowProblem | Error): void;
  /** Hand on a batch when it reaches this many records (default 1000). */
  batchMax?: number;
  /** ... or this many ms after its first record (default 1000). */
  batchMs?: number;
  /** local_orig/local_resp networks (default as `analyze`). */
  localNets?: readonly string[];
  /** Template expiry and hold bounds. */
  decoder?: Omit<DecoderOptions, 'onProblem'>;
  /** SO_RCVBUF in bytes (the kernel may cap it); bursts beyond it are dropped by the kernel. */
  receiveBufferSize?: number;
  /** Pairing of one-way records (default: hold 60 s of arrival time, 100000 waiting); false turns it off. */
  stitch?: StitchOptions | false;
}

export interface CollectorExporterStats extends ExporterStats {
  /** Connection records produced (flows without IP addresses produce none), before stitching. */
  records: number;
  /** Records of datagrams found malformed, dropped. */
  dropped: number;
}

export interface Collector {
  /** The bound address (useful with port 0). */
  readonly address: { address: string; port: number; family: string };
  /** Counters per exporter address. */
  stats(): Map<string, CollectorExporterStats>;
  /** Hand on the pending batch now. */
  flush(): void;
  /** Stop receiving, hand on the pending batch, close the socket. */
  close(): Promise<void>;
}

export function startCollector(o: CollectorOptions): Promise<Collector> {
  const batchMax = Math.max(1, o.batchMax ?? 1000);
  const batchMs = Math.max(0, o.batchMs ?? 1000);
  const onError = o.onError ?? (() => undefined);
  let batch: ConnRecord[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const flush = (): void => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (batch.length === 0) return;
    const out = batch;
    batch = [];
    try {
      const r = o.onRecords(out);
      if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch((e: unknown) => onError(toError(e)));
    } catch (e) {
      onError(toError(e));
    }
  };

  const nf = new NetflowRecords(
    (rec) => {
      batch.push(rec);
      if (batch.length >= batchMax) flush();
      else if (!timer) timer = setTimeout(flush, batchMs);
    },
    { localNets: o.localNets, stitch: o.stitch, decoder: { ...o.decoder, onProblem: (p) => onError(p) } },
  );
  // One-way records waiting for their reverse are let go on time even when no datagram comes.
  const holdMs = o.stitch === false ? 0 : (o.stitch?.holdSec ?? 60) * 1000;
  const sweep = holdMs > 0 ? setInterval(() => nf.expire(), Math.max(100, Math.min(1000, holdMs / 4))) : undefined;
  sweep?.unref();

  const family = o.host.includes(':') ? 'udp6' : 'udp4';
  const sock = dgram.createSocket({ type: family, reuseAddr: false });
  sock.on('message', (msg, rinfo) => {
    if (closed) return;
    try {
      nf.decode(msg, rinfo.address);
    } catch (e) {
      // The decoder reports malformed input itself; anything here is a bug, kept from killing the collector.
      onError(toError(e));
    }
  });

  return new Promise<Collector>((resolve, reject) => {
    const onBindError = (e: Error): void => reject(e);
    sock.once('error', onBindError);
    sock.bind(o.port, o.host, () => {
      sock.off('error', onBindError);
      sock.on('error', (e) => onError(e));
      if (o.receiveBufferSize) {
        try {
          sock.setRecvBufferSize(o.receiveBufferSize);
        } catch (e) {
          onError(toError(e));
        }
      }
      const a = sock.address();
      resolve({
        address: { address: a.address, port: a.port, family: a.family },
        stats: () => {
          const m = new Map<string, CollectorExporterStats>();
          for (const [k, s] of nf.stats()) m.set(k, { ...s, ...nf.countsOf(k) });
          return m;
        },
        flush,
        close: () =>
          new Promise<void>((res) => {
            if (closed) return res();
            closed = true;
            if (sweep) clearInterval(sweep);
            nf.flush();
            flush();
            sock.close(() => res());
          }),
      });
    });
  });
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** "127.0.0.1:2055", "[::1]:2055", ":2055" (all IPv4 interfaces), "2055". */
export function parseListenAddress(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s);
  if (!m) throw new Error(`"${s}" is not HOST:PORT (e.g. 127.0.0.1:2055, [::1]:2055, :2055)`);
  const port = Number(m[3]);
  if (!(port >= 0 && port <= 65535)) throw new Error(`port ${m[3]} is out of range`);
  const host = m[1] || m[2] || '0.0.0.0';
  return { host, port };
}

export interface CollectOptions {
  /** Listen address, as parseListenAddress accepts. */
  netflow: string;
  format?: CollectFormat;
  out?: string;
  localNets?: string[];
  batchMax?: number;
  batchMs?: number;
}

export interface CollectIo {
  stdout?: Writable;
  stderr?: Writable;
  /** Stops the collector like SIGINT does (tests; the CLI uses the signals). */
  signal?: AbortSignal;
  /** Called once listening, with the bound address. */
  onListening?: (a: { address: string; port: number }) => void;
}

/**
 * `eastwatch collect --netflow HOST:PORT`: records to stdout or a file until SIGINT/SIGTERM,
 * then counts per exporter on stderr. Returns the exit code (0, or 2 for a bad address, 1 when
 * the socket or file cannot be opened).
 */
export async function runCollect(opts: CollectOptions, io: CollectIo = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  let listen: { host: string; port: number };
  try {
    listen = parseListenAddress(opts.netflow);
  } catch (e) {
    stderr.write(`eastwatch collect: ${(e as Error).message}\n`);
    return 2;
  }
  let out: Writable;
  try {
    out = opts.out ? fs.createWriteStream(opts.out, { flags: 'w' }) : (io.stdout ?? process.stdout);
    if (opts.out) await new Promise<void>((res, rej) => (out as fs.WriteStream).once('open', () => res()).once('error', rej));
  } catch (e) {
    stderr.write(`eastwatch collect: cannot write ${opts.out}: ${(e as Error).message}\n`);
    return 1;
  }
  const sink = new TextSink(out);
  const writer = createWriter(opts.format ?? 'ndjson', sink);
  let malformedShown = 0;
  let collector: Collector;
  try {
    collector = await startCollector({
      host: listen.host,
      port: listen.port,
      batchMax: opts.batchMax,
      batchMs: opts.batchMs ?? 1000,
      localNets: opts.localNets,
      onRecords: (batch) => {
        for (const r of batch) writer.write(r);
        // Followers of the output (tail -f, a pipe) see each batch, not a 256 KiB chunk.
        sink.flush();
      },
      onError: (e) => {
        // Malformed datagrams are reported, but an exporter spraying garbage must not flood the terminal.
        if (e instanceof Error) stderr.write(`eastwatch collect: ${e.message}\n`);
        else if (malformedShown++ < 100)
          stderr.write(`eastwatch collect: malformed v${e.version} datagram from ${e.exporter} at byte ${e.offset}: ${e.reason}\n`);
      },
    });
  } catch (e) {
    stderr.write(`eastwatch collect: cannot listen on ${opts.netflow}: ${(e as Error).message}\n`);
    await writer.close();
    return 1;
  }
  io.onListening?.({ address: collector.address.address, port: collector.address.port });
  stderr.write(`eastwatch collect: listening for NetFlow v5/v9/IPFIX on ${collector.address.address}:${collector.address.port}\n`);

  await untilStopped(io.signal);

  await collector.close();
  await writer.close();
  stderr.write(formatExporterStats(collector.stats()));
  return 0;
}

/** Resolves on SIGINT, SIGTERM or the signal's abort, whichever comes first. */
export function untilStopped(signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (signal?.aborted) stop();
    else signal?.addEventListener('abort', stop);
  });
}

/** The per-exporter summary printed on shutdown. */
export function formatExporterStats(stats: Map<string, CollectorExporterStats>): string {
  if (stats.size === 0) return 'eastwatch collect: no datagrams received\n';
  let s = 'exporter\tdatagrams\trecords\ttemplates\tmalformed\tundecodable_sets\n';
  for (const [k, v] of stats) {
    s += `${k}\t${v.datagrams}\t${v.records}\t${v.templates}\t${v.malformed}\t${v.undecodableSets}\n`;
  }
  return s;
}
