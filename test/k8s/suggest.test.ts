/**
 * The policy advisor on samples/k8s: the suggested policies, written as YAML and parsed back,
 * allow every connection of the capture (checked by the existing what-if, independently of the
 * advisor's own verification) and deny edges the capture does not show; DNS egress is kept;
 * external egress is an ipBlock or left out; connections under an open alert are left out.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Alert } from '../../detectors/contract/alert';
import type { ConnRecord } from '../../parsers/record/conn';
import { analyzeFile } from '../../src/analyze/pipeline';
import { runAnalyze } from '../../src/cli/analyze';
import { loadInventoryFiles, parseK8sText } from '../../src/k8s/load';
import { PolicySet } from '../../src/k8s/policy';
import { K8sResolver } from '../../src/k8s/resolver';
import { parseObjects, type NetworkPolicyObject } from '../../src/k8s/schema';
import { PolicySuggester, suggestionYaml, type SuggestOptions, type SuggestReport } from '../../src/k8s/suggest';
import { runSuggest } from '../../src/k8s/suggest-cli';
import { WhatIf } from '../../src/k8s/whatif';

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
const SAMPLE_LOCAL_NETS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];
/** samples/k8s/generate.ts: base time 2026-01-15T10:00:00Z. */
const T0 = 1768471200;

let records: ConnRecord[] = [];

async function suggest(opts: SuggestOptions = {}): Promise<{ rep: SuggestReport; resolver: K8sResolver }> {
  const resolver = new K8sResolver(loadInventoryFiles([INVENTORY]), { policies: null });
  const s = new PolicySuggester(resolver, opts);
  for (const r of records) s.add(r);
  return { rep: s.suggest(), resolver };
}

/** The YAML as kubectl would read it, through our own loader. */
function parsedBack(rep: SuggestReport): NetworkPolicyObject[] {
  const objs = parseObjects(parseK8sText(suggestionYaml(rep), 'suggested.yaml'), 'suggested.yaml').objects;
  assert.ok(objs.every((o) => o.kind === 'NetworkPolicy'));
  return objs as NetworkPolicyObject[];
}

/** The existing what-if, the suggestion alone in force, over the capture. */
function whatIf(resolver: K8sResolver, policies: NetworkPolicyObject[]): WhatIf {
  const w = new WhatIf(resolver, new PolicySet(policies));
  for (const r of records) w.add(r);
  return w;
}

function policy(ps: NetworkPolicyObject[], ns: string, name: string): NetworkPolicyObject {
  const p = ps.find((x) => x.metadata.namespace === ns && x.metadata.name === name);
  assert.ok(p, `${ns}/${name} not suggested; got ${ps.map((x) => `${x.metadata.namespace}/${x.metadata.name}`).join(', ')}`);
  return p;
}

type Probe = Pick<ConnRecord, 'ts' | 'orig_h' | 'orig_p' | 'resp_h' | 'resp_p' | 'proto' | 'ip_proto'>;
const tcp = (ts: number, orig_h: string, resp_h: string, resp_p: number): Probe => ({ ts, orig_h, orig_p: 40000, resp_h, resp_p, proto: 'tcp', ip_proto: 6 });
const udp = (ts: number, orig_h: string, resp_h: string, resp_p: number): Probe => ({ ts, orig_h, orig_p: 40000, resp_h, resp_p, proto: 'udp', ip_proto: 17 });

function verdictOf(resolver: K8sResolver, ps: NetworkPolicyObject[], r: Probe): string {
  return resolver.verdict(r, resolver.resolve(r), new PolicySet(ps)).verdict;
}

describe('k8s: policy suggest on samples/k8s', () => {
  before(async () => {
    records = [];
    await analyzeFile(PCAP, (r) => records.push(r));
    assert.equal(records.filter((r) => !r.interim).length, 13);
  });

  it('the suggestion, as YAML parsed back, allows every observed connection and its verification passes', async () => {
    const { rep, resolver } = await suggest();
    assert.equal(rep.connections, 13);
    assert.equal(rep.verification.ok, true, JSON.stringify(rep.verification));
    assert.equal(rep.verification.mustAllow, 13);
    assert.ok(rep.verification.probes > 0);
    assert.deepEqual(rep.excluded, []);
    const ps = parsedBack(rep);
    assert.deepEqual(
      ps.map((p) => `${p.metadata.namespace}/${p.metadata.name}`),
      [
        'data/eastwatch-postgres',
        'data/eastwatch-report',
        'monitoring/eastwatch-prometheus',
        'shop/eastwatch-api',
        'shop/eastwatch-frontend',
        'shop/eastwatch-worker',
      ],
    );
    // kube-system (coredns) and hostNetwork pods (node-exporter) get no policy.
    assert.ok(!ps.some((p) => p.metadata.namespace === 'kube-system'));
    // Independent check: the existing what-if with only the suggestion in force denies nothing observed.
    const rw = whatIf(resolver, ps).report();
    assert.equal(rw.connections, 13);
    assert.equal(rw.denied, 0, JSON.stringify(rw.edges));
    // Every policy isolates both directions: least privilege, not just additions.
    for (const p of ps) assert.deepEqual(p.spec.policyTypes, ['Ingress', 'Egress']);
  });

  it('rules are post-DNAT and exact: the api takes 8080 and 9090 from the frontend and only 8080 from the worker', async () => {
    const ps = parsedBack((await suggest()).rep);
    const api = policy(ps, 'shop', 'eastwatch-api');
    assert.deepEqual(api.spec.podSelector, { matchLabels: { app: 'api' } });
    assert.deepEqual(api.spec.ingress, [
      {
        from: [{ podSelector: { matchLabels: { app: 'frontend' } } }],
        ports: [
          { protocol: 'TCP', port: 8080 },
          { protocol: 'TCP', port: 9090 },
        ],
      },
      { from: [{ podSelector: { matchLabels: { app: 'worker' } } }], ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);
    // api -> service data/postgres becomes egress to the postgres pods in data on the target port.
    assert.ok(
      api.spec.egress?.some(
        (r) =>
          JSON.stringify(r.to) ===
            JSON.stringify([
              { podSelector: { matchLabels: { app: 'postgres' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'data' } } },
            ]) && JSON.stringify(r.ports) === JSON.stringify([{ protocol: 'TCP', port: 5432 }]),
      ),
    );
    // The CronJob pod's labels, not the pod name: the selector survives the next run.
    assert.deepEqual(policy(ps, 'data', 'eastwatch-report').spec.podSelector, { matchLabels: { app: 'report' } });
    // The hostNetwork exporter is a node address: an ipBlock of that node alone.
    const prom = policy(ps, 'monitoring', 'eastwatch-prometheus');
    assert.ok(prom.spec.egress?.some((r) => r.to?.[0]?.ipBlock?.cidr === '192.168.10.12/32' && r.ports?.[0]?.port === 9100));
  });

  it('edges the traffic does not show are denied, with time-aware identities', async () => {
    const { rep, resolver } = await suggest();
    const ps = parsedBack(rep);
    // Observed: worker (10.244.1.40 from 10:01:00) -> api:8080.
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 75, '10.244.1.40', '10.244.2.20', 8080)), 'allowed');
    // The same address held by the CronJob's pod at 10:00:40: report -> api was never seen.
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 40, '10.244.1.40', '10.244.2.20', 8080)), 'denied');
    // worker -> api on another port, worker -> postgres, api -> frontend, frontend -> api ClusterIP on an unseen port.
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 75, '10.244.1.40', '10.244.2.20', 9090)), 'denied');
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 75, '10.244.1.40', '10.244.2.30', 5432)), 'denied');
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 20, '10.244.2.20', '10.244.1.10', 8080)), 'denied');
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 20, '10.244.1.10', '10.244.2.20', 22)), 'denied');
    // Another internet client to the frontend, the frontend to another internet address.
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 20, '198.51.100.7', '10.244.1.10', 8080)), 'denied');
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 20, '10.244.1.10', '93.184.216.35', 443)), 'denied');
  });

  it('DNS egress to kube-dns is kept for every workload, on UDP and TCP 53, and nothing else to kube-system', async () => {
    const { rep, resolver } = await suggest();
    const ps = parsedBack(rep);
    const dnsPeer = JSON.stringify([
      { podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } },
    ]);
    for (const p of ps) {
      const r = p.spec.egress?.find((x) => JSON.stringify(x.to) === dnsPeer);
      assert.ok(r, `${p.metadata.name} lacks DNS egress`);
      assert.deepEqual(r.ports, [
        { protocol: 'TCP', port: 53 },
        { protocol: 'UDP', port: 53 },
      ]);
    }
    // The worker and the CronJob sent no DNS in the capture; they keep it, via the ClusterIP and to the pod.
    assert.equal(verdictOf(resolver, ps, udp(T0 + 75, '10.244.1.40', '10.96.0.10', 53)), 'allowed');
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 40, '10.244.1.40', '10.244.1.2', 53)), 'allowed');
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 75, '10.244.1.40', '10.244.1.2', 9153)), 'denied');
  });

  it('external egress: an ipBlock per address by default, widened with a prefix, or left out (and denied) on request', async () => {
    const cidr = parsedBack((await suggest()).rep);
    const fe = policy(cidr, 'shop', 'eastwatch-frontend');
    assert.ok(fe.spec.egress?.some((r) => r.to?.[0]?.ipBlock?.cidr === '93.184.216.34/32' && r.ports?.[0]?.port === 443));
    // Ingress from the internet client is an ipBlock too.
    assert.deepEqual(fe.spec.ingress, [{ from: [{ ipBlock: { cidr: '203.0.113.9/32' } }], ports: [{ protocol: 'TCP', port: 8080 }] }]);

    const wide = parsedBack((await suggest({ ipv4Prefix: 24 })).rep);
    const cidrs = policy(wide, 'shop', 'eastwatch-frontend').spec.egress?.flatMap((r) => r.to?.map((t) => t.ipBlock?.cidr) ?? []);
    assert.ok(cidrs?.includes('93.184.216.0/24') && cidrs.includes('10.250.3.0/24'), String(cidrs));
    assert.ok(
      policy(wide, 'monitoring', 'eastwatch-prometheus').spec.egress?.some((r) => r.to?.[0]?.ipBlock?.cidr === '192.168.10.12/32'),
      'node addresses stay /32',
    );

    const { rep, resolver } = await suggest({ external: 'omit' });
    assert.equal(rep.verification.ok, true, JSON.stringify(rep.verification));
    assert.deepEqual(rep.excluded, [
      { src: 'shop/frontend', dst: 'external:93.184.216.34', port: 443, protocol: 'tcp', connections: 1, reason: 'external egress omitted' },
    ]);
    assert.equal(rep.verification.mustDeny, 1);
    const omit = parsedBack(rep);
    const feCidrs = policy(omit, 'shop', 'eastwatch-frontend').spec.egress?.flatMap((r) => r.to?.map((t) => t.ipBlock?.cidr).filter(Boolean) ?? []);
    // Only the unknown internal address stays: "external" means outside the local networks.
    assert.deepEqual(feCidrs, ['10.250.3.3/32']);
    const rw = whatIf(resolver, omit).report();
    assert.deepEqual(
      rw.edges.map((e) => `${e.src} -> ${e.dst}:${e.port}`),
      ['shop/frontend -> external:93.184.216.34:443'],
    );
  });

  it('connections under an open alert are left out and denied; closed or suppressed alerts change nothing', async () => {
    const alert = (status: Alert['status'], suppressed_by: string | null = null): Alert => ({
      id: `pv-${status}`,
      detector: 'policy-violation',
      title: 'Connection denied by NetworkPolicy',
      severity: 'medium',
      score: 0.7,
      mitre: ['T1599'],
      source: { ip: '10.244.1.10', namespace: 'shop', workload: 'frontend' },
      destination: { ip: '10.244.2.30', port: 5432, namespace: 'data', workload: 'postgres' },
      first_seen: T0,
      last_seen: T0 + 60,
      count: 1,
      evidence: { uids: [], figures: {} },
      status,
      suppressed_by,
    });
    const { rep, resolver } = await suggest({ alerts: [alert('open')] });
    assert.equal(rep.verification.ok, true, JSON.stringify(rep.verification));
    assert.deepEqual(rep.excluded, [{ src: 'shop/frontend', dst: 'data/postgres', port: 5432, protocol: 'tcp', connections: 1, reason: 'open alert pv-open' }]);
    const ps = parsedBack(rep);
    assert.deepEqual(policy(ps, 'data', 'eastwatch-postgres').spec.ingress?.[0].from, [
      { podSelector: { matchLabels: { app: 'report' } } },
      { podSelector: { matchLabels: { app: 'api' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } } },
    ]);
    const rw = whatIf(resolver, ps).report();
    assert.deepEqual(
      rw.edges.map((e) => `${e.src} -> ${e.dst}:${e.port}`),
      ['shop/frontend -> data/postgres:5432'],
    );
    // Nor through the ClusterIP: only the api was seen using the postgres service.
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 20, '10.244.1.10', '10.96.45.6', 5432)), 'denied');

    for (const a of [alert('closed'), alert('open', 'sup-1')]) {
      const r = (await suggest({ alerts: [a] })).rep;
      assert.deepEqual(r.excluded, []);
      assert.equal(r.verification.mustAllow, 13);
    }
  });

  it('--namespace limits the policies; traffic into the other namespaces stays open there, and the verification still holds', async () => {
    const { rep, resolver } = await suggest({ namespaces: ['data'] });
    assert.equal(rep.verification.ok, true, JSON.stringify(rep.verification));
    const ps = parsedBack(rep);
    assert.deepEqual(
      ps.map((p) => p.metadata.name),
      ['eastwatch-postgres', 'eastwatch-report'],
    );
    // The frontend is not isolated now: an unseen frontend -> api edge is allowed, frontend -> postgres on 5433 is not.
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 20, '10.244.1.10', '10.244.2.20', 22)), 'allowed');
    assert.equal(verdictOf(resolver, ps, tcp(T0 + 20, '10.244.1.10', '10.244.2.30', 5433)), 'denied');
  });

  it('the command writes the YAML and the JSON report; bad arguments exit 2', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-suggest-'));
    const errs: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => {
      errs.push(String(s));
      return true;
    }) as typeof process.stderr.write;
    try {
      const out = path.join(d, 'p.yaml');
      const report = path.join(d, 'r.json');
      const code = await runSuggest([PCAP], { inventory: [INVENTORY], external: 'omit', out, report });
      assert.equal(code, 0, errs.join(''));
      const rep = JSON.parse(fs.readFileSync(report, 'utf8')) as SuggestReport;
      assert.equal(rep.verification.ok, true);
      assert.equal(parseObjects(parseK8sText(fs.readFileSync(out, 'utf8'), out)).objects.length, rep.policies.length);
      assert.match(errs.join(''), /6 policies from 13 connections; verification ok: 12\/12 observed connections allowed, 1\/1 left-out connections denied/);
      // A window that ends before the worker's traffic: no worker policy.
      assert.equal(await runSuggest([PCAP], { inventory: [INVENTORY], out, to: '2026-01-15T10:00:55Z' }), 0);
      const early = parseObjects(parseK8sText(fs.readFileSync(out, 'utf8'), out)).objects.map((o) => o.metadata.name);
      assert.ok(!early.includes('eastwatch-worker') && early.includes('eastwatch-report'), early.join(','));
      errs.length = 0;
      assert.equal(await runSuggest([PCAP], { inventory: [INVENTORY], out, external: 'drop' }), 2);
      assert.match(errs.join(''), /--external: "drop": expected cidr or omit/);
      assert.equal(await runSuggest([PCAP], { inventory: [INVENTORY], out, from: 'yesterday' }), 2);
    } finally {
      process.stderr.write = orig;
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
  it('takes the alerts analyze --alerts writes: the policy-violation edges are left out; a bad line is an input error', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-suggest-'));
    const errs: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => {
      errs.push(String(s));
      return true;
    }) as typeof process.stderr.write;
    try {
      const alerts = path.join(d, 'alerts.ndjson');
      const code = await runAnalyze([PCAP], {
        format: 'ndjson',
        out: path.join(d, 'conn.ndjson'),
        reader: 'native',
        summary: false,
        progress: false,
        inventory: [INVENTORY],
        // The sample's scanner is 203.0.113.9 (TEST-NET-3), which Zeek's default counts as local:
        // name the cluster's networks, as a deployment does, so it stays the external peer it plays.
        localNets: SAMPLE_LOCAL_NETS,
        alerts,
      });
      assert.equal(code, 0, errs.join(''));
      const report = path.join(d, 'r.json');
      assert.equal(
        await runSuggest([PCAP], { inventory: [INVENTORY], localNets: SAMPLE_LOCAL_NETS, alerts: [alerts], out: path.join(d, 'p.yaml'), report }),
        0,
        errs.join(''),
      );
      const rep = JSON.parse(fs.readFileSync(report, 'utf8')) as SuggestReport;
      assert.equal(rep.verification.ok, true);
      // The three connections the inventory's policies deny (e2e.test.ts) raise policy-violation alerts.
      assert.deepEqual(
        rep.excluded.filter((e) => e.reason?.startsWith('open alert ')).map((e) => `${e.src} -> ${e.dst}:${e.port}`),
        ['external:203.0.113.9 -> shop/frontend:8080', 'shop/frontend -> data/postgres:5432', 'shop/frontend -> shop/api:9090'],
      );
      assert.equal(rep.verification.mustDeny, 3);
      const bad = path.join(d, 'bad.ndjson');
      fs.writeFileSync(bad, `${fs.readFileSync(alerts, 'utf8').split('\n')[0]}\n{not json\n`);
      errs.length = 0;
      assert.equal(await runSuggest([PCAP], { inventory: [INVENTORY], alerts: [bad], out: path.join(d, 'p.yaml') }), 1);
      assert.match(errs.join(''), /bad\.ndjson: line 2: /);
    } finally {
      process.stderr.write = orig;
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
