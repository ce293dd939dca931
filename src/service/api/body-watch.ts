/**
 * Bounds on a request body that arrives too slowly (slowloris-style trickling, a client gone
 * silent mid-upload). Node's own timers do not catch it: the socket's idle timeout restarts at
 * every byte, and the whole-request timeout has to be long enough for a capture of gigabytes on a
 * slow link. Two rules, checked once a tick for every request whose body is still arriving:
 *
 * - idle: no body byte for `idleMs` -> 408 and close;
 * - rate: fewer than `minBytesPerSec` a second on average over the last `windowMs` -> 408 and
 *   close (so 1 byte every 10 s fails after one window, whatever it sent before); checked from
 *   `graceMs` on, over the time since the body started while that is shorter than a window, so
 *   that a trickle is cut after the grace, not after a whole window.
 *
 * Time during which the server itself is not reading (the request's buffer is full because the
 * handler waits: disk, the flow backlog) is not counted against the client: it could not send.
 */
import type * as http from 'node:http';
import type { RequestHandler } from 'express';

export interface BodyLimits {
  /** No body byte for this long (while the server reads) -> 408. 0: off. */
  idleMs: number;
  /** The slowest average a body may arrive at over one window, bytes a second. 0: off. */
  minBytesPerSec: number;
  /** The window the rate is measured over. */
  windowMs: number;
  /** When the rate is first checked (at most windowMs): over the body's time so far until a window has passed. Default windowMs. */
  graceMs?: number;
}

interface Watched {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** socket.bytesRead when last seen. */
  seen: number;
  /** Client time (ms) since the last byte arrived. */
  idle: number;
  /** Client time (ms) since the body started, and the bytes at each earlier tick within the window. */
  clock: number;
  samples: { at: number; bytes: number }[];
  bytes: number;
}

/** A body is expected when the request says it has one (a length > 0, or chunked). */
/** Whether the request declares a body (Content-Length > 0 or chunked). */
export function hasBody(req: http.IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

function refuse(w: Watched, message: string): void {
  const { req, res } = w;
  const close = (): void => {
    // The handler reading the body sees an error (not a quiet end after the response), so it
    // removes what it kept of it.
    if (!req.destroyed) req.destroy(new Error(message));
    req.socket.destroy();
  };
  if (res.headersSent || res.writableEnded) {
    close();
    return;
  }
  const body = JSON.stringify({ error: message });
  res.writeHead(408, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  // The handler still reading the body gets an error (its temporary file is removed) once the
  // answer is on its way; a client that stopped reading cannot hold the socket open either.
  const timer = setTimeout(close, 1000);
  timer.unref();
  res.end(body, () => {
    clearTimeout(timer);
    close();
  });
}

/**
 * The middleware, and its ticker (stop() ends it at shutdown). `tickMs` is how often requests
 * are checked; the bounds hold to within one tick.
 */
export function bodyWatch(
  limits: BodyLimits,
  tickMs = Math.max(50, Math.min(1000, Math.floor(Math.min(limits.idleMs || Infinity, limits.windowMs || Infinity, limits.graceMs || Infinity) / 4))),
): {
  middleware: RequestHandler;
  stop(): void;
} {
  const active = new Set<Watched>();
  const windowBytes = (limits.minBytesPerSec * limits.windowMs) / 1000;
  const graceMs = Math.min(limits.graceMs ?? limits.windowMs, limits.windowMs);
  let timer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    for (const w of active) {
      const { req } = w;
      if (req.complete || req.socket.destroyed) {
        active.delete(w);
        continue;
      }
      const now = req.socket.bytesRead;
      const got = now - w.seen;
      w.seen = now;
      w.bytes += got;
      // The handler is not taking what arrived: the client is held back by us, not stalling.
      const heldBack = req.readableLength >= req.readableHighWaterMark;
      if (got > 0 || heldBack) w.idle = 0;
      else w.idle += tickMs;
      if (!heldBack) {
        w.clock += tickMs;
        w.samples.push({ at: w.clock, bytes: w.bytes });
      }
      while (w.samples.length > 1 && w.samples[1].at <= w.clock - limits.windowMs) w.samples.shift();
      if (limits.idleMs > 0 && w.idle >= limits.idleMs) {
        active.delete(w);
        refuse(w, `no part of the request body arrived for ${limits.idleMs / 1000} s`);
        continue;
      }
      const first = w.samples[0];
      // Within the first window the first sample is the body's start, so span is its time so far.
      const span = first ? w.clock - first.at : 0;
      if (windowBytes > 0 && first && span >= graceMs && w.bytes - first.bytes < (limits.minBytesPerSec * Math.min(span, limits.windowMs)) / 1000) {
        active.delete(w);
        refuse(
          w,
          `the request body arrived at ${Math.round(((w.bytes - first.bytes) * 1000) / span)} bytes/s over ${Math.min(span, limits.windowMs) / 1000} s, under the minimum of ${limits.minBytesPerSec}`,
        );
      }
    }
    if (active.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
  const middleware: RequestHandler = (req, res, next) => {
    if ((limits.idleMs > 0 || windowBytes > 0) && hasBody(req) && !req.complete) {
      const seen = req.socket.bytesRead;
      active.add({ req, res, seen, idle: 0, clock: 0, samples: [{ at: 0, bytes: 0 }], bytes: 0 });
      timer ??= setInterval(tick, tickMs);
      timer.unref();
    }
    next();
  };
  return {
    middleware,
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
      active.clear();
    },
  };
}
