/**
 * A per-address bound on failed authentications, checked before Express sees the request.
 *
 * Once an address has had more than `perMinute` requests refused 401 within the current minute,
 * its requests that carry no valid key are answered 429 here until the minute ends. Why before
 * Express: entering an Express app costs more than the refusal itself (it swaps the prototypes of
 * the request and response, which sends V8 to slow paths for the rest of the request); measured
 * on this machine, a 401 through the app cost ~600 us of server CPU, a 429 from express-rate-limit
 * as the app's first middleware ~300 us, a bare Node answer ~30 us (bench/service.ts --soak's
 * floods; figures in the README's soak section).
 *
 * A valid key is never held back (its own per-key limits apply), so analysts behind the same
 * address as a broken agent keep working; checking it (a SHA-256) is what a flood costs once
 * blocked. Only 401s count: the 429s answered here do not prolong a block past its window.
 */
import type * as http from 'node:http';
import { ipKeyGenerator } from 'express-rate-limit';

export class AuthFailureLimit {
  private readonly counts = new Map<string, number>();
  private windowEnds: number;
  /** IPv6 addresses to their /56 (parsing one costs microseconds; a client sends many requests). */
  private readonly v6 = new Map<string, string>();

  constructor(
    readonly perMinute: number,
    readonly windowMs = 60_000,
    /** Addresses counted per window at most: a flood from many addresses cannot grow the map without bound. */
    private readonly maxAddresses = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    this.windowEnds = now() + windowMs;
  }

  /** The client as counted: its address, an IPv6 one by its /56 (one site's allocation). */
  key(req: http.IncomingMessage): string {
    const ip = req.socket.remoteAddress ?? '';
    if (!ip.includes(':')) return ip;
    let k = this.v6.get(ip);
    if (k === undefined) {
      if (this.v6.size >= this.maxAddresses) this.v6.clear();
      k = ipKeyGenerator(ip, 56);
      this.v6.set(ip, k);
    }
    return k;
  }

  private roll(): void {
    const t = this.now();
    if (t >= this.windowEnds) {
      this.counts.clear();
      this.windowEnds = t + this.windowMs;
    }
  }

  /** A request from `req`'s address was refused 401. */
  failed(req: http.IncomingMessage): void {
    this.roll();
    const k = this.key(req);
    const n = this.counts.get(k);
    if (n !== undefined) this.counts.set(k, n + 1);
    else if (this.counts.size < this.maxAddresses) this.counts.set(k, 1);
  }

  /** Whether `req`'s address is over its failures for this window. */
  blocked(req: http.IncomingMessage): boolean {
    this.roll();
    return (this.counts.get(this.key(req)) ?? 0) >= this.perMinute;
  }

  /** Seconds until the current window ends (at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.windowEnds - this.now()) / 1000));
  }
}

/** Whether the request declares a body (Content-Length > 0, or chunked). */
function declaresBody(req: http.IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * The server's request listener: `app` behind the limit. `validKey` says whether the request
 * carries a key that authenticates (those always pass).
 */
export function behindAuthLimit(app: http.RequestListener, limit: AuthFailureLimit, validKey: (req: http.IncomingMessage) => boolean): http.RequestListener {
  const message = JSON.stringify({
    error: `more than ${limit.perMinute} requests from this address were refused for want of a valid API key within a minute: requests without one are refused until the minute ends`,
  });
  return (req, res) => {
    if (!limit.blocked(req) || req.url === '/healthz' || validKey(req)) {
      app(req, res);
      return;
    }
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(message),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Retry-After': String(limit.retryAfterSeconds()),
    };
    // As the API's error handler does: a body still arriving is not read on.
    if (declaresBody(req) && !req.complete) headers.Connection = 'close';
    res.writeHead(429, headers).end(message);
  };
}
