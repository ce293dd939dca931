/**
 * Dynamic service detection for one connection, as Zeek's DPD does: every candidate analyzer sees
 * the first bytes in parallel, whatever the port; those that reject drop out; once one confirms,
 * the others still probing are dropped and the confirmed one carries on alone. `services` lists
 * the confirmed protocols for the connection record's `service` field.
 */
import type { AnalyzerIssue, AnalyzerOptions, AppTransport, StreamAnalyzer } from './analyzer';
import type { AnyAppRecord, AppRecord, IdentRecord } from './records';
import { DnsAnalyzer } from './dns';
import { HttpAnalyzer } from './http';
import { TlsAnalyzer } from './tls';
import { SshAnalyzer } from './ssh';
import { KafkaAnalyzer, MongoAnalyzer, MysqlAnalyzer, PostgresAnalyzer, RedisAnalyzer } from './datastores';

export interface AnalyzerFactory {
  readonly name: string;
  readonly transports: readonly AppTransport[];
  /**
   * Cheap pre-filter on the connection's first payload (either direction): false means the
   * analyzer would reject these bytes, so it is not even constructed. Must accept short input.
   */
  accepts?(isOrig: boolean, buf: Buffer, off: number, len: number): boolean;
  create(opts: AnalyzerOptions): StreamAnalyzer;
}

const upperThenSpace = (b: Buffer, o: number, n: number): boolean => {
  for (let i = 0; i < n && i < 21; i++) {
    const c = b[o + i];
    if (c === 0x20) return i > 0;
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x5f)) return false;
  }
  return true;
};
const prefix = (b: Buffer, o: number, n: number, p: string): boolean => {
  for (let i = 0; i < n && i < p.length; i++) if (b[o + i] !== p.charCodeAt(i)) return false;
  return true;
};

export const DEFAULT_FACTORIES: readonly AnalyzerFactory[] = [
  { name: 'dns', transports: ['udp', 'tcp'], create: (o) => new DnsAnalyzer(o) },
  {
    name: 'http',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) => (isOrig ? upperThenSpace(b, o, n) : prefix(b, o, n, 'HTTP/')),
    create: (o) => new HttpAnalyzer(o),
  },
  { name: 'tls', transports: ['tcp'], accepts: (_i, b, o, n) => b[o] === 22 && (n < 2 || b[o + 1] === 3), create: (o) => new TlsAnalyzer(o) },
  // The server usually speaks first in SSH, possibly with other lines before its banner.
  { name: 'ssh', transports: ['tcp'], accepts: (isOrig, b, o, n) => !isOrig || prefix(b, o, n, 'SSH-'), create: (o) => new SshAnalyzer(o) },
  { name: 'redis', transports: ['tcp'], accepts: (isOrig, b, o) => isOrig && b[o] === 0x2a, create: (o) => new RedisAnalyzer(o) },
  {
    name: 'postgresql',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) => isOrig && (n < 4 || (b.readUInt32BE(o) >= 8 && b.readUInt32BE(o) <= 10000)),
    create: (o) => new PostgresAnalyzer(o),
  },
  { name: 'mysql', transports: ['tcp'], accepts: (isOrig, b, o, n) => !isOrig && (n < 5 || (b[o + 3] === 0 && b[o + 4] === 10)), create: (o) => new MysqlAnalyzer(o) },
  { name: 'kafka', transports: ['tcp'], accepts: (isOrig, b, o, n) => isOrig && (n < 6 || (b[o] === 0 && b.readInt16BE(o + 4) >= 0)), create: (o) => new KafkaAnalyzer(o) },
  {
    name: 'mongodb',
    transports: ['tcp'],
    accepts: (isOrig, b, o, n) => isOrig && (n < 16 || [2013, 2004, 2012].includes(b.readInt32LE(o + 12))),
    create: (o) => new MongoAnalyzer(o),
  },
];

export interface MuxOptions {
  factories?: readonly AnalyzerFactory[];
  maxBufferBytes?: number;
  /** Bytes per direction after which, with nothing confirmed, detection gives up; default 16 KiB. */
  maxProbeBytes?: number;
  /** Receives ssh and datastore (`app`) records; without it they are dropped (the services still count). */
  onIdentify?: (rec: IdentRecord) => void;
}

export class AnalyzerMux {
  private live: StreamAnalyzer[] = [];
  /** Every analyzer that was started, kept for `issues` and `services`. */
  private readonly all: StreamAnalyzer[] = [];
  /** Candidates, constructed on the first payload only (most connections never carry any). */
  private factories: readonly AnalyzerFactory[] | null;
  private readonly aopts: AnalyzerOptions;
  private readonly maxProbe: number;
  private readonly probed = [0, 0];
  private decided = false;

  constructor(transport: AppTransport, sink: (rec: AppRecord) => void, opts: MuxOptions = {}) {
    const onIdentify = opts.onIdentify;
    // dns/http/tls records go to `sink`, identification records to `onIdentify`.
    const route = (rec: AnyAppRecord): void => {
      if (rec.kind === 'ssh' || rec.kind === 'app') onIdentify?.(rec);
      else sink(rec);
    };
    this.aopts = { transport, sink: route, maxBufferBytes: opts.maxBufferBytes };
    this.factories = (opts.factories ?? DEFAULT_FACTORIES).filter((f) => f.transports.includes(transport));
    this.maxProbe = opts.maxProbeBytes ?? 16 * 1024;
  }

  /** Confirmed protocols (kept after a later failure, as Zeek keeps them in `service`). */
  get services(): string[] {
    return this.all.filter((a) => a.state === 'confirmed' || a.state === 'failed').map((a) => a.name);
  }

  /** The analyzer that confirmed, if any. */
  get confirmed(): StreamAnalyzer | null {
    return this.all.find((a) => a.state === 'confirmed' || a.state === 'failed') ?? null;
  }

  /** Issues of all analyzers, prefixed with the analyzer name. */
  get issues(): (AnalyzerIssue & { analyzer: string })[] {
    const out: (AnalyzerIssue & { analyzer: string })[] = [];
    for (const a of this.all) for (const i of a.issues) out.push({ ...i, analyzer: a.name });
    return out;
  }

  /** Nothing more will be analysed on this connection. */
  get done(): boolean {
    return this.factories === null && this.live.length === 0;
  }

  data(isOrig: boolean, buf: Buffer, off: number, len: number, ts: number): void {
    if (this.factories !== null) this.start(isOrig, buf, off, len);
    if (this.live.length === 0) return;
    for (const a of this.live) a.data(isOrig, buf, off, len, ts);
    if (!this.decided) {
      this.probed[isOrig ? 1 : 0] += len;
      this.settle(this.probed[isOrig ? 1 : 0] >= this.maxProbe);
    } else if (this.live[0].state !== 'confirmed') {
      this.live = [];
    }
  }

  private start(isOrig: boolean, buf: Buffer, off: number, len: number): void {
    const fs = this.factories!;
    if (len <= 0 || off < 0 || off + len > buf.length) return;
    this.factories = null;
    for (const f of fs) {
      if (f.accepts !== undefined && !f.accepts(isOrig, buf, off, len)) continue;
      const a = f.create(this.aopts);
      this.all.push(a);
      this.live.push(a);
    }
  }

  gap(isOrig: boolean, len: number): void {
    // A gap before any payload: nothing can be detected from a stream that starts mid-way.
    this.factories = null;
    for (const a of this.live) a.gap(isOrig, len);
    this.settle(false);
  }

  end(ts: number): void {
    for (const a of this.all) a.end(ts);
    this.live = [];
  }

  private settle(giveUp: boolean): void {
    if (this.decided) return;
    const winner = this.live.find((a) => a.state === 'confirmed');
    if (winner !== undefined) {
      this.decided = true;
      this.live = [winner];
      return;
    }
    this.live = this.live.filter((a) => a.state === 'probing');
    if (giveUp) this.live = [];
  }
}
