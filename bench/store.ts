/**
 * Store benchmark: the connection records of the benchmark capture indexed into each backend,
 * records/s, beside the raw `_bulk` rate of the same documents sent by a minimal loader (the
 * ceiling for our Elasticsearch path), and search latency of typical analyst queries on a store
 * of --records records.
 *
 *   npm run bench:store -- [--packets N] [--records N] [--ingest-records N] [--rounds R] [--runs R]
 *                          [--shift SECONDS] [--skip-sqlite] [--skip-es]
 *
 * The capture is bench/out/pods-v1-p<N>-s59991.pcap (default N = 1000000), generated here when
 * missing. Copies of its records (new uids, each copy --shift seconds earlier, default 600) make
 * a store of --records records (default: one copy); they are generated as they are written, so
 * memory stays that of one copy.
 *
 * Figures printed per backend: wall-clock records/s and records per CPU-second (this process,
 * plus the Elasticsearch JVM when its pid is known): the machine is shared, and CPU time is what
 * another process's load does not change.
 *
 * Elasticsearch: $ES_URL (pid from $ES_PID, or the pid file of scripts/es.sh for its port), else a
 * node started here with scripts/es.sh on port 9252 (stopped after).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeFile } from '../src/analyze/pipeline';
import { recordVersion, toEcs } from '../src/store/ecs';
import { ElasticsearchStore } from '../src/store/elasticsearch';
import { SqliteStore } from '../src/store/sqlite';
import { rawBulk } from './es-bulk';
import type { Store, StoreRecord, WriterOptions } from '../src/store/types';
import { TRAFFIC_VERSION, generateTraffic } from './traffic';

const REPO = [2, 3]
  .map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..')))
  .find((d) => fs.existsSync(path.join(d, 'scripts', 'es.sh'))) as string;
const QUERIES = [
  'dport: 5432 and state: SF',
  'src: 10.244.1.0/24 and not dport: (53 or 8080)',
  'network.bytes > 100000',
  'history: Sh* and proto: tcp',
  'state: (REJ or S0) and dst: 10.96.0.0/12',
];

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} takes a number, got ${process.argv[i + 1]}`);
  return v;
}
const flag = (name: string): boolean => process.argv.includes(name);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
const med = (xs: number[]): number => pct(xs, 50);
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

/** `count` records: copies of base with new uids, each copy `shift` seconds earlier. */
function* copies(base: StoreRecord[], count: number, shift: number): Generator<StoreRecord> {
  for (let i = 0; i < count; i++) {
    const k = Math.floor(i / base.length);
    const r = base[i % base.length];
    yield k === 0 ? r : { ...r, uid: `${r.uid}r${k}`, ts: r.ts - k * shift };
  }
}

/** CPU seconds of another process (the Elasticsearch JVM), from /proc; null when unknown. */
function procCpu(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

interface Meter {
  wall: number;
  cpu: number;
  serverCpu: number | null;
}

/** Wall seconds, this process's CPU seconds, and the server's, around fn. */
async function meter(serverPid: number | null, fn: () => Promise<void>): Promise<Meter> {
  const s0 = procCpu(serverPid);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  const s1 = procCpu(serverPid);
  return { wall, cpu: (c.user + c.system) / 1e6, serverCpu: s0 === null || s1 === null ? null : s1 - s0 };
}

function rateLine(label: string, n: number, m: Meter, extra = ''): string {
  const cpu = m.cpu + (m.serverCpu ?? 0);
  return `${label.padEnd(34)} ${fmt(n / m.wall).padStart(9)} records/s wall, ${fmt(n / cpu).padStart(9)} records per CPU-second${m.serverCpu === null ? '' : ' (client + server)'}  (${n} in ${m.wall.toFixed(1)} s${extra})`;
}

async function writeAll(store: Store, recs: Iterable<StoreRecord>, opts: WriterOptions): Promise<number> {
  const w = store.writer(opts);
  let n = 0;
  for (const r of recs) {
    w.add(r);
    n++;
    const c = w.congestion();
    if (c) await c;
  }
  const res = await w.close();
  if (res.written !== n) throw new Error(`wrote ${res.written} of ${n} (${JSON.stringify(res)})`);
  return n;
}

async function searchLatency(store: Store, runs: number): Promise<string[]> {
  const out: string[] = [];
  const p95s: number[] = [];
  // One untimed pass: the first query of each pays for loading what it touches.
  for (const q of QUERIES) await store.search({ query: q, limit: 100 });
  for (const q of QUERIES) {
    const ms: number[] = [];
    let n = 0;
    for (let i = 0; i < runs; i++) {
      const t = process.hrtime.bigint();
      const page = await store.search({ query: q, limit: 100 });
      n = page.records.length;
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    p95s.push(pct(ms, 95));
    out.push(`    ${q.padEnd(52)} p50 ${pct(ms, 50).toFixed(1).padStart(7)} ms  p95 ${pct(ms, 95).toFixed(1).padStart(7)} ms  (${n} hits/page, ${runs} runs)`);
  }
  out.push(`    worst p95 ${Math.max(...p95s).toFixed(1)} ms`);
  return out;
}

/** The ceiling: prepared NDJSON bodies (built before the clock starts), posted with fetch, 2 in flight. */

function rawBodies(docs: StoreRecord[], store: ElasticsearchStore, batch: number): string[] {
  const bodies: string[] = [];
  for (let i = 0; i < docs.length; i += batch) {
    bodies.push(
      docs
        .slice(i, i + batch)
        .map(
          (r) =>
            `${JSON.stringify({ index: { _index: store.indexFor(r), _id: r.uid, version: recordVersion(r), version_type: 'external_gte' } })}\n${JSON.stringify(toEcs(r))}\n`,
        )
        .join(''),
    );
  }
  return bodies;
}

async function benchSqlite(base: StoreRecord[], records: number, ingest: number, shift: number, runs: number): Promise<void> {
  const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-bench-store-'));
  // Appending to a store that holds records: row by row into every index.
  {
    const dir = tmp();
    const sq = new SqliteStore({ dataDir: dir });
    await sq.init();
    // Other records first (other uids, a week earlier), so that the measured writes insert.
    await writeAll(
      sq,
      [...copies(base, base.length, shift)].map((r) => ({ ...r, uid: `${r.uid}p`, ts: r.ts - 7 * 86400 })),
      {},
    );
    const m = await meter(null, async () => {
      await writeAll(sq, copies(base, ingest, shift), {});
    });
    console.log(rateLine('sqlite, appending (row by row)', ingest, m, `, ${base.length} stored before`));
    await sq.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const dir = tmp();
  const sq = new SqliteStore({ dataDir: dir });
  await sq.init();
  const m = await meter(null, async () => {
    await writeAll(sq, copies(base, records, shift), { bulkLoad: true });
  });
  console.log(rateLine('sqlite, bulk load (empty store)', records, m, `, indexes built at close; file ${(fs.statSync(sq.file).size / 1e6).toFixed(0)} MB`));
  console.log(`  search latency (sqlite, ${records} records):`);
  for (const l of await searchLatency(sq, runs)) console.log(l);
  await sq.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

function esPid(node: string, started: boolean): number | null {
  const port = new URL(node).port;
  const file = path.join(process.env.ES_WORK_DIR ?? path.join(process.env.TMPDIR ?? '/tmp', `eastwatch-es-${port}`), 'es.pid');
  if (process.env.ES_PID) return Number(process.env.ES_PID);
  if (!started && !fs.existsSync(file)) return null;
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
}

async function benchEs(
  node: string,
  pid: number | null,
  base: StoreRecord[],
  records: number,
  ingest: number,
  shift: number,
  rounds: number,
  runs: number,
): Promise<void> {
  const docs = [...copies(base, ingest, shift)];
  const raw: Meter[] = [];
  const ours: Meter[] = [];
  // Raw and ours alternate (merges of one round's indices run on into the next): medians of the rounds.
  for (let k = 0; k < rounds; k++) {
    const run = `ewbench-${Date.now().toString(36)}`;
    const ceiling = new ElasticsearchStore({ node, prefix: `${run}-raw` });
    await ceiling.init(); // the same templates: both paths index into identical mappings
    const bodies = rawBodies(docs, ceiling, 2000);
    raw.push(await meter(pid, () => rawBulk(node, bodies, 2)));
    await ceiling.destroy();
    await ceiling.close();
    const es = new ElasticsearchStore({ node, prefix: `${run}-ours` });
    await es.init();
    ours.push(
      await meter(pid, async () => {
        await writeAll(es, docs, {});
      }),
    );
    await es.destroy();
    await es.close();
    const r = (m: Meter): string => `${fmt(ingest / m.wall)}/s`;
    console.log(`  round ${k + 1}: raw _bulk ${r(raw[k])}, es store ${r(ours[k])}`);
  }
  const pick = (ms: Meter[]): Meter => {
    const w = med(ms.map((m) => m.wall));
    return ms.find((m) => m.wall === w) as Meter;
  };
  const [mr, mo] = [pick(raw), pick(ours)];
  const perCpu = (m: Meter): number | null => (m.serverCpu === null ? null : ingest / (m.cpu + m.serverCpu));
  // Each round's own ratio too: the load of other processes drifts between rounds more than within one.
  const roundRatio = (ms: Meter[]): number => med(ms.map((m, k) => raw[k].wall / m.wall));
  const share = (m: Meter, all: Meter[]): string => {
    const a = perCpu(m);
    const c = perCpu(mr);
    return `${((100 * mr.wall) / m.wall).toFixed(0)}% of the ceiling by wall clock (median of per-round ratios ${(100 * roundRatio(all)).toFixed(0)}%)${a !== null && c !== null ? `, ${((100 * a) / c).toFixed(0)}% by records per CPU-second` : ''}`;
  };
  console.log(rateLine('es raw _bulk (ceiling)', ingest, mr, `; prepared NDJSON, 2000 docs/request, 2 in flight; median of ${rounds}`));
  console.log(rateLine('es store', ingest, mo, `; toEcs + serialisation included; ${share(mo, ours)}`));

  if (records > 0) {
    const es = new ElasticsearchStore({ node, prefix: `ewbench-${Date.now().toString(36)}-search` });
    await es.init();
    try {
      const m = await meter(pid, async () => {
        await writeAll(es, copies(base, records, shift), {});
      });
      console.log(rateLine(`es store, load of ${records}`, records, m));
      await es.refresh();
      console.log(`  search latency (elasticsearch, ${await es.count({})} records):`);
      for (const l of await searchLatency(es, runs)) console.log(l);
    } finally {
      if (!flag('--keep')) await es.destroy();
      await es.close();
    }
  }
}

async function main(): Promise<void> {
  const packets = arg('--packets', 1_000_000);
  const runs = arg('--runs', 50);
  const rounds = arg('--rounds', 3);
  const shift = arg('--shift', 600);
  const file = path.join(REPO, 'bench', 'out', `pods-v${TRAFFIC_VERSION}-p${packets}-s59991.pcap`);
  if (!fs.existsSync(file)) {
    console.log(`generating ${file} ...`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const stats = await generateTraffic(file, { packets, seed: 59991 });
    fs.writeFileSync(`${file}.json`, `${JSON.stringify(stats, null, 1)}\n`);
  }
  const base: StoreRecord[] = [];
  await analyzeFile(file, (r) => base.push(r));
  const records = arg('--records', base.length);
  const ingest = arg('--ingest-records', base.length);
  console.log(
    `${path.relative(REPO, file)}: ${base.length} connection records; store of ${records}, ingest rate on ${ingest}; ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}, node ${process.version}`,
  );

  if (!flag('--skip-sqlite')) await benchSqlite(base, records, ingest, shift, runs);
  if (flag('--skip-es')) return;

  let node = process.env.ES_URL;
  let started = false;
  if (!node) {
    execFileSync('bash', [path.join(REPO, 'scripts', 'es.sh'), 'start', '--port', '9252'], { stdio: 'inherit' });
    node = 'http://127.0.0.1:9252';
    started = true;
  }
  try {
    await benchEs(node, esPid(node, started), base, records, ingest, shift, rounds, runs);
  } finally {
    if (started) execFileSync('bash', [path.join(REPO, 'scripts', 'es.sh'), 'stop', '--port', '9252'], { stdio: 'inherit' });
  }
  console.log(
    `load average at the end ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
