/**
 * The soak of `npm run bench:service -- --soak SECONDS`: ordinary clients (steady flow ingestion,
 * analysts searching) and hostile ones at the same time against one `serve --with-workers`.
 *
 * Phases, all in one run against the same server and the same index:
 *   seed      flow records posted (?wait=true) so that the searches have something to read;
 *   warm-up   the analysts alone for --soak-warmup seconds, not counted (cold caches, JIT);
 *   unloaded  the analysts alone for --soak-baseline seconds: their latencies are the reference;
 *   soak      analysts + ingestion + every hostile client for SECONDS;
 *   after     the analysts alone again for --soak-baseline seconds (does the server come back?).
 * The server's RSS and open file descriptors are read from /proc every second throughout; per
 * phase, the server's event-loop delay (its /metrics), this process's own (it times the
 * analysts), the CPU each used, and a peer: Elasticsearch searched directly at one analyst's pace.
 *
 * The load has a fixed shape (fixed paces, fixed socket counts, no randomness that is not seeded)
 * so that two runs differ by the machine, not by the load. Node's own http and net only.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface SoakOptions {
  url: string;
  pid: number;
  seconds: number;
  baselineSeconds: number;
  /** Searches before the unloaded phase, not counted: the first ones after the seed are slow (cold caches, JIT). */
  warmupSeconds: number;
  /**
   * The peer: the same Elasticsearch index searched directly (one query, same pace as one analyst)
   * in every phase, so that what the load does to Elasticsearch and the machine is told apart
   * from what it does to the service.
   */
  esProbe?: { url: string; index: string };
  keys: { ingest: string; analysts: string[]; hostile: string; hostileIngest: string; admin?: string };
  /** NDJSON of `perRequest` flow records, with `mark` in each uid to be replaced per request. */
  template: string;
  mark: string;
  perRequest: number;
  /** Records per second of the steady ingestion. */
  ingestRate: number;
  /** The server's flow request limit (EASTWATCH_MAX_FLOW_REQUEST_BYTES), exceeded on purpose. */
  flowLimitBytes: number;
  /** Requests per second of each flood (unauthenticated, bad keys). */
  floodRate: number;
  /** Sockets held by each slowloris client, and idle sockets held open. */
  slowSockets: number;
  idleSockets: number;
  queries: string[];
  /** Hostile clients to run (all when absent): oversized, garbage, aggregations, floods, slowloris, idle. */
  only?: string[];
  log: (line: string) => void;
}

type Counts = Record<string, number>;

interface Sample {
  t: number;
  phase: string;
  rss: number;
  fds: number;
}

interface Lifetimes {
  opened: number;
  closedByServer: number;
  /** What the server wrote before closing (status line), or 'nothing'. */
  answers: Counts;
  lifetimesMs: number[];
  openAtEnd: number;
}

export interface SoakReport {
  seconds: number;
  baselineSeconds: number;
  loadAverage: number[];
  search: Record<'unloaded' | 'soak' | 'after', { n: number; p50: number; p95: number; max: number; statuses: Counts }>;
  ratio: { p50: number; p95: number; esP95: number };
  /** The peer's latencies (esProbe), per phase. */
  es: Record<'unloaded' | 'soak' | 'after', { n: number; p50: number; p95: number }> | null;
  ingest: { requests: number; records: number; statuses: Counts; p95: number };
  hostile: Record<string, Counts>;
  slowloris: Record<string, Lifetimes>;
  /**
   * slopeMbPerMin: over the whole soak; slopeSecondHalfMbPerMin: over its second half only, when
   * the first half's growth (the V8 heap and allocator pools reaching their size under this load)
   * is behind: a leak goes on climbing there (main bd3d68f, 240 s: 8.3 then 6.3 MB/min).
   */
  rss: { start: number; max: number; end: number; slopeMbPerMin: number; slopeSecondHalfMbPerMin: number; soakStart: number; soakEnd: number };
  fds: { start: number; max: number; end: number };
  serverAlive: boolean;
  /**
   * Event-loop delay per phase, ms: the server's (its /metrics, read with the admin key at each
   * phase's end: prom-client resets the histogram at every read) and this process's own, which
   * times the analysts: a search answered at once but read late here is counted late.
   */
  loopDelay: Record<'unloaded' | 'soak' | 'after', { server: LoopDelay | null; client: LoopDelay }>;
  /** At each phase's end: the server's RSS (/proc) and, from its /metrics, its JS heap in use and external memory. */
  memory: Record<'unloaded' | 'soak' | 'after', { rss: number } & Partial<ServerMemory>>;
  /**
   * Per phase, in seconds per second: the CPU the server process and this one (all the clients)
   * used, and how long the server's main thread (its event loop) waited runnable for a core
   * (/proc/PID/schedstat): time the machine, not the server's own work, kept requests waiting.
   */
  cpu: Record<'unloaded' | 'soak' | 'after', { server: number; client: number; serverRunQueueWait: number }>;
  samples: Sample[];
}

export interface LoopDelay {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * The server's memory at a phase's end, MB, from its /metrics (prom-client reads
 * process.memoryUsage() at the scrape; no GC is forced): the JS heap in use, and external memory
 * (Buffers and other memory held by JS objects outside the heap). RSS beyond these is the heap's
 * reserved but unused pages, code, and native allocations.
 */
export interface ServerMemory {
  heapUsed: number;
  external: number;
}

/** The server's event-loop delay since the last read of its /metrics (prom-client's gauges), and its memory. */
async function serverLoopDelay(url: string, admin: string | undefined): Promise<(LoopDelay & { memory: ServerMemory }) | null> {
  if (!admin) return null;
  const text = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${admin}` } }).then(
    (r) => (r.ok ? r.text() : ''),
    () => '',
  );
  const g = (name: string): number => {
    const m = new RegExp(`^eastwatch_process_nodejs_eventloop_lag_${name}_seconds(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) * 1000 : NaN;
  };
  const mb = (name: string): number => {
    const m = new RegExp(`^eastwatch_process_${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) / 1048576 : NaN;
  };
  return text
    ? {
        p50: g('p50'),
        p90: g('p90'),
        p99: g('p99'),
        max: g('max'),
        memory: { heapUsed: mb('nodejs_heap_size_used_bytes'), external: mb('nodejs_external_memory_bytes') },
      }
    : null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const bump = (c: Counts, k: string | number): void => {
  c[String(k)] = (c[String(k)] ?? 0) + 1;
};

/** utime + stime of a process, seconds. */
function cpuSeconds(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Seconds the process's main thread has waited on a run queue (runnable, no core free). */
function runQueueWait(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

function procStat(pid: number): { rss: number; fds: number } {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { rss: m ? Number(m[1]) / 1024 : NaN, fds: fs.readdirSync(`/proc/${pid}/fd`).length };
  } catch {
    return { rss: NaN, fds: NaN };
  }
}

/** Least-squares slope of y over t (per second). */
function slope(pts: { t: number; y: number }[]): number {
  const n = pts.length;
  if (n < 2) return NaN;
  const mt = pts.reduce((a, p) => a + p.t, 0) / n;
  const my = pts.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of pts) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

interface Answer {
  status: number | string;
  ms: number;
}

/** One request, the whole answer read; a transport error is answered by its code (ECONNRESET, ...). */
function call(
  url: string,
  o: {
    method?: string;
    path: string;
    headers?: http.OutgoingHttpHeaders;
    body?: Buffer | string | (() => AsyncIterable<Buffer>);
    agent?: http.Agent;
    timeoutMs?: number;
  },
): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (status: number | string): void => {
      if (done) return;
      done = true;
      resolve({ status, ms: performance.now() - t0 });
    };
    const req = http.request(`${url}${o.path}`, { method: o.method ?? 'GET', headers: o.headers, agent: o.agent }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => finish(res.statusCode ?? 0));
      res.on('error', () => finish(res.statusCode ?? 'response error'));
    });
    req.setTimeout(o.timeoutMs ?? 120_000, () => {
      req.destroy();
      finish('client timeout');
    });
    req.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    const b = o.body;
    if (typeof b === 'function') {
      void (async () => {
        try {
          for await (const chunk of b()) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          req.end();
        } catch {
          req.destroy();
        }
      })();
    } else req.end(b);
  });
}

/** Runs `fn` every `periodMs` with at most `maxInFlight` outstanding until `until()`; skipped ticks counted. */
async function paced(periodMs: number, maxInFlight: number, until: () => boolean, fn: (i: number) => Promise<void>, skipped: Counts): Promise<void> {
  let inFlight = 0;
  const all = new Set<Promise<void>>();
  const start = performance.now();
  for (let i = 0; !until(); i++) {
    const due = start + i * periodMs;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (until()) break;
    if (inFlight >= maxInFlight) {
      bump(skipped, 'skipped (in flight cap)');
      continue;
    }
    inFlight++;
    const p = fn(i).finally(() => {
      inFlight--;
      all.delete(p);
    });
    all.add(p);
  }
  await Promise.all(all);
}

/**
 * Sockets that each send the start of a request and then one byte a second, never finishing:
 * kept at `count` open (a closed one is replaced) until `until()`.
 */
async function slowloris(url: string, count: number, until: () => boolean, head: string, drip: (i: number) => string, stats: Lifetimes): Promise<void> {
  const u = new URL(url);
  const open = new Set<net.Socket>();
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const s = net.connect(Number(u.port), u.hostname);
      stats.opened++;
      open.add(s);
      let got = '';
      let i = 0;
      let timer: NodeJS.Timeout | null = null;
      s.on('connect', () => {
        s.write(head);
        timer = setInterval(() => {
          if (!s.destroyed) s.write(drip(i++));
        }, 1000);
      });
      s.on('data', (d) => {
        if (got.length < 200) got += d.toString('latin1');
      });
      s.on('error', () => undefined);
      s.on('close', () => {
        if (timer) clearInterval(timer);
        open.delete(s);
        if (!until()) {
          stats.closedByServer++;
          stats.lifetimesMs.push(performance.now() - t0);
          bump(stats.answers, /^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 'nothing');
        }
        resolve();
      });
    });
  const loops = Array.from({ length: count }, async (_, k) => {
    await sleep(k * 50);
    while (!until()) await one();
  });
  // At the end the sockets still open are counted and closed by us.
  while (!until()) await sleep(200);
  stats.openAtEnd = open.size;
  for (const s of open) s.destroy();
  await Promise.all(loops);
}

/** Garbage a careless or hostile flow sender posts: a deterministic mix, 1 in 4 lines a plausible record. */
function garbageBody(i: number, good: string[]): string {
  const lines: string[] = [];
  let x = (i + 1) * 2654435761;
  const rnd = (): number => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x;
  };
  for (let k = 0; k < 400; k++) {
    switch (rnd() % 8) {
      case 0:
        lines.push(Buffer.from(Array.from({ length: 60 }, () => rnd() & 0xff)).toString('latin1'));
        break;
      case 1:
        lines.push('{"ts": 1e308, "uid": "x", "id.orig_h": "10.0.0.1"');
        break;
      case 2:
        lines.push(JSON.stringify({ ts: 1e15, uid: 'U'.repeat(601), 'id.orig_h': 'not-an-address', 'id.orig_p': 70000, proto: 'tcp' }));
        break;
      case 3:
        lines.push(JSON.stringify({ ts: -5, uid: '../../etc/passwd', orig_bytes: -1, duration: 'long' }));
        break;
      case 4:
        lines.push('['.repeat(2000));
        break;
      case 5:
        lines.push(`{"a":${'{"a":'.repeat(500)}1${'}'.repeat(501)}`);
        break;
      default:
        lines.push(good[k % good.length]);
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function soak(o: SoakOptions): Promise<SoakReport> {
  const { url, log } = o;
  const t0 = performance.now();
  let phase = 'unloaded';
  const samples: Sample[] = [];
  const sampler = setInterval(() => samples.push({ t: (performance.now() - t0) / 1000, phase, ...procStat(o.pid) }), 1000);
  samples.push({ t: 0, phase, ...procStat(o.pid) });
  const analystAgent = new http.Agent({ keepAlive: true, maxSockets: o.keys.analysts.length });
  const lat: Record<string, number[]> = { warmup: [], unloaded: [], soak: [], after: [] };
  const searchStatuses: Record<string, Counts> = { warmup: {}, unloaded: {}, soak: {}, after: {} };
  const esLat: Record<string, number[]> = { warmup: [], unloaded: [], soak: [], after: [] };
  const esAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const esBody = JSON.stringify({ size: 100, query: { term: { 'destination.port': 5432 } }, sort: [{ '@timestamp': 'desc' }] });

  // Analysts: each a closed loop with 250 ms think time, its own key (the per-key rate limit is
  // for one person; 4 searches a second stays under the default 600 a minute).
  const analysts = async (ph: string, seconds: number): Promise<void> => {
    const end = performance.now() + seconds * 1000;
    await Promise.all([
      ...o.keys.analysts.map(async (key, a) => {
        await sleep(a * 60);
        for (let q = a; performance.now() < end; q++) {
          const r = await call(url, {
            path: `/api/v1/connections?limit=100&q=${encodeURIComponent(o.queries[q % o.queries.length])}`,
            headers: { authorization: `Bearer ${key}` },
            agent: analystAgent,
          });
          bump(searchStatuses[ph], r.status);
          if (r.status === 200) lat[ph].push(r.ms);
          await sleep(250);
        }
      }),
      (async () => {
        const probe = o.esProbe;
        if (!probe) return;
        await sleep(30);
        while (performance.now() < end) {
          const r = await call(probe.url, {
            method: 'POST',
            path: `/${probe.index}/_search`,
            headers: { 'content-type': 'application/json' },
            body: esBody,
            agent: esAgent,
          });
          if (r.status === 200) esLat[ph].push(r.ms);
          await sleep(250);
        }
      })(),
    ]);
  };

  const clientLoop = monitorEventLoopDelay({ resolution: 10 });
  clientLoop.enable();
  const loopDelay = {} as SoakReport['loopDelay'];
  const memory = {} as SoakReport['memory'];
  const cpu = {} as SoakReport['cpu'];
  let cpuMark = { at: performance.now(), server: cpuSeconds(o.pid), client: process.cpuUsage(), wait: runQueueWait(o.pid) };
  const markCpu = (): void => {
    cpuMark = { at: performance.now(), server: cpuSeconds(o.pid), client: process.cpuUsage(), wait: runQueueWait(o.pid) };
  };
  const endPhase = async (ph: 'unloaded' | 'soak' | 'after'): Promise<void> => {
    const client = {
      p50: clientLoop.percentile(50) / 1e6,
      p90: clientLoop.percentile(90) / 1e6,
      p99: clientLoop.percentile(99) / 1e6,
      max: clientLoop.max / 1e6,
    };
    clientLoop.reset();
    const secs = (performance.now() - cpuMark.at) / 1000;
    const used = process.cpuUsage(cpuMark.client);
    cpu[ph] = {
      server: (cpuSeconds(o.pid) - cpuMark.server) / secs,
      client: (used.user + used.system) / 1e6 / secs,
      serverRunQueueWait: (runQueueWait(o.pid) - cpuMark.wait) / secs,
    };
    const server = await serverLoopDelay(url, o.keys.admin);
    memory[ph] = { rss: procStat(o.pid).rss, ...server?.memory };
    loopDelay[ph] = { server: server && { p50: server.p50, p90: server.p90, p99: server.p99, max: server.max }, client };
    markCpu();
  };
  if (o.warmupSeconds > 0) {
    log(`soak: warm-up searches, ${o.warmupSeconds} s (not counted)`);
    await analysts('warmup', o.warmupSeconds);
  }
  await serverLoopDelay(url, o.keys.admin);
  clientLoop.reset();
  markCpu();
  log(`soak: unloaded searches, ${o.keys.analysts.length} analysts, ${o.baselineSeconds} s`);
  await analysts('unloaded', o.baselineSeconds);
  await endPhase('unloaded');

  phase = 'soak';
  const soakStartT = (performance.now() - t0) / 1000;
  log(`soak: ${o.seconds} s of ordinary and hostile clients`);
  const soakEnd = performance.now() + o.seconds * 1000;
  const over = (): boolean => performance.now() >= soakEnd;
  const hostile: Record<string, Counts> = {};
  const h = (name: string): Counts => {
    hostile[name] ??= {};
    return hostile[name];
  };
  const ingestStatuses: Counts = {};
  const ingestMs: number[] = [];
  let ingestRequests = 0;
  const ingestAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const floodAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const good = o.template.trimEnd().split('\n');
  const slow: Record<string, Lifetimes> = {
    'slowloris headers': { opened: 0, closedByServer: 0, answers: {}, lifetimesMs: [], openAtEnd: 0 },
    'slowloris body': { opened: 0, closedByServer: 0, answers: {}, lifetimesMs: [], openAtEnd: 0 },
    'idle connections': { opened: 0, closedByServer: 0, answers: {}, lifetimesMs: [], openAtEnd: 0 },
  };
  const u = new URL(url);
  const host = `${u.hostname}:${u.port}`;
  let seq = 0;
  const big = Buffer.alloc(2 * o.flowLimitBytes, '{"ts":1}\n');
  const aggPaths = [
    '/api/v1/aggregations/histogram?interval=1&from=0&to=4102444800',
    '/api/v1/aggregations/edges?limit=5000&from=0&to=4102444800',
    '/api/v1/aggregations/top?field=uid&limit=1000&from=0&to=4102444800',
    '/api/v1/aggregations/distinct?field=uid&from=0&to=4102444800',
    `/api/v1/connections?limit=10000&from=0&q=${encodeURIComponent(`service:*${'a*'.repeat(200)}`)}`,
    `/api/v1/connections?limit=10000&q=${encodeURIComponent(`${'not '.repeat(1000)}dport:1`)}`,
    '/api/v1/aggregations/histogram?interval=60&from=now-9999999999d',
  ];

  const on = (k: string): boolean => !o.only || o.only.includes(k);
  const none = Promise.resolve();
  const load = Promise.all([
    analysts('soak', o.seconds),
    // Steady ingestion: perRequest records at ingestRate records/s.
    paced(
      (1000 * o.perRequest) / o.ingestRate,
      4,
      over,
      async () => {
        const n = (seq++).toString(36).padStart(o.mark.length, '0');
        const r = await call(url, {
          method: 'POST',
          path: '/api/v1/flows?format=ndjson',
          headers: { authorization: `Bearer ${o.keys.ingest}`, 'content-type': 'application/x-ndjson' },
          body: o.template.replaceAll(o.mark, n),
          agent: ingestAgent,
        });
        ingestRequests++;
        bump(ingestStatuses, r.status);
        ingestMs.push(r.ms);
      },
      ingestStatuses,
    ),
    // Oversized bodies, one declared by Content-Length, one chunked (the limit found while reading).
    !on('oversized')
      ? none
      : paced(
          2000,
          2,
          over,
          async (i) => {
            const chunked = i % 2 === 1;
            const r = await call(url, {
              method: 'POST',
              path: '/api/v1/flows?format=ndjson',
              headers: {
                authorization: `Bearer ${o.keys.hostileIngest}`,
                'content-type': 'application/x-ndjson',
                ...(chunked ? {} : { 'content-length': String(big.length) }),
              },
              body: chunked
                ? async function* () {
                    for (let off = 0; off < big.length; off += 1 << 16) yield big.subarray(off, off + (1 << 16));
                  }
                : big,
            });
            bump(h(chunked ? 'oversized body, chunked' : 'oversized body, declared'), r.status);
          },
          h('oversized body'),
        ),
    // Garbage flow lines (with some good ones among them).
    !on('garbage')
      ? none
      : paced(
          1000,
          2,
          over,
          async (i) => {
            const r = await call(url, {
              method: 'POST',
              path: '/api/v1/flows',
              headers: { authorization: `Bearer ${o.keys.hostileIngest}`, 'content-type': 'application/x-ndjson' },
              body: garbageBody(i, good),
            });
            bump(h('garbage flow lines'), r.status);
          },
          h('garbage flow lines'),
        ),
    // Aggregations and searches as large as the API takes, 2 at a time, back to back.
    ...(on('aggregations') ? [0, 1] : []).map(async (w) => {
      for (let i = w; !over(); i += 2) {
        const r = await call(url, { path: aggPaths[i % aggPaths.length], headers: { authorization: `Bearer ${o.keys.hostile}` } });
        bump(h('huge aggregations'), r.status);
        if (r.status === 429) await sleep(100);
      }
    }),
    // Floods: no key, and keys that are not keys.
    !on('floods')
      ? none
      : paced(
          1000 / o.floodRate,
          32,
          over,
          async () => {
            const r = await call(url, { path: '/api/v1/connections?q=dport:22', agent: floodAgent });
            bump(h('unauthenticated flood'), r.status);
          },
          h('unauthenticated flood'),
        ),
    !on('floods')
      ? none
      : paced(
          1000 / o.floodRate,
          32,
          over,
          async (i) => {
            const bad = i % 3 === 0 ? 'ew_000000000000_forged' : i % 3 === 1 ? `ew_${o.keys.hostile.slice(3, 15)}_${'A'.repeat(43)}` : 'x'.repeat(4000);
            const r = await call(url, { path: '/api/v1/aggregations/edges?limit=5000', headers: { authorization: `Bearer ${bad}` }, agent: floodAgent });
            bump(h('bad keys flood'), r.status);
          },
          h('bad keys flood'),
        ),
    !on('slowloris')
      ? none
      : slowloris(
          url,
          o.slowSockets,
          over,
          `GET /api/v1/connections HTTP/1.1\r\nHost: ${host}\r\n`,
          (i) => (i % 20 === 19 ? '\r\n' : ('X-Slow: a'[i % 10] ?? 'a')),
          slow['slowloris headers'],
        ),
    !on('slowloris')
      ? none
      : slowloris(
          url,
          o.slowSockets,
          over,
          `POST /api/v1/flows?format=ndjson HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${o.keys.hostileIngest}\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000000\r\n\r\n`,
          (i) => good[0][i % good[0].length],
          slow['slowloris body'],
        ),
    !on('idle') ? none : slowloris(url, o.idleSockets, over, '', () => '', slow['idle connections']),
  ]);
  await load;
  const soakEndT = (performance.now() - t0) / 1000;
  await endPhase('soak');
  ingestAgent.destroy();
  floodAgent.destroy();

  phase = 'after';
  log(`soak: searches alone again, ${o.baselineSeconds} s`);
  await analysts('after', o.baselineSeconds);
  await endPhase('after');
  clientLoop.disable();
  clearInterval(sampler);
  samples.push({ t: (performance.now() - t0) / 1000, phase, ...procStat(o.pid) });
  analystAgent.destroy();
  esAgent.destroy();
  const alive = await call(url, { path: '/healthz', timeoutMs: 10_000 }).then((r) => r.status === 200);

  const stat = (ph: 'unloaded' | 'soak' | 'after') => ({
    n: lat[ph].length,
    p50: pct(lat[ph], 50),
    p95: pct(lat[ph], 95),
    max: lat[ph].length ? Math.max(...lat[ph]) : NaN,
    statuses: searchStatuses[ph],
  });
  const rss = samples.filter((s) => Number.isFinite(s.rss));
  const inSoak = rss.filter((s) => s.t >= soakStartT && s.t <= soakEndT);
  const search = { unloaded: stat('unloaded'), soak: stat('soak'), after: stat('after') };
  // Slowloris lifetimes are reported as they are; the 'idle connections' that never sent a byte
  // carry no lifetimes worth a median when the server keeps them past the soak.
  return {
    seconds: o.seconds,
    baselineSeconds: o.baselineSeconds,
    loadAverage: [],
    search,
    ratio: { p50: search.soak.p50 / search.unloaded.p50, p95: search.soak.p95 / search.unloaded.p95, esP95: pct(esLat.soak, 95) / pct(esLat.unloaded, 95) },
    es: o.esProbe
      ? {
          unloaded: { n: esLat.unloaded.length, p50: pct(esLat.unloaded, 50), p95: pct(esLat.unloaded, 95) },
          soak: { n: esLat.soak.length, p50: pct(esLat.soak, 50), p95: pct(esLat.soak, 95) },
          after: { n: esLat.after.length, p50: pct(esLat.after, 50), p95: pct(esLat.after, 95) },
        }
      : null,
    ingest: { requests: ingestRequests, records: (ingestStatuses['202'] ?? 0) * o.perRequest, statuses: ingestStatuses, p95: pct(ingestMs, 95) },
    hostile,
    slowloris: slow,
    rss: {
      start: rss[0]?.rss ?? NaN,
      max: Math.max(...rss.map((s) => s.rss)),
      end: rss[rss.length - 1]?.rss ?? NaN,
      soakStart: inSoak[0]?.rss ?? NaN,
      soakEnd: inSoak[inSoak.length - 1]?.rss ?? NaN,
      slopeMbPerMin: slope(inSoak.map((s) => ({ t: s.t, y: s.rss }))) * 60,
      slopeSecondHalfMbPerMin: slope(inSoak.filter((s) => s.t >= (soakStartT + soakEndT) / 2).map((s) => ({ t: s.t, y: s.rss }))) * 60,
    },
    fds: {
      start: samples[0].fds,
      max: Math.max(...samples.filter((s) => Number.isFinite(s.fds)).map((s) => s.fds)),
      end: samples[samples.length - 1].fds,
    },
    serverAlive: alive,
    loopDelay,
    memory,
    cpu,
    samples,
  };
}
