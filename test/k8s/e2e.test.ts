/**
 * End to end: samples/k8s (a generated capture, the cluster's inventory with its policies, and a
 * proposed policy set) analysed with analyzeFile + the Kubernetes enrichment. Every record must
 * resolve as written below, and the what-if must deny exactly the edges listed.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { analyzeFile } from '../../src/analyze/pipeline';
import { runAnalyze } from '../../src/cli/analyze';
import type { ConnRecord } from '../../parsers/record/conn';
import { runWhatIf } from '../../src/k8s/cli';
import { loadInventoryFiles, loadPolicyFiles } from '../../src/k8s/load';
import { PolicySet } from '../../src/k8s/policy';
import { K8sResolver } from '../../src/k8s/resolver';
import { WhatIf, applyProposal, type WhatIfReport } from '../../src/k8s/whatif';
import { createWriter, ndjsonLine } from '../../src/output/formats';
import { TextSink } from '../../src/output/sink';
import { generate } from '../../samples/k8s/generate';

/** The repository root, from dist/test/k8s or a per-area build one or two levels deeper. */
function repoRoot(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'samples', 'k8s', 'inventory.json'))) {
    const up = path.dirname(d);
    if (up === d) throw new Error(`samples/k8s not found above ${__dirname}`);
    d = up;
  }
  return d;
}

const DIR = path.join(repoRoot(), 'samples', 'k8s');
const PCAP = path.join(DIR, 'cluster.pcap');
const INVENTORY = path.join(DIR, 'inventory.json');
const PROPOSED = path.join(DIR, 'policies-proposed.yaml');

/**
 * Per connection (key "orig_h -> resp_h:resp_p"): orig and resp as "ns/pod", "service ns/name",
 * "node NAME" or the kind; orig and resp workload; scope; direction; verdict under the current
 * policies; the policies that deny it.
 */
const EXPECTED: Record<string, [string, string, string, string, string, string, string, string[]]> = {
  '10.244.1.10 -> 10.96.12.34:8080': [
    'shop/frontend-7d9f8b6c5d-abcde',
    'service shop/api',
    'Deployment/frontend',
    '-',
    'pod-to-service',
    'internal',
    'allowed',
    [],
  ],
  '10.244.2.20 -> 10.96.45.6:5432': ['shop/api-5c8d7b9f4-xk2lp', 'service data/postgres', 'Deployment/api', '-', 'pod-to-service', 'internal', 'allowed', []],
  '10.244.1.10 -> 10.244.2.30:5432': [
    'shop/frontend-7d9f8b6c5d-abcde',
    'data/postgres-0',
    'Deployment/frontend',
    'StatefulSet/postgres',
    'cross-namespace',
    'internal',
    'denied',
    ['data/postgres-allow'],
  ],
  '10.244.1.10 -> 10.96.0.10:53': [
    'shop/frontend-7d9f8b6c5d-abcde',
    'service kube-system/kube-dns',
    'Deployment/frontend',
    '-',
    'pod-to-service',
    'internal',
    'allowed',
    [],
  ],
  '10.244.1.50 -> 192.168.10.12:9100': [
    'monitoring/prometheus-0',
    'monitoring/node-exporter-7xk9p',
    'StatefulSet/prometheus',
    'DaemonSet/node-exporter',
    'pod-to-node',
    'internal',
    'allowed',
    [],
  ],
  '192.168.10.11 -> 10.244.1.10:8080': ['node node-1', 'shop/frontend-7d9f8b6c5d-abcde', '-', 'Deployment/frontend', 'node-to-pod', 'internal', 'allowed', []],
  '10.244.1.10 -> 93.184.216.34:443': ['shop/frontend-7d9f8b6c5d-abcde', 'external', 'Deployment/frontend', '-', 'pod-to-external', 'outbound', 'allowed', []],
  '203.0.113.9 -> 10.244.1.10:8080': [
    'external',
    'shop/frontend-7d9f8b6c5d-abcde',
    '-',
    'Deployment/frontend',
    'external-to-pod',
    'inbound',
    'denied',
    ['shop/default-deny-ingress', 'shop/frontend-allow-web'],
  ],
  '10.244.2.20 -> 10.244.2.20:8080': [
    'shop/api-5c8d7b9f4-xk2lp',
    'shop/api-5c8d7b9f4-xk2lp',
    'Deployment/api',
    'Deployment/api',
    'same-pod',
    'internal',
    'allowed',
    [],
  ],
  '10.244.1.10 -> 10.250.3.3:8080': ['shop/frontend-7d9f8b6c5d-abcde', 'internal', 'Deployment/frontend', '-', 'pod-to-external', 'internal', 'allowed', []],
  '10.244.1.10 -> 10.244.2.20:9090': [
    'shop/frontend-7d9f8b6c5d-abcde',
    'shop/api-5c8d7b9f4-xk2lp',
    'Deployment/frontend',
    'Deployment/api',
    'same-namespace',
    'internal',
    'denied',
    ['shop/api-allow', 'shop/default-deny-ingress'],
  ],
  '10.244.1.40 -> 10.244.2.30:5432': [
    'data/report-29474400-7bq2m',
    'data/postgres-0',
    'CronJob/report',
    'StatefulSet/postgres',
    'same-namespace',
    'internal',
    'allowed',
    [],
  ],
  '10.244.1.40 -> 10.244.2.20:8080': [
    'shop/worker-5b7d9c8f6-mn8pq',
    'shop/api-5c8d7b9f4-xk2lp',
    'Deployment/worker',
    'Deployment/api',
    'same-namespace',
    'internal',
    'allowed',
    [],
  ],
};

/** The proposal's denied edges: [source, destination, port/proto, connections, already denied, isolating policies]. */
const EXPECTED_EDGES: [string, string, string, number, number, string[]][] = [
  ['external:203.0.113.9', 'shop/frontend', '8080/tcp', 1, 1, ['shop/default-deny-ingress', 'shop/frontend-allow-web', 'shop/frontend-egress']],
  ['shop/api', 'data/service:postgres', '5432/tcp', 1, 0, ['shop/allow-dns', 'shop/default-deny-egress']],
  ['shop/frontend', 'data/postgres', '5432/tcp', 1, 1, ['data/postgres-allow', 'shop/allow-dns', 'shop/default-deny-egress', 'shop/frontend-egress']],
  ['shop/frontend', 'external:93.184.216.34', '443/tcp', 1, 0, ['shop/allow-dns', 'shop/default-deny-egress', 'shop/frontend-egress']],
  ['shop/frontend', 'internal:10.250.3.3', '8080/tcp', 1, 0, ['shop/allow-dns', 'shop/default-deny-egress', 'shop/frontend-egress']],
  [
    'shop/frontend',
    'shop/api',
    '9090/tcp',
    1,
    1,
    ['shop/allow-dns', 'shop/api-allow', 'shop/default-deny-egress', 'shop/default-deny-ingress', 'shop/frontend-egress'],
  ],
  ['shop/worker', 'shop/api', '8080/tcp', 1, 0, ['shop/allow-dns', 'shop/default-deny-egress']],
];

function endName(e: NonNullable<ConnRecord['k8s']>['orig']): string {
  if (e.kind === 'pod') return `${e.namespace}/${e.pod}`;
  if (e.kind === 'service') return `service ${e.namespace}/${e.service}`;
  if (e.kind === 'node') return `node ${e.node}`;
  return e.kind;
}

const wl = (e: NonNullable<ConnRecord['k8s']>['orig']): string => (e.workload ? `${e.workload_kind}/${e.workload}` : '-');

/**
 * The sample's scanner is 203.0.113.9 (TEST-NET-3), which Zeek's default local nets count as
 * local: the cluster's own networks are named, as a deployment does, so it stays external.
 */
const SAMPLE_LOCAL_NETS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

async function enriched(): Promise<ConnRecord[]> {
  const resolver = new K8sResolver(loadInventoryFiles([INVENTORY]), { localNets: SAMPLE_LOCAL_NETS });
  const recs: ConnRecord[] = [];
  await analyzeFile(PCAP, (r) => recs.push(r), { enrich: resolver.enrich });
  return recs;
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-k8s-'));
}

describe('k8s: end to end on samples/k8s', () => {
  let recs: ConnRecord[] = [];
  before(async () => {
    recs = await enriched();
  });

  it('the committed sample is what the generator produces, byte for byte', () => {
    const d = tmpDir();
    try {
      for (const f of generate(d))
        assert.ok(fs.readFileSync(f).equals(fs.readFileSync(path.join(DIR, path.basename(f)))), `${path.basename(f)} differs: run the generator`);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('every record is resolved as expected', () => {
    assert.equal(recs.length, Object.keys(EXPECTED).length);
    const seen = new Set<string>();
    for (const r of recs) {
      const key = `${r.orig_h} -> ${r.resp_h}:${r.resp_p}`;
      const exp = EXPECTED[key];
      assert.ok(exp, `unexpected connection ${key}`);
      seen.add(key);
      const k = r.k8s;
      assert.ok(k, `${key} not enriched`);
      const got = [endName(k.orig), endName(k.resp), wl(k.orig), wl(k.resp), k.scope, k.direction, k.policy?.verdict, k.policy?.denied_by];
      assert.deepEqual(got, exp, key);
    }
    assert.equal(seen.size, recs.length);
    // Spot checks of the detail: the frontend's labels and node, the ClusterIP's service, the hostNetwork exporter.
    const fe = recs.find((r) => r.orig_h === '10.244.1.10' && r.resp_p === 8080 && r.resp_h === '10.96.12.34')!.k8s!;
    assert.deepEqual(fe.orig.labels, { app: 'frontend', 'pod-template-hash': '7d9f8b6c5d' });
    assert.equal(fe.orig.node, 'node-1');
    assert.deepEqual(fe.policy, { verdict: 'allowed', egress: 'not-isolated', ingress: 'allowed', denied_by: [], allowed_by: ['shop/api-allow'] });
    const ne = recs.find((r) => r.resp_p === 9100)!.k8s!;
    assert.equal(ne.resp.host_network, true);
    assert.deepEqual(ne.policy, { verdict: 'allowed', egress: 'not-isolated', ingress: 'not-applicable', denied_by: [], allowed_by: [] });
    const kubelet = recs.find((r) => r.orig_h === '192.168.10.11')!.k8s!;
    assert.deepEqual([kubelet.policy?.egress, kubelet.policy?.ingress], ['not-applicable', 'allowed'], 'own node always allowed');
  });

  it('what-if: the proposed policies deny exactly these edges', async () => {
    const store = loadInventoryFiles([INVENTORY]);
    const resolver = new K8sResolver(store, { policies: null, localNets: SAMPLE_LOCAL_NETS });
    const proposed = new PolicySet(applyProposal(store.networkPolicies(), loadPolicyFiles([PROPOSED])));
    const w = new WhatIf(resolver, proposed, new PolicySet(store.networkPolicies()));
    await analyzeFile(PCAP, (r) => w.add(r));
    const rep = w.report();
    assert.equal(rep.connections, 13);
    assert.equal(rep.denied, 7);
    assert.deepEqual(
      rep.edges.map((e) => [e.src, e.dst, `${e.port}/${e.protocol}`, e.connections, e.alreadyDenied, e.deniedBy]),
      EXPECTED_EDGES,
    );

    // The same through the command, as JSON; --replace evaluates the proposal alone (no ingress isolation in shop then).
    const d = tmpDir();
    try {
      const out = path.join(d, 'r.json');
      assert.equal(await runWhatIf([PCAP], { inventory: [INVENTORY], policies: [PROPOSED], json: true, out, localNets: SAMPLE_LOCAL_NETS }), 0);
      assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), JSON.parse(JSON.stringify(rep)));
      assert.equal(await runWhatIf([PCAP], { inventory: [INVENTORY], policies: [PROPOSED], json: true, out, replace: true, localNets: SAMPLE_LOCAL_NETS }), 0);
      const alone = JSON.parse(fs.readFileSync(out, 'utf8')) as WhatIfReport;
      assert.deepEqual(alone.edges.map((e) => `${e.src} -> ${e.dst}:${e.port}`).sort(), [
        'external:203.0.113.9 -> shop/frontend:8080',
        'shop/api -> data/service:postgres:5432',
        'shop/frontend -> data/postgres:5432',
        'shop/frontend -> external:93.184.216.34:443',
        'shop/frontend -> internal:10.250.3.3:8080',
        'shop/frontend -> shop/api:9090',
        'shop/worker -> shop/api:8080',
      ]);
      // frontend-egress has egress rules and no policyTypes, so it isolates the frontend's ingress too.
      assert.deepEqual(alone.edges.find((e) => e.src === 'external:203.0.113.9')?.deniedBy, ['shop/frontend-egress']);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('output formats carry the identity: ndjson equals JSON.stringify, Zeek TSV has the columns', async () => {
    for (const r of recs) assert.equal(ndjsonLine(r), `${JSON.stringify(r)}\n`);
    const pt = new PassThrough();
    const chunks: Buffer[] = [];
    pt.on('data', (c: Buffer) => chunks.push(c));
    const w = createWriter('zeek', new TextSink(pt), () => new Date(0));
    for (const r of recs) w.write(r);
    await w.close();
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    const fields = lines
      .find((l) => l.startsWith('#fields'))!
      .split('\t')
      .slice(1);
    const rows = lines.filter((l) => l && !l.startsWith('#')).map((l) => l.split('\t'));
    const get = (row: string[], f: string): string => row[fields.indexOf(f)];
    const row = rows.find((c) => get(c, 'id.orig_h') === '10.244.1.10' && get(c, 'id.resp_p') === '5432')!;
    assert.deepEqual(
      [
        'orig_namespace',
        'orig_pod',
        'orig_workload',
        'resp_namespace',
        'resp_pod',
        'resp_workload',
        'resp_service',
        'direction',
        'scope',
        'policy_verdict',
      ].map((f) => get(row, f)),
      [
        'shop',
        'frontend-7d9f8b6c5d-abcde',
        'Deployment/frontend',
        'data',
        'postgres-0',
        'StatefulSet/postgres',
        'postgres',
        'internal',
        'cross-namespace',
        'denied',
      ],
    );
    const ext = rows.find((c) => get(c, 'id.resp_p') === '443')!;
    assert.deepEqual([get(ext, 'resp_namespace'), get(ext, 'resp_pod'), get(ext, 'direction')], ['-', '-', 'outbound']);
  });

  it('analyze --inventory: records carry k8s; a bad inventory is an input error (exit 1) before any output', async () => {
    const d = tmpDir();
    try {
      const out = path.join(d, 'conn.ndjson');
      const code = await runAnalyze([PCAP], {
        format: 'ndjson',
        out,
        reader: 'native',
        summary: false,
        progress: false,
        inventory: [INVENTORY],
        localNets: SAMPLE_LOCAL_NETS,
      });
      assert.equal(code, 0);
      const got = fs
        .readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as ConnRecord);
      assert.equal(got.length, 13);
      assert.ok(got.every((r) => r.k8s?.policy));
      const bad = path.join(d, 'bad.json');
      fs.writeFileSync(
        bad,
        JSON.stringify({ kind: 'List', items: [{ kind: 'Pod', metadata: { name: 'x', namespace: 'y' }, status: { podIPs: [{ address: '1.2.3.4' }] } }] }),
      );
      const out2 = path.join(d, 'none.ndjson');
      const errs: string[] = [];
      const orig = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((s: string) => {
        errs.push(String(s));
        return true;
      }) as typeof process.stderr.write;
      let code2: number;
      try {
        code2 = await runAnalyze([PCAP], { format: 'ndjson', out: out2, reader: 'native', summary: false, progress: false, inventory: [bad] });
      } finally {
        process.stderr.write = orig;
      }
      assert.equal(code2, 1);
      assert.match(errs.join(''), /bad\.json: items\[0\] \(Pod y\/x\): status\.podIPs\[0\]\.ip: Required/);
      assert.equal(fs.existsSync(out2), false);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
