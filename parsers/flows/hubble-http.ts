/**
 * HTTP from Hubble L7 events (Cilium's proxy visibility: `l7.type` REQUEST / RESPONSE with
 * `l7.http` {method, url, protocol, code, headers}) as http.log-shaped records. The events of a
 * connection are collected on it while it is folded (hubble.ts) and emitted with it, so each
 * record carries the connection's own uid and joins it as a capture's http records do.
 *
 * Pairing: HTTP/1.x on one connection is sequential, so a response answers the oldest request
 * still without one that has its method and URL (Cilium repeats both in the response); a
 * response with no such request becomes a record of its own, begun at the response's time minus
 * Cilium's `latency_ns`. Hubble gives no body lengths: Content-Length is used when a header
 * carries it, else 0 (Zeek's value for no body seen). No reason phrase either (status_msg null).
 */
import { type HttpLogRecord, newHttpRecord } from '../record/app';

/** Records kept per connection; later transactions of a longer one are counted, not kept. */
export const MAX_HTTP_PER_CONN = 1024;

/** Zeek's proxy headers (http.log `proxied`), lower-case. */
const PROXY_HEADERS: ReadonlySet<string> = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-from',
  'client-ip',
  'via',
  'xroxy-connection',
  'proxy-connection',
]);

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function header(headers: readonly { key: string; value: string }[], name: string): string | null {
  for (const h of headers) if (h.key.toLowerCase() === name) return h.value;
  return null;
}

function headersOf(v: unknown): { key: string; value: string }[] {
  if (!Array.isArray(v)) return [];
  const out: { key: string; value: string }[] = [];
  for (const h of v) {
    const o = obj(h);
    if (o !== undefined && typeof o.key === 'string' && typeof o.value === 'string') out.push({ key: o.key, value: o.value });
  }
  return out;
}

function bodyLen(headers: readonly { key: string; value: string }[]): number {
  const v = header(headers, 'content-length');
  return v !== null && /^\d{1,15}$/.test(v.trim()) ? Number(v.trim()) : 0;
}

/** "HTTP/1.1" -> "1.1", as Zeek's version field. */
function versionOf(p: unknown): string | null {
  if (typeof p !== 'string' || p === '') return null;
  const m = /^HTTP\/(.+)$/i.exec(p);
  return m ? m[1] : p;
}

/** Host (with a port that is not the scheme's default, as a Host header has it) and the path with query. */
function splitUrl(url: string): { host: string | null; uri: string } {
  try {
    const u = new URL(url);
    return { host: u.host === '' ? null : u.host, uri: `${u.pathname}${u.search}` };
  } catch {
    return { host: null, uri: url };
  }
}

/** One connection's HTTP transactions from its L7 events, in request order. */
export class HubbleHttpLog {
  readonly records: HttpLogRecord[] = [];
  /** Responses still awaited: index into records. */
  private readonly open: number[] = [];
  /** Transactions beyond MAX_HTTP_PER_CONN, not kept. */
  dropped = 0;

  /** Reads one L7 event's `l7` object at event time `ts`; false when it holds no HTTP. */
  event(l7: Record<string, unknown>, ts: number): boolean {
    const http = obj(l7.http);
    if (http === undefined) return false;
    const method = typeof http.method === 'string' && http.method !== '' ? http.method : null;
    const url = typeof http.url === 'string' ? http.url : '';
    const { host, uri } = splitUrl(url);
    const headers = headersOf(http.headers);
    if (l7.type === 'RESPONSE') {
      const code = typeof http.code === 'number' && Number.isInteger(http.code) ? http.code : null;
      let at = -1;
      for (let i = 0; i < this.open.length; i++) {
        const r = this.records[this.open[i]];
        if (r.method === method && r.uri === uri) {
          at = i;
          break;
        }
      }
      let r: HttpLogRecord;
      if (at >= 0) {
        r = this.records[this.open[at]];
        this.open.splice(at, 1);
      } else {
        const latency = typeof l7.latency_ns === 'string' || typeof l7.latency_ns === 'number' ? Number(l7.latency_ns) : 0;
        const rec = this.add(Number.isFinite(latency) && latency > 0 ? ts - latency / 1e9 : ts);
        if (rec === null) return true;
        r = rec;
        r.method = method;
        r.host = host;
        r.uri = uri;
      }
      r.status_code = code;
      // Zeek logs the response's version when there is one.
      r.version = versionOf(http.protocol) ?? r.version;
      r.resp_content_type = header(headers, 'content-type');
      r.response_body_len = bodyLen(headers);
      if (code === 101) r.upgraded = r.upgrade !== null;
      return true;
    }
    const r = this.add(ts);
    if (r === null) return true;
    r.method = method;
    r.host = header(headers, 'host') ?? header(headers, ':authority') ?? host;
    r.uri = uri;
    r.version = versionOf(http.protocol);
    r.user_agent = header(headers, 'user-agent');
    r.referrer = header(headers, 'referer');
    r.origin = header(headers, 'origin');
    r.orig_content_type = header(headers, 'content-type');
    r.request_body_len = bodyLen(headers);
    r.upgrade = header(headers, 'upgrade');
    for (const h of headers) {
      if (!PROXY_HEADERS.has(h.key.toLowerCase())) continue;
      const entry = `${h.key.toUpperCase()} -> ${h.value}`;
      r.proxied ??= [];
      if (!r.proxied.includes(entry)) r.proxied.push(entry);
    }
    this.open.push(this.records.length - 1);
    return true;
  }

  private add(ts: number): HttpLogRecord | null {
    if (this.records.length >= MAX_HTTP_PER_CONN) {
      this.dropped++;
      return null;
    }
    const r = newHttpRecord(ts, 0);
    this.records.push(r);
    return r;
  }

  /** The records in time order, numbered 1.. as Zeek's trans_depth. */
  done(): HttpLogRecord[] {
    const out = this.records.slice().sort((a, b) => a.ts - b.ts);
    for (let i = 0; i < out.length; i++) out[i].trans_depth = i + 1;
    return out;
  }
}
