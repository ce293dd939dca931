import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runAnalyze } from '../../src/cli/analyze';
import { runSearch } from '../../src/store/cli';
import { createHash } from 'node:crypto';
import { scopedStore } from '../../src/service/api/scope';
import { appRecordId } from '../../src/store/app-records';
import { SqliteStore } from '../../src/store/sqlite';
import { captureId } from '../../src/k8s/cluster';
import { SAMPLES_DIR } from './fixtures';

/** Runs fn with process.stdout/stderr captured. */
async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  const fake = (into: string[]) =>
    ((s: string | Uint8Array, ...rest: unknown[]) => {
      into.push(typeof s === 'string' ? s : Buffer.from(s).toString('utf8'));
      const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
      if (cb) process.nextTick(cb);
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = fake(out);
  process.stderr.write = fake(err);
  try {
    const code = await fn();
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

describe('store: command line (analyze --store, search) on the embedded store', function () {
  this.timeout(60_000);
  let dir = '';
  const saved = process.env.ES_URL;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-cli-store-'));
    delete process.env.ES_URL; // the embedded store, whatever the environment
  });
  after(() => {
    if (saved !== undefined) process.env.ES_URL = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('analyze --store writes every record once, also when run twice', async () => {
    const files = ['pod-traffic.pcap', 'vxlan-overlay.pcap'].map((f) => path.join(SAMPLES_DIR, f));
    const outFile = path.join(dir, 'conn.ndjson');
    const opts = {
      format: 'ndjson' as const,
      out: outFile,
      reader: 'native' as const,
      summary: false,
      progress: false,
      store: true,
      dataDir: path.join(dir, 'data'),
    };
    const first = await capture(() => runAnalyze(files, opts));
    assert.equal(first.code, 0, first.err);
    const lines = fs.readFileSync(outFile, 'utf8').trim().split('\n');
    const apps = ['dns', 'http', 'app'].flatMap((k) =>
      fs
        .readFileSync(path.join(dir, `${k}.ndjson`), 'utf8')
        .trim()
        .split('\n'),
    );
    assert.match(
      first.err,
      new RegExp(
        `stored ${lines.length + apps.length} of ${lines.length} connection and ${apps.length} application records in SQLite store .*eastwatch\\.sqlite`,
      ),
    );
    const second = await capture(() => runAnalyze(files, opts));
    assert.equal(second.code, 0, second.err);
    const s = new SqliteStore({ dataDir: path.join(dir, 'data') });
    await s.init();
    assert.equal(await s.count({}), lines.length);
    // The application records once each too, and each as its log has it.
    const http = fs
      .readFileSync(path.join(dir, 'http.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { uid: string; trans_depth: number; host: string | null });
    const stored = await s.searchApp('http', { limit: 10_000 });
    assert.equal(stored.records.length, http.length);
    assert.deepEqual(
      stored.records.map((r) => `${r.uid}/${r.kind === 'http' ? r.trans_depth : ''}`).sort(),
      http.map((r) => `${r.uid}/${r.trans_depth}`).sort(),
    );
    assert.equal(
      (await s.searchApp('dns', { limit: 10_000 })).records.length + (await s.searchApp('app', { limit: 10_000 })).records.length + http.length,
      apps.length,
    );
    await s.close();
  });

  it('analyze --store --cluster stores the capture as an upload to that cluster: two clusters, two sets of records', async () => {
    const file = path.join(SAMPLES_DIR, 'k8s', 'cluster.pcap');
    const sha = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const dataDir = path.join(dir, 'clusters');
    const inventory = [path.join(SAMPLES_DIR, 'k8s', 'inventory.json')];
    const opts = { format: 'ndjson' as const, reader: 'native' as const, summary: false, progress: false, store: true, dataDir, inventory };
    const runs: Record<string, string[]> = {};
    for (const cluster of ['east', 'west', undefined]) {
      const out = path.join(dir, `cluster-${cluster ?? 'none'}.ndjson`);
      const r = await capture(() => runAnalyze([file], { ...opts, out, ...(cluster ? { cluster } : {}) }));
      assert.equal(r.code, 0, r.err);
      runs[cluster ?? 'default'] = fs
        .readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { uid: string }).uid);
    }
    // The output keeps the packets' uids whatever the cluster.
    assert.deepEqual(runs.east, runs.default);
    const s = new SqliteStore({ dataDir });
    await s.init();
    const n = new Set(runs.default).size;
    assert.ok(n > 0);
    assert.equal(await s.count({}), 3 * n, 'each cluster its own records');
    const of = async (q: string) => (await s.search({ query: q, limit: 10_000 })).records;
    const plain = await of('not cluster:*');
    assert.deepEqual(plain.map((r) => r.uid).sort(), [...new Set(runs.default)].sort(), "the default cluster: the packets' uids");
    for (const r of plain) assert.equal(r.capture, sha, 'the default cluster: the bare SHA-256, as the service');
    for (const cluster of ['east', 'west']) {
      const recs = await of(`cluster:${cluster}`);
      assert.deepEqual(recs.map((r) => r.uid).sort(), plain.map((r) => `${r.uid}-${cluster}`).sort());
      for (const r of recs) {
        // The id the service gives these bytes uploaded to this cluster.
        assert.equal(r.capture, captureId(sha, cluster));
        assert.equal(r.capture, `${sha}-${cluster}`);
        for (const t of r.tunnel_parents) assert.ok(t.endsWith(`-${cluster}`), t);
      }
      assert.ok(
        recs.some((r) => r.k8s?.orig.kind === 'pod'),
        'resolved against the inventory',
      );
    }
    const apps = await s.searchApp('dns', { limit: 10_000 });
    assert.equal(apps.records.filter((a) => a.uid.endsWith('-east')).length, apps.records.filter((a) => a.uid.endsWith('-west')).length);
    assert.ok(
      apps.records.some((a) => a.uid.endsWith('-east')),
      'application records of the cluster, qualified',
    );
    const east = new Set((await of('cluster:east')).map((r) => r.uid));
    for (const a of apps.records.filter((x) => x.uid.endsWith('-east'))) assert.ok(east.has(a.uid), `${a.uid}: its connection's qualified uid`);
    await s.close();
  });

  it('analyze --store --inventory --cluster places application records as their connections: a scoped key sees those of its namespaces', async () => {
    const dataDir = path.join(dir, 'placed');
    const r = await capture(() =>
      runAnalyze([path.join(SAMPLES_DIR, 'k8s/cluster.pcap')], {
        format: 'ndjson',
        out: path.join(dir, 'placed.ndjson'),
        reader: 'native',
        summary: false,
        progress: false,
        store: true,
        dataDir,
        inventory: [path.join(SAMPLES_DIR, 'k8s/inventory.json')],
        cluster: 'east',
      }),
    );
    assert.equal(r.code, 0, r.err);
    const s = new SqliteStore({ dataDir });
    await s.init();
    let seen = 0;
    for (const ns of ['shop', 'data', 'monitoring']) {
      const conns = new Set((await s.search({ query: `ns:${ns}`, limit: 10_000 })).records.map((x) => x.uid));
      const scoped = scopedStore(s, { namespaces: [`east/${ns}`] });
      for (const k of ['dns', 'http'] as const) {
        const want = (await s.searchApp(k, { limit: 10_000 })).records.filter((x) => conns.has(x.uid));
        const got = (await scoped.searchApp(k, { limit: 10_000 })).records;
        assert.deepEqual(got.map(appRecordId).sort(), want.map(appRecordId).sort(), `${ns}: ${k}`);
        for (const x of got) assert.equal(x.placement?.cluster, 'east');
        seen += got.length;
      }
    }
    assert.ok(seen > 0, 'some dns/http records are in those namespaces');
    await s.close();
  });

  it('search prints matching records; a bad query is a usage error with its position', async () => {
    const r = await capture(() =>
      runSearch('dport: 6379 and src: 10.244.1.0/24', { limit: 1000, sort: '@timestamp:asc', format: 'ndjson', dataDir: path.join(dir, 'data') }),
    );
    assert.equal(r.code, 0, r.err);
    const recs = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { resp_p: number; orig_h: string; ts: number });
    assert.ok(recs.length > 0);
    for (const x of recs) assert.ok(x.resp_p === 6379 && x.orig_h.startsWith('10.244.1.'));
    for (let i = 1; i < recs.length; i++) assert.ok(recs[i - 1].ts <= recs[i].ts);
    const bad = await capture(() =>
      runSearch('dport: 6379 and sorce.ip: 10.0.0.1', { limit: 10, sort: '@timestamp', format: 'ndjson', dataDir: path.join(dir, 'data') }),
    );
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown field 'sorce\.ip'; did you mean 'source\.ip'\? \(at position 16\)/);
    assert.match(bad.err, /\n {16}\^/);
  });
});
