/**
 * DNS from Hubble L7 events (`hubble observe -o json` with DNS visibility): the flow parser folds
 * packets into connections, but the DNS names live in the L7 events, read here for the
 * detectors and the store. A response event is turned into a dns.log-shaped record with its client as the
 * originator, carrying its connection (ConnInfo: the client's address and port, the server's) so
 * the store can keep it as an application record (`GET /dns`); its uid is the event's uuid
 * (Hubble has no connection uid for it).
 */
import { rfc3339Of } from './common';
import type { DnsLogRecord } from '../record/app';
import type { K8sEnd } from '../record/k8s';
import type { AppInput, ConnContext, ConnInfo } from '../record/app';

interface Ep {
  namespace?: string;
  pod_name?: string;
  labels?: string[];
  workloads?: { name?: string; kind?: string }[];
}

const RCODES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED' };

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function endOf(ep: Ep | undefined): K8sEnd | undefined {
  if (ep === undefined) return undefined;
  if (typeof ep.pod_name === 'string' && ep.pod_name !== '') {
    const w = ep.workloads?.[0];
    const e: K8sEnd = { kind: 'pod', namespace: ep.namespace, pod: ep.pod_name };
    if (typeof w?.name === 'string') e.workload = w.name;
    if (typeof w?.kind === 'string') e.workload_kind = w.kind;
    return e;
  }
  const labels = ep.labels ?? [];
  return {
    kind: labels.includes('reserved:world') ? 'external' : labels.includes('reserved:host') || labels.includes('reserved:remote-node') ? 'node' : 'internal',
  };
}

/** The DNS record and its client context of one Hubble JSON line, or null when it is not a DNS response. */
export function hubbleDns(line: string): { rec: AppInput; ctx: ConnContext } | null {
  if (!line.includes('"dns"')) return null;
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return null;
  }
  const f = obj(obj(o)?.flow) ?? obj(o);
  const l7 = obj(f?.l7);
  const dns = obj(l7?.dns);
  if (f === undefined || dns === undefined || l7?.type !== 'RESPONSE') return null;
  const ip = obj(f.IP);
  let t = NaN;
  try {
    t = rfc3339Of('time', f.time);
  } catch {
    return null;
  }
  if (ip === undefined || typeof ip.source !== 'string' || typeof ip.destination !== 'string' || !Number.isFinite(t)) return null;
  // A response goes from the server to the client.
  const udp = obj(obj(f.l4)?.UDP) ?? obj(obj(f.l4)?.TCP);
  const query = typeof dns.query === 'string' ? dns.query.replace(/\.$/, '') : null;
  const qtype = Array.isArray(dns.qtypes) && typeof dns.qtypes[0] === 'string' ? (dns.qtypes[0] as string) : null;
  const rcode = typeof dns.rcode === 'number' ? dns.rcode : 0;
  const ips = Array.isArray(dns.ips) ? (dns.ips as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  const uid = typeof f.uuid === 'string' ? f.uuid : `hubble-dns-${t}`;
  const proto = obj(obj(f.l4)?.TCP) ? 'tcp' : 'udp';
  const conn: ConnInfo = {
    uid,
    proto,
    orig_h: ip.destination,
    orig_p: typeof udp?.destination_port === 'number' ? udp.destination_port : 0,
    resp_h: ip.source,
    resp_p: typeof udp?.source_port === 'number' ? udp.source_port : 53,
    ts: t,
  };
  const rec: DnsLogRecord & { uid: string; conn: ConnInfo } = {
    kind: 'dns',
    uid,
    conn,
    ts: t,
    proto,
    trans_id: 0,
    rtt: null,
    query,
    qclass: 1,
    qclass_name: 'C_INTERNET',
    qtype: null,
    qtype_name: qtype,
    rcode,
    rcode_name: RCODES[rcode] ?? String(rcode),
    AA: false,
    TC: false,
    RD: true,
    RA: true,
    Z: 0,
    answers: ips.length ? ips : null,
    TTLs: null,
    rejected: false,
    opcode: 0,
    opcode_name: 'query',
    rrs: [],
  };
  const client = endOf(obj(f.destination) as Ep | undefined);
  const server = endOf(obj(f.source) as Ep | undefined);
  const ctx: ConnContext = {
    uid,
    ts: t,
    orig_h: ip.destination,
    resp_h: ip.source,
    resp_p: typeof udp?.source_port === 'number' ? udp.source_port : 53,
  };
  if (client !== undefined && server !== undefined) ctx.k8s = { orig: client, resp: server, direction: 'internal', scope: 'other' };
  return { rec, ctx };
}
