/** Builders of connection and DNS records for the detector tests (every field a real record has). */
import type { ConnRecord } from '../../parsers/record/conn';
import type { K8sEnd } from '../../parsers/record/k8s';
import type { DnsLogRecord } from '../../parsers/record/app';
import type { ConnContext } from '../../parsers/record/app';

let n = 0;

export function pod(ns: string, workload: string, name = `${workload}-abc12`): K8sEnd {
  return { kind: 'pod', namespace: ns, workload, workload_kind: 'Deployment', pod: name };
}

export function conn(p: Partial<ConnRecord> & { ts: number }, orig?: K8sEnd, resp?: K8sEnd): ConnRecord {
  const r: ConnRecord = {
    uid: p.uid ?? `Ct${++n}`,
    orig_h: '10.244.1.10',
    orig_p: 40000 + (n % 20000),
    resp_h: '10.244.2.20',
    resp_p: 8080,
    proto: 'tcp',
    ip_proto: 6,
    service: [],
    duration: 0.05,
    orig_bytes: 300,
    resp_bytes: 1200,
    conn_state: 'SF',
    local_orig: true,
    local_resp: true,
    missed_bytes: 0,
    history: 'ShADadFf',
    orig_pkts: 6,
    orig_ip_bytes: 620,
    resp_pkts: 5,
    resp_ip_bytes: 1460,
    tunnel_parents: [],
    community_id: '',
    vlan: null,
    inner_vlan: null,
    orig_l2_addr: null,
    resp_l2_addr: null,
    tunnel_type: null,
    tunnel_id: null,
    interim: false,
    ...p,
  };
  if (orig !== undefined || resp !== undefined) {
    r.k8s = { orig: orig ?? { kind: 'internal' }, resp: resp ?? { kind: 'internal' }, direction: 'internal', scope: 'same-namespace' };
  }
  return r;
}

/** A refused TCP attempt (SYN, RST-ACK). */
export function refused(p: Partial<ConnRecord> & { ts: number }, orig?: K8sEnd, resp?: K8sEnd): ConnRecord {
  return conn({ conn_state: 'REJ', history: 'Sr', orig_bytes: 0, resp_bytes: 0, orig_pkts: 1, resp_pkts: 1, duration: 0.0003, ...p }, orig, resp);
}

export function dns(ts: number, query: string, o: { qtype?: string; rcode?: number; answers?: string[] } = {}): DnsLogRecord & { uid: string } {
  const rcode = o.rcode ?? 0;
  return {
    kind: 'dns',
    uid: `Cd${++n}`,
    ts,
    proto: 'udp',
    trans_id: n & 0xffff,
    rtt: 0.0004,
    query,
    qclass: 1,
    qclass_name: 'C_INTERNET',
    qtype: null,
    qtype_name: o.qtype ?? 'A',
    rcode,
    rcode_name: rcode === 3 ? 'NXDOMAIN' : 'NOERROR',
    AA: false,
    TC: false,
    RD: true,
    RA: true,
    Z: 0,
    answers: o.answers ?? null,
    TTLs: null,
    rejected: false,
    opcode: 0,
    opcode_name: 'query',
    rrs: [],
  };
}

export function ctx(ts: number, orig: K8sEnd, origIp = '10.244.1.10'): ConnContext {
  return {
    uid: `Cx${++n}`,
    ts,
    orig_h: origIp,
    resp_h: '10.96.0.10',
    resp_p: 53,
    k8s: { orig, resp: { kind: 'service', namespace: 'kube-system', service: 'kube-dns' }, direction: 'internal', scope: 'pod-to-service' },
  };
}
