/**
 * NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) datagram decoding, as reads at checked
 * offsets into the datagram: every length is checked before it is read, and a malformed datagram
 * (or set) is reported with exporter, byte offset and reason, never thrown. Records go to the
 * sink one at a time in a reused FlowFields.
 */
import { IE, applyField, enterpriseIe, newFlowFields, readUint, resetFlowFields, u16, u32, type FlowFields } from './fields';
import { TemplateStore, VARLEN, templateKey, type SetContext, type Template, type TemplateStoreOptions } from './templates';

export interface NetflowProblem {
  exporter: string;
  /** 5, 9, 10 (IPFIX) or whatever the datagram claimed. */
  version: number;
  /** Byte offset in the datagram where the problem is. */
  offset: number;
  reason: string;
}

export interface ExporterStats {
  datagrams: number;
  /** Flow records decoded and handed to the sink. */
  flows: number;
  /** Datagrams or sets reported as malformed. */
  malformed: number;
  /** Template and options-template records accepted. */
  templates: number;
  templatesWithdrawn: number;
  optionRecords: number;
  /** Data sets held because their template had not arrived, and later decoded. */
  heldDecoded: number;
  /** Data sets dropped without a template (hold full or timed out). */
  undecodableSets: number;
  /** Last export sequence number seen (v5 flow_sequence, v9 package sequence, IPFIX sequence). */
  lastSequence: number;
}

export interface DecoderOptions extends TemplateStoreOptions {
  onProblem?: (p: NetflowProblem) => void;
  /** How often (ms of the `nowMs` clock) stale templates and held sets are swept (default 10 s). */
  sweepEveryMs?: number;
}

export type FlowSink = (f: FlowFields) => void;

const V5_HEADER = 24;
const V5_RECORD = 48;
const V9_HEADER = 20;
const IPFIX_HEADER = 16;
const SET_HEADER = 4;

function newStats(): ExporterStats {
  return {
    datagrams: 0,
    flows: 0,
    malformed: 0,
    templates: 0,
    templatesWithdrawn: 0,
    optionRecords: 0,
    heldDecoded: 0,
    undecodableSets: 0,
    lastSequence: -1,
  };
}

export class NetflowDecoder {
  private readonly store: TemplateStore;
  private readonly f = newFlowFields();
  private readonly exporters = new Map<string, ExporterStats>();
  /** IPFIX systemInitTimeMilliseconds per exporter + domain, from options records. */
  private readonly sysInit = new Map<string, number>();
  private readonly onProblem: (p: NetflowProblem) => void;
  private readonly sweepEveryMs: number;
  private lastSweep = -Infinity;
  private cur: ExporterStats = newStats();
  private curExporter = '';
  private dgMalformed = false;

  constructor(
    private readonly sink: FlowSink,
    opts: DecoderOptions = {},
  ) {
    this.store = new TemplateStore(opts);
    this.onProblem = opts.onProblem ?? (() => undefined);
    this.sweepEveryMs = opts.sweepEveryMs ?? 10_000;
  }

  /**
   * Whether the last datagram decoded was reported malformed. The flows it handed to the sink
   * before the problem was found come from a datagram that cannot be trusted (bogus counts give
   * durations of weeks): a consumer that wants whole datagrams only drops them (see
   * NetflowRecords).
   */
  get lastMalformed(): boolean {
    return this.dgMalformed;
  }

  /** Per-exporter counters (live objects). */
  stats(): ReadonlyMap<string, ExporterStats> {
    return this.exporters;
  }

  get templateCount(): number {
    return this.store.size;
  }

  get heldSets(): number {
    return this.store.heldSets;
  }

  /**
   * Decode one datagram from `exporter` (its address: templates are keyed by it). Returns the
   * number of flow records handed to the sink. Never throws on any input (the sink's own errors
   * do propagate).
   */
  decode(b: Uint8Array, exporter: string, nowMs: number = Date.now()): number {
    if (nowMs - this.lastSweep >= this.sweepEveryMs) this.expire(nowMs);
    let st = this.exporters.get(exporter);
    if (!st) {
      st = newStats();
      this.exporters.set(exporter, st);
    }
    this.cur = st;
    this.curExporter = exporter;
    st.datagrams++;
    const before = st.flows;
    this.dgMalformed = false;
    if (b.length < 2) {
      this.problem(0, 0, `datagram of ${b.length} bytes has no version field`);
      return 0;
    }
    const version = u16(b, 0);
    this.f.exporter = exporter;
    this.f.version = version;
    if (version === 5) this.decodeV5(b);
    else if (version === 9) this.decodeV9(b, nowMs);
    else if (version === 10) this.decodeIpfix(b, nowMs);
    else this.problem(version, 0, `unsupported version ${version}`);
    return st.flows - before;
  }

  /** Forget templates not refreshed within the timeout and held sets that waited too long. */
  expire(nowMs: number): void {
    this.lastSweep = nowMs;
    const [, dropped] = this.store.expire(nowMs);
    // Held sets are not attributed to an exporter once dropped by time; count them on the current one.
    if (dropped) this.cur.undecodableSets += dropped;
  }

  private problem(version: number, offset: number, reason: string): void {
    this.cur.malformed++;
    this.dgMalformed = true;
    this.onProblem({ exporter: this.curExporter, version, offset, reason });
  }

  // ---- NetFlow v5: fixed 24-byte header, 48-byte records --------------------------------------

  private decodeV5(b: Uint8Array): void {
    if (b.length < V5_HEADER) {
      this.problem(5, 0, `v5 header needs ${V5_HEADER} bytes, datagram has ${b.length}`);
      return;
    }
    const count = u16(b, 2);
    const sysUptime = u32(b, 4);
    const exportMs = u32(b, 8) * 1000 + Math.floor(u32(b, 12) / 1e6);
    this.cur.lastSequence = u32(b, 16);
    const domain = (b[20] << 8) | b[21];
    const fit = Math.floor((b.length - V5_HEADER) / V5_RECORD);
    const n = count;
    // A count the datagram cannot hold, or beyond the format's 30, means the header is not what
    // it claims: such datagrams carry garbage times (durations of weeks), so none of it is used.
    if (count > fit) {
      this.problem(5, V5_HEADER + fit * V5_RECORD, `v5 header counts ${count} records, datagram holds ${fit}; datagram dropped`);
      return;
    }
    if (count > 30) {
      this.problem(5, 2, `v5 count ${count} exceeds the format's 30; datagram dropped`);
      return;
    }
    const f = this.f;
    for (let i = 0; i < n; i++) {
      const o = V5_HEADER + i * V5_RECORD;
      resetFlowFields(f);
      f.domain = domain;
      f.templateId = 0;
      f.ipVersion = 4;
      for (let k = 0; k < 4; k++) {
        f.src[k] = b[o + k];
        f.dst[k] = b[o + 4 + k];
      }
      f.inIf = u16(b, o + 12);
      f.outIf = u16(b, o + 14);
      f.packets = u32(b, o + 16);
      f.bytes = u32(b, o + 20);
      uptimeTimes(f, exportMs, sysUptime, u32(b, o + 24), u32(b, o + 28));
      f.srcPort = u16(b, o + 32);
      f.dstPort = u16(b, o + 34);
      f.tcpFlags = b[o + 37];
      f.proto = b[o + 38];
      f.tos = b[o + 39];
      this.cur.flows++;
      this.sink(f);
    }
  }

  // ---- NetFlow v9 ------------------------------------------------------------------------------

  private decodeV9(b: Uint8Array, nowMs: number): void {
    if (b.length < V9_HEADER) {
      this.problem(9, 0, `v9 header needs ${V9_HEADER} bytes, datagram has ${b.length}`);
      return;
    }
    const ctx: SetContext = { version: 9, exportMs: u32(b, 8) * 1000, sysUptime: u32(b, 4) };
    this.cur.lastSequence = u32(b, 12);
    const domain = u32(b, 16);
    let off = V9_HEADER;
    // The header's record count is unreliable across exporters (softflowd counts data records,
    // Cisco WLC and Palo Alto flowsets, RFC 3954 all records): the flowset lengths frame the datagram.
    while (off + SET_HEADER <= b.length) {
      const id = u16(b, off);
      const len = u16(b, off + 2);
      // Exporters pad datagrams with zeros (Palo Alto fills a fixed-size buffer): not a flowset.
      if (id === 0 && len === 0 && isZeroFrom(b, off)) return;
      if (len < SET_HEADER || off + len > b.length) {
        this.problem(9, off + 2, `flowset ${id} length ${len} does not fit the ${b.length - off} bytes left`);
        return;
      }
      const body = off + SET_HEADER;
      const end = off + len;
      if (id === 0) this.v9Templates(b, body, end, domain, nowMs);
      else if (id === 1) this.v9OptionsTemplates(b, body, end, domain, nowMs);
      else if (id >= 256) this.dataSet(b, off, end, domain, id, ctx, nowMs);
      // 2..255 are reserved: skipped by length.
      off = end;
    }
  }

  private v9Templates(b: Uint8Array, p: number, end: number, domain: number, nowMs: number): void {
    while (p + 4 <= end) {
      const tid = u16(b, p);
      const count = u16(b, p + 2);
      if (tid < 256) {
        // Zeros here are flowset padding; anything else is a broken template.
        if (tid !== 0 || count !== 0) this.problem(9, p, `template id ${tid} is below 256`);
        return;
      }
      if (count === 0) {
        this.problem(9, p + 2, `template ${tid} has no fields`);
        return;
      }
      p += 4;
      if (p + count * 4 > end) {
        this.problem(9, p, `template ${tid} declares ${count} fields, flowset ends first`);
        return;
      }
      const ies = new Int32Array(count);
      const lens = new Int32Array(count);
      for (let i = 0; i < count; i++, p += 4) {
        ies[i] = u16(b, p);
        lens[i] = u16(b, p + 2);
      }
      this.addTemplate(9, p, domain, tid, ies, lens, 0, false, nowMs);
    }
  }

  private v9OptionsTemplates(b: Uint8Array, p: number, end: number, domain: number, nowMs: number): void {
    while (p + 6 <= end) {
      const tid = u16(b, p);
      const scopeLen = u16(b, p + 2);
      const optLen = u16(b, p + 4);
      if (tid < 256) {
        if (tid !== 0 || scopeLen !== 0 || optLen !== 0) this.problem(9, p, `options template id ${tid} is below 256`);
        return;
      }
      if (scopeLen % 4 !== 0 || optLen % 4 !== 0 || scopeLen + optLen === 0) {
        this.problem(9, p + 2, `options template ${tid}: scope length ${scopeLen} / option length ${optLen} are not whole field specifiers`);
        return;
      }
      p += 6;
      if (p + scopeLen + optLen > end) {
        this.problem(9, p, `options template ${tid} needs ${scopeLen + optLen} bytes, flowset ends first`);
        return;
      }
      const nScope = scopeLen / 4;
      const count = nScope + optLen / 4;
      const ies = new Int32Array(count);
      const lens = new Int32Array(count);
      for (let i = 0; i < count; i++, p += 4) {
        // v9 scope field types are their own namespace (1 = system, 2 = interface, ...): not IEs.
        ies[i] = i < nScope ? -1 : u16(b, p);
        lens[i] = u16(b, p + 2);
      }
      this.addTemplate(9, p, domain, tid, ies, lens, nScope, true, nowMs);
    }
  }

  // ---- IPFIX -----------------------------------------------------------------------------------

  private decodeIpfix(b: Uint8Array, nowMs: number): void {
    if (b.length < IPFIX_HEADER) {
      this.problem(10, 0, `IPFIX header needs ${IPFIX_HEADER} bytes, datagram has ${b.length}`);
      return;
    }
    const msgLen = u16(b, 2);
    let end = msgLen;
    if (msgLen < IPFIX_HEADER) {
      this.problem(10, 2, `IPFIX message length ${msgLen} is shorter than its header`);
      return;
    }
    if (msgLen > b.length) {
      // Decode the sets that did arrive whole; the report says what is missing.
      this.problem(10, 2, `IPFIX message length ${msgLen} exceeds the ${b.length}-byte datagram`);
      end = b.length;
    }
    const ctx: SetContext = { version: 10, exportMs: u32(b, 4) * 1000, sysUptime: -1 };
    this.cur.lastSequence = u32(b, 8);
    const domain = u32(b, 12);
    let off = IPFIX_HEADER;
    while (off + SET_HEADER <= end) {
      const id = u16(b, off);
      const len = u16(b, off + 2);
      if (len < SET_HEADER || off + len > end) {
        this.problem(10, off + 2, `set ${id} length ${len} does not fit the ${end - off} bytes left`);
        return;
      }
      const body = off + SET_HEADER;
      const setEnd = off + len;
      if (id === 2) this.ipfixTemplates(b, body, setEnd, domain, false, nowMs);
      else if (id === 3) this.ipfixTemplates(b, body, setEnd, domain, true, nowMs);
      else if (id >= 256) this.dataSet(b, off, setEnd, domain, id, ctx, nowMs);
      else this.problem(10, off, `reserved set id ${id}`);
      off = setEnd;
    }
    if (off < end) this.problem(10, off, `${end - off} trailing bytes after the last set`);
  }

  private ipfixTemplates(b: Uint8Array, p: number, end: number, domain: number, options: boolean, nowMs: number): void {
    const hdr = options ? 6 : 4;
    while (p + 4 <= end) {
      const tid = u16(b, p);
      const count = u16(b, p + 2);
      if (count === 0) {
        // Withdrawal (RFC 7011 section 8.1): the set's own id withdraws all templates of its kind.
        if (tid === (options ? 3 : 2)) {
          this.cur.templatesWithdrawn += this.store.deleteAll(this.curExporter, domain, options);
        } else if (tid >= 256) {
          if (this.store.delete(templateKey(this.curExporter, domain, tid))) this.cur.templatesWithdrawn++;
        } else if (tid !== 0) {
          this.problem(10, p, `withdrawal of template id ${tid}, which is below 256`);
          return;
        } else {
          return; // padding
        }
        p += 4;
        continue;
      }
      if (tid < 256) {
        this.problem(10, p, `template id ${tid} is below 256`);
        return;
      }
      if (p + hdr > end) {
        this.problem(10, p, `options template ${tid} header runs past its set`);
        return;
      }
      const scopeCount = options ? u16(b, p + 4) : 0;
      if (options && (scopeCount === 0 || scopeCount > count)) {
        this.problem(10, p + 4, `options template ${tid}: scope field count ${scopeCount} of ${count} fields`);
        return;
      }
      p += hdr;
      const ies = new Int32Array(count);
      const lens = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        if (p + 4 > end) {
          this.problem(10, p, `template ${tid} field ${i + 1} of ${count} runs past its set`);
          return;
        }
        const raw = u16(b, p);
        lens[i] = u16(b, p + 2);
        p += 4;
        if (raw & 0x8000) {
          if (p + 4 > end) {
            this.problem(10, p, `template ${tid} field ${i + 1}: enterprise number runs past its set`);
            return;
          }
          // Enterprise-specific: skipped by length, except RFC 5103's reverse elements and IXIA's reverse counters.
          ies[i] = enterpriseIe(u32(b, p), raw & 0x7fff);
          p += 4;
        } else {
          ies[i] = raw;
        }
      }
      this.addTemplate(10, p, domain, tid, ies, lens, scopeCount, options, nowMs);
    }
  }

  // ---- shared: templates and data sets ---------------------------------------------------------

  private addTemplate(
    version: number,
    offset: number,
    domain: number,
    tid: number,
    ies: Int32Array,
    lens: Int32Array,
    scopeCount: number,
    isOptions: boolean,
    nowMs: number,
  ): void {
    let minLen = 0;
    // RFC 3954 has no variable-length fields, but exporters (H3C NetStream) use IPFIX's 65535
    // encoding in v9 templates, as tshark and Logstash read them.
    for (let i = 0; i < lens.length; i++) minLen += lens[i] === VARLEN ? 1 : lens[i];
    if (minLen === 0) {
      // A record of zero bytes would make every data set an endless loop of empty records.
      this.problem(version, offset, `template ${tid} describes zero-length records`);
      return;
    }
    const key = templateKey(this.curExporter, domain, tid);
    this.store.set(key, { id: tid, ies, lens, scopeCount, isOptions, minLen, lastSeenMs: nowMs });
    this.cur.templates++;
    const held = this.store.take(key);
    if (held) {
      const t = this.store.get(key) as Template;
      for (const h of held) {
        this.cur.heldDecoded++;
        // A held set is a copy starting at 0: its reports are shifted back to the datagram's offsets.
        this.records(h.bytes, SET_HEADER, h.bytes.length, h.offset, domain, t, h.ctx);
      }
    }
  }

  private dataSet(b: Uint8Array, off: number, end: number, domain: number, tid: number, ctx: SetContext, nowMs: number): void {
    const key = templateKey(this.curExporter, domain, tid);
    const t = this.store.get(key);
    if (!t) {
      // Copy: the datagram buffer belongs to the socket. Bounded by the store's hold limits.
      const dropped = this.store.hold(key, { bytes: b.slice(off, end), offset: off, ctx, atMs: nowMs });
      this.cur.undecodableSets += dropped;
      return;
    }
    this.records(b, off + SET_HEADER, end, 0, domain, t, ctx);
  }

  /** Records of one data set, `p`..`end` in `b`; `base` + a position in `b` is its offset in the datagram. */
  private records(b: Uint8Array, p: number, end: number, base: number, domain: number, t: Template, ctx: SetContext): void {
    const f = this.f;
    const ies = t.ies;
    const lens = t.lens;
    // Looked up once per set, not per record: the exporter's clock base for uptime-relative times.
    const init = ctx.version === 10 && !t.isOptions ? (this.sysInit.get(`${this.curExporter}\u0000${domain}`) ?? -1) : -1;
    // Anything shorter than the smallest record is padding (RFC 3954 5.3, RFC 7011 3.3.1).
    while (end - p >= t.minLen) {
      resetFlowFields(f);
      f.domain = domain;
      f.templateId = t.id;
      f.version = ctx.version;
      let sysInit = -1;
      for (let i = 0; i < ies.length; i++) {
        let len = lens[i];
        if (len === VARLEN) {
          if (p >= end) {
            this.problem(ctx.version, base + p, `template ${t.id}: variable-length field ${i + 1} has no length byte`);
            return;
          }
          len = b[p++];
          if (len === 255) {
            if (p + 2 > end) {
              this.problem(ctx.version, base + p, `template ${t.id}: variable-length field ${i + 1} has no 2-byte length`);
              return;
            }
            len = u16(b, p);
            p += 2;
          }
        }
        if (p + len > end) {
          this.problem(ctx.version, base + p, `template ${t.id}: field ${i + 1} (${len} bytes) runs past the set end at ${base + end}`);
          return;
        }
        if (t.isOptions) {
          if (ies[i] === IE.systemInitTimeMilliseconds && len === 8) sysInit = readUint(b, p, 8);
        } else {
          applyField(f, ies[i], b, p, len);
        }
        p += len;
      }
      if (t.isOptions) {
        this.cur.optionRecords++;
        if (sysInit >= 0) {
          // Bounded like the templates: hostile domain ids must not grow it without end.
          if (this.sysInit.size >= 65536) this.sysInit.clear();
          this.sysInit.set(`${this.curExporter}\u0000${domain}`, sysInit);
        }
        continue;
      }
      this.resolveTimes(f, ctx, init);
      this.cur.flows++;
      this.sink(f);
    }
  }

  /**
   * Absolute times. v9: uptime-relative times against the header (sysUptime at unix_secs), modulo
   * 2^32 so a wrapped uptime still gives a past instant. IPFIX: against systemInitTimeMilliseconds
   * from the exporter's options records; without it, the flow is placed to end at export time.
   */
  private resolveTimes(f: FlowFields, ctx: SetContext, init: number): void {
    if (Number.isNaN(f.startMs) || Number.isNaN(f.endMs)) {
      if (ctx.version === 9 && ctx.sysUptime >= 0) {
        if (Number.isNaN(f.startMs) && Number.isNaN(f.endMs) && f.startUptime >= 0 && f.endUptime >= 0) {
          uptimeTimes(f, ctx.exportMs, ctx.sysUptime, f.startUptime, f.endUptime);
        } else {
          if (Number.isNaN(f.startMs) && f.startUptime >= 0) f.startMs = ctx.exportMs - Math.max(0, (ctx.sysUptime - f.startUptime) | 0);
          if (Number.isNaN(f.endMs) && f.endUptime >= 0) f.endMs = ctx.exportMs - Math.max(0, (ctx.sysUptime - f.endUptime) | 0);
        }
      } else if (f.startUptime >= 0 || f.endUptime >= 0) {
        if (init >= 0) {
          if (Number.isNaN(f.startMs) && f.startUptime >= 0) f.startMs = init + f.startUptime;
          if (Number.isNaN(f.endMs) && f.endUptime >= 0) f.endMs = init + f.endUptime;
        } else if (f.startUptime >= 0 && f.endUptime >= 0) {
          if (Number.isNaN(f.endMs)) f.endMs = ctx.exportMs;
          if (Number.isNaN(f.startMs)) f.startMs = f.endMs - ((f.endUptime - f.startUptime) >>> 0);
        }
      }
    }
    if (Number.isNaN(f.endMs)) f.endMs = Number.isNaN(f.startMs) ? ctx.exportMs : f.startMs;
    if (Number.isNaN(f.startMs)) f.startMs = f.endMs;
  }
}

/**
 * Absolute start and end from uptime-relative ones (v5, v9). The difference to the header's
 * sysUptime is read as a signed 32-bit number: a flow that started just before the uptime
 * wrapped is a little in the past (a small positive difference modulo 2^32), never 49 days.
 * A flow that would end after its own export is impossible: the exporter's uptime is bogus
 * (Fortigate 5.2.1, nProbe write times past their header's uptime), so the flow is placed to
 * end at export time, keeping its duration, instead of weeks away.
 */
function uptimeTimes(f: FlowFields, exportMs: number, sysUptime: number, first: number, last: number): void {
  const endAgo = (sysUptime - last) | 0;
  const startAgo = (sysUptime - first) | 0;
  if (endAgo >= 0 && startAgo >= endAgo) {
    f.startMs = exportMs - startAgo;
    f.endMs = exportMs - endAgo;
    return;
  }
  f.endMs = exportMs;
  f.startMs = exportMs - Math.max(0, (last - first) | 0);
}

/** Whether every byte from `off` to the end is zero (datagram padding). */
function isZeroFrom(b: Uint8Array, off: number): boolean {
  for (let i = off; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
