/**
 * Service load benchmark: flow records over HTTP into Elasticsearch, end to end, on this machine.
 *
 *   npm run bench:service -- [--duration S] [--connections C] [--batch N] [--no-detectors] [--search-seconds S]
 *
 * 1. `eastwatch serve --with-workers` as a child process on Redis ($REDIS_URL or 127.0.0.1:6379)
 *    and Elasticsearch ($ES_URL, else one started here with scripts/es.sh on port 9253).
 * 2. autocannon POSTs NDJSON batches of our own connection records (N per request, every request
 *    new uids) to /api/v1/flows for --duration seconds; the server's RSS and the index's document
 *    count are sampled every 5 s; when the load stops, the queue is waited out. End-to-end rate =
 *    records in the index / (time the last one landed - start).
 * 3. The peer, in the same command: the same number of the same documents sent straight to
 *    Elasticsearch's _bulk (prepared in memory, 2 requests in flight): the ceiling of the machine.
 * 4. Search: 20 concurrent analysts (autocannon, 20 connections) on GET /api/v1/connections with
 *    rotating queries for --search-seconds: requests/s, p50 and p95 latency.
 *
 *   npm run bench:service -- --soak SECONDS [--soak-baseline S] [--soak-warmup S] [--soak-ingest RECORDS_PER_S]
 *                            [--soak-flood RPS] [--soak-slow SOCKETS] [--soak-idle SOCKETS]
 *
 * Instead of the above: the same server, as shipped (default rate limits) but with an 8 MiB flow
 * request limit, seeded with 20,000 records, then searched by 4 analysts alone, then for SECONDS
 * with steady ingestion and hostile clients at once, then alone again (bench/soak.ts): search
 * p50/p95 loaded over unloaded, the server's RSS over time, what each hostile client was answered.
 * BENCH_SERVER_MAIN=<other build>/dist/src/cli/main.js runs another build's server under the same clients.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { rawBulk } from './es-bulk';
import { generateTraffic } from './traffic';
import { analyzeFile } from '../src/analyze/pipeline';
import type { ConnRecord } from '../parsers/record/conn';
import { recordVersion, toEcs } from '../src/store/ecs';
import { KeyStore } from '../src/service/keys';
import { soak } from './soak';

const REPO = [2, 3]
  .map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..')))
  .find((d) => fs.existsSync(path.join(d, 'scripts', 'es.sh'))) as string;
// BENCH_SERVER_MAIN: another build's dist/src/cli/main.js as the server (the same clients against two builds).
const MAIN = process.env.BENCH_SERVER_MAIN ?? path.resolve(__dirname, '..', 'src', 'cli', 'main.js');
const QUERIES = ['dport:5432', 'proto:udp and dport:53', 'state:REJ or state:S0', 'src:10.244.1.0/24 and not dport:8080', 'history:Sh*'];
const MARK = 'QQQQQQQQ';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const flag = (name: string): boolean => process.argv.includes(name);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function esCount(es: string, index: string): Promise<number> {
  await fetch(`${es}/${index}/_refresh`, { method: 'POST' }).catch(() => undefined);
  const r = await fetch(`${es}/${index}/_count`).catch(() => null);
  if (!r?.ok) return 0;
  return ((await r.json()) as { count: number }).count;
}

/** Template records with uids carrying a marker that each request replaces with its own number. */
async function templates(n: number): Promise<ConnRecord[]> {
  const file = path.join(os.tmpdir(), 'eastwatch-bench-service-200k.pcap');
  if (!fs.existsSync(file)) await generateTraffic(file, { packets: 200_000, seed: 4242 });
  const recs: ConnRecord[] = [];
  await analyzeFile(file, (r) => {
    if (recs.length < n) recs.push(r);
  });
  if (recs.length < n) throw new Error(`the template capture gave ${recs.length} records, fewer than --batch ${n}`);
  return recs.map((r, i) => ({ ...r, uid: `B${MARK}${i.toString(36)}` }));
}

async function rawBulkCeiling(es: string, index: string, recs: ConnRecord[], total: number): Promise<number> {
  const bodies: string[] = [];
  const per = 2000;
  for (let sent = 0, k = 0; sent < total; k++) {
    const lines: string[] = [];
    for (let i = 0; i < per && sent < total; i++, sent++) {
      const r = recs[sent % recs.length];
      const uid = `R${k}x${i}`;
      lines.push(
        JSON.stringify({ index: { _index: index, _id: uid, version: recordVersion(r), version_type: 'external_gte' } }),
        JSON.stringify(toEcs({ ...r, uid })),
      );
    }
    bodies.push(`${lines.join('\n')}\n`);
  }
  const t0 = process.hrtime.bigint();
  await rawBulk(es, bodies, 2);
  return total / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function main(): Promise<void> {
  const duration = arg('--duration', 60);
  const connections = arg('--connections', 4);
  const batch = arg('--batch', 5000);
  const searchSeconds = arg('--search-seconds', 20);
  const detectors = !flag('--no-detectors');
  const soakSeconds = arg('--soak', 0);
  const soakFlowLimit = 8 << 20;
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} missing: npm run build`);

  let es = process.env.ES_URL;
  let startedEs = false;
  if (!es) {
    execFileSync('bash', [path.join(REPO, 'scripts', 'es.sh'), 'start', '--port', '9253'], { stdio: 'inherit' });
    es = 'http://127.0.0.1:9253';
    startedEs = true;
  }
  const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const tag = `ewbench${Date.now().toString(36)}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-bench-svc-'));
  const keyStore = KeyStore.inDataDir(dataDir);
  const key = keyStore.create('bench', 'admin').token;
  // Before the server starts: it reads the key file once a second at most.
  const soakKeys = soakSeconds > 0 ? soakKeysIn(keyStore) : null;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const recs = await templates(soakSeconds > 0 ? 500 : batch);
  const template = `${recs.map((r) => JSON.stringify(r)).join('\n')}\n`;
  if (soakSeconds === 0)
    console.log(
      `${os.cpus().length} CPUs, node ${process.version}; ${batch} records per request, ${connections} connections, ${duration} s, detectors ${detectors ? 'on' : 'off'}`,
    );

  // BENCH_SERVER_NODE_ARGS: node flags for the server only (e.g. --cpu-prof, which NODE_OPTIONS refuses).
  const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a);
  const server: ChildProcess = spawn(process.execPath, [...serverNodeArgs, MAIN, 'serve', '--with-workers', ...(detectors ? [] : ['--no-detectors'])], {
    env: {
      ...process.env,
      REDIS_URL: redis,
      ES_URL: es,
      EASTWATCH_DATA_DIR: dataDir,
      EASTWATCH_PORT: String(port),
      EASTWATCH_ES_PREFIX: tag,
      EASTWATCH_QUEUE_PREFIX: tag,
      // The soak runs with the shipped rate limits; its oversized bodies go over a limit of 8 MiB.
      ...(soakSeconds > 0
        ? { EASTWATCH_MAX_FLOW_REQUEST_BYTES: String(soakFlowLimit) }
        : { EASTWATCH_RATE_PER_MINUTE: '1000000', EASTWATCH_MAX_FLOW_REQUEST_BYTES: String(1 << 30) }),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const index = `${tag}-conn`;
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 100) throw new Error('the server did not start');
      await sleep(200);
    }
    if (soakKeys) {
      await runSoak({ url, pid: server.pid as number, soakSeconds, keys: soakKeys, recs, detectors, es, index: `${tag}-conn` });
      return;
    }
    let seq = 0;
    let acked = 0;
    const samples: { t: number; rss: number; count: number }[] = [];
    const t0 = Date.now();
    const sampler = setInterval(() => {
      void esCount(es as string, index).then((count) => samples.push({ t: (Date.now() - t0) / 1000, rss: rssMb(server.pid as number), count }));
    }, 5000);
    const ingest = await autocannon({
      url: `${url}/api/v1/flows?format=ndjson`,
      connections,
      duration,
      timeout: 120,
      requests: [
        {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
          setupRequest: (req) => ({ ...req, body: template.replaceAll(MARK, (seq++).toString(36).padStart(8, '0')) }),
          onResponse: (status) => {
            if (status === 202) acked += batch;
          },
        },
      ],
    });
    const loadEnd = Date.now();
    // Wait for the queue: until the index holds every acknowledged record, or stops growing for 60 s.
    let last = -1;
    let lastChange = Date.now();
    let landedAt = Date.now();
    for (;;) {
      const c = await esCount(es, index);
      if (c !== last) {
        last = c;
        lastChange = Date.now();
        landedAt = Date.now();
      }
      if (c >= acked || Date.now() - lastChange > 60_000) break;
      await sleep(500);
    }
    clearInterval(sampler);
    const stored = last;
    const e2e = stored / ((landedAt - t0) / 1000);
    const firstMin = samples.filter((s) => s.t <= 60).map((s) => s.rss);
    const lastMin = samples.filter((s) => s.t >= (loadEnd - t0) / 1000 - 60 && s.t <= (loadEnd - t0) / 1000).map((s) => s.rss);
    const steady = samples.filter((s) => s.t >= 10 && s.t <= (loadEnd - t0) / 1000);
    const steadyRate = steady.length >= 2 ? (steady[steady.length - 1].count - steady[0].count) / (steady[steady.length - 1].t - steady[0].t) : NaN;

    console.log(
      `flows over HTTP: ${ingest.requests.total} requests (${ingest.non2xx} non-2xx, ${ingest.errors} errors), ${acked.toLocaleString('en-US')} records acknowledged, ${stored.toLocaleString('en-US')} in the index`,
    );
    console.log(
      `  end to end: ${Math.round(e2e).toLocaleString('en-US')} records/s (start to last record indexed, ${((landedAt - t0) / 1000).toFixed(1)} s); steady indexing rate under load ${Math.round(steadyRate).toLocaleString('en-US')} records/s`,
    );
    console.log(`  API answer per ${batch}-record request: p50 ${ingest.latency.p50} ms, p97.5 ${ingest.latency.p97_5} ms`);
    console.log(
      `  server RSS: first minute median ${median(firstMin).toFixed(0)} MB, last minute of load median ${median(lastMin).toFixed(0)} MB, max ${Math.max(...samples.map((s) => s.rss)).toFixed(0)} MB`,
    );

    const ceiling = await rawBulkCeiling(es, `${tag}-rawbulk`, recs, Math.min(stored, 1_000_000));
    console.log(
      `  peer: raw _bulk of the same documents ${Math.round(ceiling).toLocaleString('en-US')} records/s; eastwatch end to end / raw bulk = ${(e2e / ceiling).toFixed(2)}`,
    );

    const latencies: number[] = [];
    let q = 0;
    const search = await autocannon({
      url,
      connections: 20,
      duration: searchSeconds,
      requests: [
        {
          method: 'GET',
          headers: { authorization: `Bearer ${key}` },
          setupRequest: (req) => ({ ...req, path: `/api/v1/connections?limit=100&q=${encodeURIComponent(QUERIES[q++ % QUERIES.length])}` }),
        },
      ],
      setupClient: (client) => client.on('response', (_s: number, _b: number, ms: number) => latencies.push(ms)),
    });
    console.log(
      `search, 20 concurrent analysts, ${searchSeconds} s over ${stored.toLocaleString('en-US')} records: ${(search.requests.total / searchSeconds).toFixed(0)} requests/s, p50 ${pct(latencies, 50).toFixed(0)} ms, p95 ${pct(latencies, 95).toFixed(0)} ms (${search.non2xx} non-2xx)`,
    );
    fs.mkdirSync(path.join(REPO, 'bench', 'out'), { recursive: true });
    fs.writeFileSync(
      path.join(REPO, 'bench', 'out', `service-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
      JSON.stringify(
        {
          duration,
          connections,
          batch,
          detectors,
          acked,
          stored,
          e2e,
          steadyRate,
          ceiling,
          samples,
          search: { rps: search.requests.total / searchSeconds, p50: pct(latencies, 50), p95: pct(latencies, 95) },
        },
        null,
        1,
      ),
    );
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await fetch(`${es}/${tag}-*`, { method: 'DELETE' }).catch(() => undefined);
    for (const t of ['_index_template', '_component_template']) {
      const r = await fetch(`${es}/${t}/${tag}-*`).catch(() => null);
      if (r?.ok)
        for (const item of Object.values((await r.json()) as Record<string, { name: string }[]>)[0] ?? [])
          await fetch(`${es}/${t}/${item.name}`, { method: 'DELETE' });
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
    execFileSync('sh', ['-c', `redis-cli -u ${redis} --scan --pattern '${tag}:*' | xargs -r redis-cli -u ${redis} del > /dev/null`]);
    if (startedEs) execFileSync('bash', [path.join(REPO, 'scripts', 'es.sh'), 'stop', '--port', '9253'], { stdio: 'inherit' });
  }
}

type SoakKeys = { ingest: string; analysts: string[]; hostile: string; hostileIngest: string; admin: string };

/** One key per analyst (the rate limit is per key), and separate keys for the hostile clients. */
function soakKeysIn(ks: KeyStore): SoakKeys {
  return {
    ingest: ks.create('soak-ingest', 'ingest').token,
    analysts: [0, 1, 2, 3].map((i) => ks.create(`soak-analyst-${i}`, 'analyst').token),
    hostile: ks.create('soak-hostile-analyst', 'analyst').token,
    hostileIngest: ks.create('soak-hostile-ingest', 'ingest').token,
    // Reads the server's /metrics (event-loop delay) at each phase's end; makes no other request.
    admin: ks.create('soak-metrics', 'admin').token,
  };
}

async function runSoak(o: {
  url: string;
  pid: number;
  soakSeconds: number;
  keys: SoakKeys;
  recs: ConnRecord[];
  detectors: boolean;
  es: string;
  index: string;
}): Promise<void> {
  const baselineSeconds = arg('--soak-baseline', 20);
  const ingestRate = arg('--soak-ingest', 1000);
  const floodRate = arg('--soak-flood', 100);
  const slowSockets = arg('--soak-slow', 20);
  const idleSockets = arg('--soak-idle', 200);
  const template = `${o.recs.map((r) => JSON.stringify(r)).join('\n')}\n`;
  const keys = o.keys;
  const ingest = keys.ingest;
  console.log(
    `${os.cpus().length} CPUs, node ${process.version}, detectors ${o.detectors ? 'on' : 'off'}; soak ${o.soakSeconds} s, unloaded ${baselineSeconds} s before and after; ingestion ${ingestRate} records/s in requests of ${o.recs.length}; floods ${floodRate} requests/s each; ${slowSockets} slowloris sockets per kind, ${idleSockets} idle sockets; load average before ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  // Seed: 20,000 records in the store before anything is measured.
  for (let k = 0; k < 40; k++) {
    const r = await fetch(`${o.url}/api/v1/flows?format=ndjson&wait=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ingest}`, 'content-type': 'application/x-ndjson' },
      body: template.replaceAll(MARK, `s${k.toString(36).padStart(MARK.length - 1, '0')}`),
    });
    if (r.status !== 202 && r.status !== 200) throw new Error(`seeding: ${r.status} ${await r.text()}`);
  }
  const rep = await soak({
    url: o.url,
    pid: o.pid,
    seconds: o.soakSeconds,
    baselineSeconds,
    warmupSeconds: arg('--soak-warmup', 5),
    esProbe: { url: o.es, index: o.index },
    keys,
    template,
    mark: MARK,
    perRequest: o.recs.length,
    ingestRate,
    flowLimitBytes: 8 << 20,
    floodRate,
    slowSockets,
    idleSockets,
    queries: QUERIES,
    only: process.argv.includes('--soak-only') ? String(process.argv[process.argv.indexOf('--soak-only') + 1]).split(',') : undefined,
    log: (l) => console.log(l),
  });
  rep.loadAverage = os.loadavg();
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');
  const counts = (c: Record<string, number>): string =>
    Object.entries(c)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ') || 'none';
  for (const ph of ['unloaded', 'soak', 'after'] as const) {
    const s = rep.search[ph];
    console.log(`search ${ph.padEnd(8)} ${s.n} answers, p50 ${f(s.p50)} ms, p95 ${f(s.p95)} ms, max ${f(s.max)} ms (${counts(s.statuses)})`);
    const d = rep.loopDelay[ph];
    const ld = (x: { p50: number; p90: number; p99: number; max: number } | null): string =>
      x ? `p50 ${x.p50.toFixed(1)}, p90 ${x.p90.toFixed(1)}, p99 ${x.p99.toFixed(1)}, max ${x.max.toFixed(0)} ms` : 'n/a';
    console.log(
      `  event-loop delay ${ph}: server ${ld(d.server)}; bench client ${ld(d.client)}; CPU (cores): server ${rep.cpu[ph].server.toFixed(2)}, bench client ${rep.cpu[ph].client.toFixed(2)}; server event loop waiting for a core ${(100 * rep.cpu[ph].serverRunQueueWait).toFixed(0)}% of the time`,
    );
  }
  console.log(`search under load / unloaded: p50 ${rep.ratio.p50.toFixed(2)}x, p95 ${rep.ratio.p95.toFixed(2)}x (target: p95 within 2x)`);
  if (rep.es)
    console.log(
      `peer, Elasticsearch searched directly (one client, same pace): p50/p95 unloaded ${f(rep.es.unloaded.p50)}/${f(rep.es.unloaded.p95)} ms, soak ${f(rep.es.soak.p50)}/${f(rep.es.soak.p95)} ms, after ${f(rep.es.after.p50)}/${f(rep.es.after.p95)} ms; p95 under load / unloaded ${rep.ratio.esP95.toFixed(2)}x`,
    );
  console.log(
    `ingestion: ${rep.ingest.requests} requests, ${rep.ingest.records.toLocaleString('en-US')} records accepted, p95 ${f(rep.ingest.p95)} ms (${counts(rep.ingest.statuses)})`,
  );
  for (const [name, c] of Object.entries(rep.hostile)) if (Object.keys(c).length) console.log(`hostile ${name}: ${counts(c)}`);
  for (const [name, s] of Object.entries(rep.slowloris)) {
    const life = [...s.lifetimesMs].sort((a, b) => a - b);
    console.log(
      `hostile ${name}: ${s.opened} opened, ${s.closedByServer} closed by the server (lifetime median ${f(median(life) / 1000)} s, max ${f((life[life.length - 1] ?? NaN) / 1000)} s; answers ${counts(s.answers)}), ${s.openAtEnd} still open at the end`,
    );
  }
  console.log(
    `server RSS: start ${f(rep.rss.start)} MB, max ${f(rep.rss.max)} MB, end ${f(rep.rss.end)} MB; during the soak ${f(rep.rss.soakStart)} -> ${f(rep.rss.soakEnd)} MB, slope ${rep.rss.slopeMbPerMin.toFixed(1)} MB/min (second half ${rep.rss.slopeSecondHalfMbPerMin.toFixed(1)}); open fds start ${rep.fds.start}, max ${rep.fds.max}, end ${rep.fds.end}; server ${rep.serverAlive ? 'alive' : 'NOT answering'} at the end`,
  );
  const mem = (ph: 'unloaded' | 'soak' | 'after'): string => {
    const m = rep.memory[ph];
    return `${ph} RSS ${f(m.rss)}, heap used ${f(m.heapUsed ?? NaN)}, external ${f(m.external ?? NaN)}`;
  };
  console.log(`server memory at phase ends, MB (heap and external from its /metrics, no GC forced): ${mem('unloaded')}; ${mem('soak')}; ${mem('after')}`);
  console.log(`load average after: ${rep.loadAverage.map((x) => x.toFixed(2)).join(' ')}`);
  fs.mkdirSync(path.join(REPO, 'bench', 'out'), { recursive: true });
  fs.writeFileSync(path.join(REPO, 'bench', 'out', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(rep, null, 1));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
