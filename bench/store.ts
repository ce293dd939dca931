/**
 * Store benchmark: the connection records of the benchmark capture indexed into each backend,
 * records/s, beside the raw `_bulk` rate of the same documents sent by a minimal loader (the
 * ceiling for our Elasticsearch path), and search latency of typical analyst queries.
 *
 *   npm run bench:store -- [--packets N] [--repeat K] [--runs R]
 *
 * The capture comes from `npm run bench` (bench/out/pods-v1-p<N>-s59991.pcap, default N = 1000000).
 * --repeat K writes K copies of the records (new uids, shifted a day each) for a larger store.
 * Elasticsearch: $ES_URL, else a node started here with scripts/es.sh on port 9252 (stopped after).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeFile } from '../src/analyze/pipeline';
import { recordVersion, toEcs } from '../src/store/ecs';
import { ElasticsearchStore } from '../src/store/elasticsearch';
import { SqliteStore } from '../src/store/sqlite';
import type { Store, StoreRecord } from '../src/store/types';

const REPO = [2, 3].map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..'))).find((d) => fs.existsSync(path.join(d, 'scripts', 'es.sh'))) as string;
const QUERIES = [
  'dport: 5432 and state: SF',
  'src: 10.244.1.0/24 and not dport: (53 or 8080)',
  'network.bytes > 100000',
  'history: Sh* and proto: tcp',
  'state: (REJ or S0) and dst: 10.96.0.0/12',
];

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function searchLatency(store: Store, runs: number): Promise<string[]> {
  const out: string[] = [];
  for (const q of QUERIES) {
    const ms: number[] = [];
    let n = 0;
    for (let i = 0; i < runs; i++) {
      const t = process.hrtime.bigint();
      const page = await store.search({ query: q, limit: 100 });
      n = page.records.length;
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    out.push(`    ${q.padEnd(52)} p50 ${pct(ms, 50).toFixed(1).padStart(7)} ms  p95 ${pct(ms, 95).toFixed(1).padStart(7)} ms  (${n} hits/page)`);
  }
  return out;
}

async function rawBulk(node: string, docs: StoreRecord[], index: string, batch: number, concurrency: number): Promise<number> {
  // Bodies prepared before the clock starts: the ceiling measures the server and the wire only.
  const bodies: string[] = [];
  for (let i = 0; i < docs.length; i += batch) {
    bodies.push(docs.slice(i, i + batch).map((r) => `${JSON.stringify({ index: { _index: `${index}-${new Date(Math.floor(r.ts) * 1000).toISOString().slice(0, 10).replace(/-/g, '.')}`, _id: r.uid, version: recordVersion(r), version_type: 'external_gte' } })}\n${JSON.stringify(toEcs(r))}\n`).join(''));
  }
  const t0 = process.hrtime.bigint();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await fetch(`${node}/_bulk`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } });
      const j = (await res.json()) as { errors: boolean };
      if (!res.ok || j.errors) throw new Error(`raw bulk failed: ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main(): Promise<void> {
  const packets = arg('--packets', 1_000_000);
  const repeat = arg('--repeat', 1);
  const runs = arg('--runs', 50);
  const file = path.join(REPO, 'bench', 'out', `pods-v1-p${packets}-s59991.pcap`);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run npm run bench -- --packets ${packets} first`);
  const base: StoreRecord[] = [];
  await analyzeFile(file, (r) => base.push(r));
  const records: StoreRecord[] = [];
  for (let k = 0; k < repeat; k++) for (const r of base) records.push(k === 0 ? r : { ...r, uid: `${r.uid}r${k}`, ts: r.ts - k * 86400 });
  console.log(`${path.relative(REPO, file)}: ${base.length} connection records x ${repeat} = ${records.length}; ${os.cpus().length} CPUs, node ${process.version}`);

  // SQLite
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-bench-store-'));
  const sq = new SqliteStore({ dataDir: dir });
  await sq.init();
  let t = process.hrtime.bigint();
  const w = sq.writer();
  for (const r of records) w.add(r);
  const sres = await w.close();
  let sec = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`sqlite         ${Math.round(records.length / sec).toLocaleString('en-US').padStart(9)} records/s  (${sres.written} written in ${sec.toFixed(2)} s, file ${(fs.statSync(sq.file).size / 1e6).toFixed(0)} MB)`);
  console.log('  search latency (sqlite):');
  for (const l of await searchLatency(sq, runs)) console.log(l);
  await sq.close();
  fs.rmSync(dir, { recursive: true, force: true });

  // Elasticsearch
  let node = process.env.ES_URL;
  let started = false;
  if (!node) {
    execFileSync('bash', [path.join(REPO, 'scripts', 'es.sh'), 'start', '--port', '9252'], { stdio: 'inherit' });
    node = 'http://127.0.0.1:9252';
    started = true;
  }
  try {
    // Raw and ours alternate (merges of one round's indices run on into the next): medians of the rounds.
    const rounds = arg('--rounds', 3);
    const rawRates: number[] = [];
    const ourRates: number[] = [];
    let last: ElasticsearchStore | null = null;
    for (let k = 0; k < rounds; k++) {
      const run = `ewbench-${Date.now().toString(36)}`;
      const ceilingStore = new ElasticsearchStore({ node, prefix: `${run}-raw` });
      await ceilingStore.init(); // same templates, so both paths index into identical mappings
      const rawSec = await rawBulk(node, records, `${run}-raw-conn`, 2000, 2);
      rawRates.push(records.length / rawSec);
      await ceilingStore.destroy();
      await ceilingStore.close();

      const es = new ElasticsearchStore({ node, prefix: `${run}-ours` });
      await es.init();
      t = process.hrtime.bigint();
      const eres = await es.write(records);
      sec = Number(process.hrtime.bigint() - t) / 1e9;
      ourRates.push(records.length / sec);
      if (eres.written !== records.length) throw new Error(`es store wrote ${eres.written} of ${records.length}`);
      console.log(`  round ${k + 1}: raw _bulk ${Math.round(rawRates[k])}/s, es store ${Math.round(ourRates[k])}/s`);
      if (last) { await last.destroy(); await last.close(); }
      last = es;
    }
    const med = (xs: number[]): number => pct(xs, 50);
    console.log(`es raw _bulk   ${Math.round(med(rawRates)).toLocaleString('en-US').padStart(9)} records/s  (ceiling: prepared NDJSON, 2000 docs/request, 2 in flight; median of ${rounds})`);
    console.log(`es store       ${Math.round(med(ourRates)).toLocaleString('en-US').padStart(9)} records/s  (toEcs + serialisation included; median of ${rounds}; ${(100 * med(ourRates) / med(rawRates)).toFixed(0)}% of the ceiling)`);
    if (last) {
      await last.refresh();
      console.log('  search latency (elasticsearch):');
      for (const l of await searchLatency(last, runs)) console.log(l);
      await last.destroy();
      await last.close();
    }
  } finally {
    if (started) execFileSync('bash', [path.join(REPO, 'scripts', 'es.sh'), 'stop', '--port', '9252'], { stdio: 'inherit' });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
