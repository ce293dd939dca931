/**
 * The Kubernetes manifests in deploy/ as a cluster and our own CLI would take them, without a
 * cluster: every document parses, every core object passes the Kubernetes OpenAPI schemas
 * (kubernetes-models' validators), each kustomization names files that exist and no object twice,
 * the eastwatch containers run real subcommands with flags `eastwatch <cmd> --help` lists,
 * `$(VAR)` references name variables defined before them, the environment variables are ones
 * eastwatch or Node reads, and every Service and NetworkPolicy selects a workload that exists.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ENV } from '../../src/service/config';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DEPLOY = path.join(ROOT, 'deploy');
const BIN = path.join(ROOT, 'bin', 'eastwatch.js');

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // Bodies vary by kind: the schemas check them; the test reads only paths it knows per kind.
  spec?: any;
  file: string;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
}

/** Variables eastwatch itself reads besides the service configuration's (src/service/config.ts). */
const CLI_ENV = new Set(['EASTWATCH_KEY', 'EASTWATCH_METRICS_TOKEN', 'EASTWATCH_CONFIG']);
/** Read by Node itself. */
const NODE_ENV = new Set(['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS']);
/** Secrets the ECK operator creates for an Elasticsearch named "eastwatch". */
const ECK_SECRETS = new Set(['eastwatch-es-elastic-user', 'eastwatch-es-http-certs-public']);

function readObjects(file: string): Obj[] {
  const text = fs.readFileSync(file, 'utf8');
  const docs = parseAllDocuments(text);
  const out: Obj[] = [];
  for (const d of docs) {
    assert.deepEqual(
      d.errors.map((e) => e.message),
      [],
      `${path.relative(ROOT, file)}: YAML errors`,
    );
    const o = d.toJS() as Obj | null;
    if (o === null) continue;
    out.push({ ...o, file: path.relative(ROOT, file) });
  }
  return out;
}

/** The objects a kustomization renders (resources only: these kustomizations use nothing else). */
function kustomize(dir: string, seen = new Set<string>()): Obj[] {
  const k = readObjects(path.join(dir, 'kustomization.yaml'))[0] as unknown as { resources: string[]; kind: string };
  assert.equal(k.kind, 'Kustomization');
  const out: Obj[] = [];
  for (const r of k.resources) {
    const p = path.resolve(dir, r);
    assert.ok(fs.existsSync(p), `${path.relative(ROOT, dir)}/kustomization.yaml names ${r}, which does not exist`);
    if (seen.has(p)) continue;
    seen.add(p);
    out.push(...(fs.statSync(p).isDirectory() ? kustomize(p, seen) : readObjects(p)));
  }
  return out;
}

function podSpec(o: Obj): { containers: Container[]; volumes?: { name: string; secret?: { secretName: string } }[] } | null {
  return o.kind === 'Deployment' || o.kind === 'DaemonSet' || o.kind === 'StatefulSet' ? o.spec.template.spec : null;
}

const helpCache = new Map<string, string>();
function help(cmd: string): string {
  let h = helpCache.get(cmd);
  if (h === undefined) {
    const r = spawnSync(process.execPath, [BIN, cmd, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `eastwatch ${cmd} --help: ${r.stderr}`);
    h = r.stdout;
    helpCache.set(cmd, h);
  }
  return h;
}

const OVERLAYS = ['embedded', 'elasticsearch'];

describe('deploy/: Kubernetes manifests', function () {
  this.timeout(120_000);
  const rendered = new Map<string, Obj[]>();
  before(() => {
    for (const o of OVERLAYS) rendered.set(o, kustomize(path.join(DEPLOY, o)));
  });

  it('each overlay renders every manifest file once and no object twice', () => {
    const all = new Set<string>();
    for (const [name, objs] of rendered) {
      const ids = objs.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
      assert.deepEqual(
        ids.filter((id, i) => ids.indexOf(id) !== i),
        [],
        `${name}: objects defined twice`,
      );
      for (const o of objs) all.add(o.file);
      assert.ok(
        objs.some((o) => o.kind === 'DaemonSet' && o.metadata.name === 'eastwatch-agent'),
        `${name} runs the agent`,
      );
      assert.ok(
        objs.some((o) => o.kind === 'Service' && o.metadata.name === 'eastwatch-api'),
        `${name} has the API Service the agent ships to`,
      );
    }
    const files = fs
      .readdirSync(DEPLOY, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.yaml') && !f.endsWith('kustomization.yaml'))
      .map((f) => path.join('deploy', f));
    assert.deepEqual([...all].sort(), files.sort(), 'every manifest file is in an overlay');
  });

  it('core objects pass the Kubernetes OpenAPI schemas, and the schemas do refuse a bad one', () => {
    const objs = [...new Map([...rendered.values()].flat().map((o) => [`${o.kind}/${o.metadata.name}`, o])).values()];
    const core = objs.filter((o) => !o.apiVersion.includes('.k8s.elastic.co'));
    // A name that is not a string: the schema must refuse it, or this check could never fail.
    const bad: Obj = { ...(core.find((o) => o.kind === 'DaemonSet') as Obj), metadata: { name: 7 as unknown as string }, file: 'bad' };
    const problems: string[] = [];
    for (const o of [...core, bad]) {
      const group = o.apiVersion.includes('/') ? o.apiVersion : 'v1';
      // kubernetes-models has one module per API group/version, each exporting a class per kind.
      const mod = require(`kubernetes-models/${group}`) as Record<string, new (body: unknown) => { validate(): void }>;
      const Kind = mod[o.kind];
      if (Kind === undefined) {
        problems.push(`${o.file}: no schema for ${o.apiVersion} ${o.kind}`);
        continue;
      }
      const { file, ...body } = o;
      try {
        new Kind(body).validate();
      } catch (e) {
        problems.push(`${file} ${o.kind}/${o.metadata.name}: ${(e as Error).message}`);
      }
    }
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /^bad DaemonSet\/7: .*metadata\/name must be string/);
    assert.ok(core.length >= 10, `${core.length} core objects`);
  });

  it('the Elasticsearch object is one ECK takes, at the version the tests run', () => {
    const es = rendered.get('elasticsearch')?.find((o) => o.kind === 'Elasticsearch') as Obj;
    assert.equal(es.apiVersion, 'elasticsearch.k8s.elastic.co/v1');
    assert.equal(es.metadata.name, 'eastwatch');
    assert.match(es.spec.version, /^8\.19\.\d+$/);
    assert.match(fs.readFileSync(path.join(ROOT, 'scripts', 'es.sh'), 'utf8'), /Elasticsearch 8\.19/);
    assert.ok(es.spec.nodeSets.length >= 1 && es.spec.nodeSets.every((n: { count: number }) => n.count >= 1));
  });

  it('eastwatch containers run real subcommands with flags the CLI lists, and variables that exist', () => {
    const known = new Set([...Object.keys(ENV), ...CLI_ENV, ...NODE_ENV]);
    let checked = 0;
    for (const [overlay, objs] of rendered) {
      for (const o of objs) {
        const spec = podSpec(o);
        if (spec === null) continue;
        for (const c of spec.containers.filter((c) => c.image.startsWith('eastwatch:'))) {
          const where = `${overlay} ${o.kind}/${o.metadata.name} ${c.name}`;
          const args = c.args ?? [];
          const cmd = args[0];
          assert.ok(['serve', 'worker', 'capture'].includes(cmd), `${where}: ${cmd}`);
          const h = help(cmd);
          for (const a of args.filter((a) => a.startsWith('--'))) {
            assert.ok(new RegExp(`(^|[\\s,])${a}([\\s,=<]|$)`, 'm').test(h), `${where}: eastwatch ${cmd} has no ${a}`);
          }
          // $(VAR) expands only variables defined earlier in the same container's env.
          const env = c.env ?? [];
          const defined: string[] = [];
          for (const e of env) {
            for (const m of (e.value ?? '').matchAll(/\$\(([A-Z_]+)\)/g))
              assert.ok(defined.includes(m[1]), `${where}: ${e.name} uses $(${m[1]}) before it is defined`);
            defined.push(e.name);
          }
          for (const a of args) {
            for (const m of a.matchAll(/\$\(([A-Z_]+)\)/g)) assert.ok(defined.includes(m[1]), `${where}: argument ${a} uses undefined $(${m[1]})`);
          }
          // A variable is read by eastwatch or Node, or used in an expansion.
          const expanded = new Set([...env.map((e) => e.value ?? ''), ...args].flatMap((v) => [...v.matchAll(/\$\(([A-Z_]+)\)/g)].map((m) => m[1])));
          for (const e of env) assert.ok(known.has(e.name) || expanded.has(e.name), `${where}: nothing reads ${e.name}`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 4, `${checked} eastwatch containers`);
  });

  it('the agent runs on every node on the host network, ships to the API Service, and keeps its spool on the node', () => {
    const ds = rendered.get('embedded')?.find((o) => o.kind === 'DaemonSet') as Obj;
    const pod = ds.spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    const c = pod.containers[0] as Container & {
      securityContext: { capabilities: { add: string[]; drop: string[] } };
      volumeMounts: { name: string; mountPath: string }[];
    };
    const args = c.args ?? [];
    const to = new URL(args[args.indexOf('--to') + 1]);
    assert.equal(to.hostname, 'eastwatch-api.eastwatch.svc');
    const api = rendered.get('embedded')?.find((o) => o.kind === 'Service' && o.metadata.name === 'eastwatch-api') as Obj;
    assert.equal(Number(to.port), api.spec.ports[0].port);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.ok(c.securityContext.capabilities.add.includes('NET_RAW'));
    const spool = args[args.indexOf('--spool') + 1];
    const mount = c.volumeMounts.find((m) => spool.startsWith(`${m.mountPath}/`));
    assert.ok(mount, `the spool ${spool} is on a mounted volume`);
    assert.equal(pod.volumes.find((v: { name: string }) => v.name === mount.name).hostPath.path, '/var/lib/eastwatch-agent');
    assert.match(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'), /apt-get install[^\n]*\btcpdump\b/, 'the image has tcpdump for the agent');
  });

  it('Services and NetworkPolicies select workloads that exist, on ports they expose; secrets are ours or ECK-made', () => {
    for (const [overlay, objs] of rendered) {
      const pods = objs
        .map((o) => ({ o, spec: podSpec(o) }))
        .filter((p) => p.spec !== null)
        .map(({ o, spec }) => ({ labels: o.spec.template.metadata.labels as Record<string, string>, spec: spec as NonNullable<ReturnType<typeof podSpec>> }));
      const matches = (sel: Record<string, string>) => pods.filter((p) => Object.entries(sel).every(([k, v]) => p.labels[k] === v));
      for (const o of objs.filter((o) => o.kind === 'Service')) {
        const m = matches(o.spec.selector);
        assert.equal(m.length, 1, `${overlay} Service/${o.metadata.name} selects ${m.length} workloads`);
        for (const p of o.spec.ports) {
          const names = m[0].spec.containers.flatMap((c) => (c.ports ?? []).map((cp) => cp.name));
          assert.ok(names.includes(p.targetPort), `${overlay} Service/${o.metadata.name}: no container port ${p.targetPort}`);
        }
      }
      for (const o of objs.filter((o) => o.kind === 'NetworkPolicy')) {
        assert.equal(matches(o.spec.podSelector.matchLabels).length, 1, `${overlay} NetworkPolicy/${o.metadata.name}`);
        for (const v of o.spec.ingress[0].from[0].podSelector.matchExpressions[0].values as string[]) {
          assert.equal(matches({ 'app.kubernetes.io/name': v }).length, 1, `${overlay} NetworkPolicy/${o.metadata.name} allows ${v}`);
        }
      }
      for (const p of pods) {
        const secrets = [
          ...p.spec.containers.flatMap((c) =>
            (c.env ?? [])
              .map((e) => (e.valueFrom as { secretKeyRef?: { name: string } } | undefined)?.secretKeyRef?.name)
              .filter((n): n is string => n !== undefined),
          ),
          ...(p.spec.volumes ?? []).map((v) => v.secret?.secretName).filter((n): n is string => n !== undefined),
        ];
        for (const s of secrets) assert.ok(s === 'eastwatch-agent' || (overlay === 'elasticsearch' && ECK_SECRETS.has(s)), `${overlay}: secret ${s}`);
      }
    }
  });
});
