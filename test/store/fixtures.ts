/**
 * Test records: the connection records of the real sample captures (samples/*.pcap, through
 * analyzeFile), plus a few derived from them for what the samples lack (IPv6, Kubernetes
 * identity, older days), each derived record a copy of a real one with a new uid.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeFile } from '../../src/analyze/pipeline';
import { analyzerFactory } from '../../src/analyze/app';
import type { ConnK8s, K8sEnd } from '../../parsers/record/k8s';
import type { StoreRecord } from '../../src/store/types';
import type { AppRecordOut } from '../../parsers/record/app';

/** samples/ of the repository, from the compiled test's location (dist/test/store or .build/<area>/test/store). */
export const SAMPLES_DIR = [3, 4]
  .map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..'), 'samples'))
  .find((d) => fs.existsSync(path.join(d, 'pod-traffic.pcap'))) as string;

export async function sampleRecords(): Promise<StoreRecord[]> {
  const out: StoreRecord[] = [];
  for (const f of fs
    .readdirSync(SAMPLES_DIR)
    .filter((n) => n.endsWith('.pcap'))
    .sort()) {
    await analyzeFile(path.join(SAMPLES_DIR, f), (r) => out.push(r));
  }
  return out;
}

/** What JSON keeps (drops undefined members): what a store can be expected to give back. */
export function plain<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

const WORKLOADS: Record<string, [string, string]> = {
  '10.244.1.10': ['shop', 'frontend'],
  '10.244.1.11': ['shop', 'frontend'],
  '10.244.2.10': ['shop', 'checkout'],
  '10.96.0.10': ['kube-system', 'coredns'],
  '10.96.12.34': ['shop', 'api'],
};

function end(ip: string): K8sEnd {
  const w = WORKLOADS[ip];
  if (!w) return { kind: ip.startsWith('10.') ? 'internal' : 'external' };
  return {
    kind: ip.startsWith('10.96.') ? 'service' : 'pod',
    namespace: w[0],
    workload: w[1],
    workload_kind: 'Deployment',
    pod: `${w[1]}-7d9f-${ip.split('.')[3]}`,
    labels: { app: w[1] },
  };
}

/** Kubernetes identity for the pod-traffic addresses (the shape the enrichment writes). */
export function withK8s(r: StoreRecord): StoreRecord {
  const orig = end(r.orig_h);
  const resp = end(r.resp_h);
  if (orig.namespace === undefined && resp.namespace === undefined) return r;
  const k8s: ConnK8s = {
    orig,
    resp,
    direction: 'internal',
    scope: resp.kind === 'service' ? 'pod-to-service' : orig.namespace === resp.namespace ? 'same-namespace' : 'cross-namespace',
  };
  if (resp.namespace === 'kube-system') {
    k8s.policy = { verdict: 'allowed', egress: 'allowed', ingress: 'not-isolated', denied_by: [], allowed_by: ['shop/allow-dns'] };
    // As a flow's end completed by the inventory is stored (k8s/merge.ts): which fields were the flow's.
    k8s.resp = { ...resp, from_flow: ['kind', 'namespace', 'labels.app'] };
  }
  return { ...r, k8s };
}

/** An IPv6 twin of a real record (fd00:10:244::/48 pods). */
export function v6Twin(r: StoreRecord, n: number): StoreRecord {
  const six = (ip: string): string => `fd00:10:244::${ip.split('.').slice(2).join(':')}`;
  return { ...r, uid: `${r.uid}v6${n}`, orig_h: six(r.orig_h), resp_h: six(r.resp_h), community_id: `1:v6twin${n}=`, k8s: undefined };
}

/**
 * What a flow source gives for a real record: IP bytes and packets without payload counts
 * (NetFlow, VPC, Hubble), one-way (no reply record paired: resp_* unknown) or midstream; with
 * `counts: 'reports'` as aggregated Hubble marks its packet counts.
 */
export function flowTwin(r: StoreRecord, n: number, observed: 'one-way' | 'midstream', counts?: 'reports'): StoreRecord {
  const t: StoreRecord = { ...r, uid: `${r.uid}f${n}`, orig_bytes: 0, resp_bytes: 0, missed_bytes: 0, observed };
  if (counts !== undefined) t.counts = counts;
  if (observed === 'one-way') Object.assign(t, { resp_pkts: 0, resp_ip_bytes: 0, history: '', conn_state: 'OTH' });
  return t;
}

export function shiftedDays(r: StoreRecord, days: number, n: number): StoreRecord {
  return { ...r, uid: `${r.uid}d${days}x${n}`, ts: r.ts - days * 86400 };
}

/** Captures with application records the samples lack (TLS, SSH), from the corpus when present. */
export const CORPUS_APP_CAPTURES = ['zeek/tls/tls-conn-with-extensions.pcap', 'zeek/ssh/ssh.client-side-half-duplex.pcap'];

/** The application records of the sample captures (dns, http, http2, app) and of the corpus captures given (tls, ssh). */
export async function sampleApps(corpusFiles: string[] = []): Promise<AppRecordOut[]> {
  const out: AppRecordOut[] = [];
  const files = [
    ...fs
      .readdirSync(SAMPLES_DIR)
      .filter((n) => n.endsWith('.pcap'))
      .sort()
      .map((n) => path.join(SAMPLES_DIR, n)),
    // HTTP/2 and gRPC (samples/h2/make.sh).
    path.join(SAMPLES_DIR, 'h2', 'h2c.pcap'),
    ...corpusFiles,
  ];
  for (const f of files) await analyzeFile(f, () => undefined, { tracker: { payload: analyzerFactory((r) => out.push(r)) } });
  return out;
}
