/**
 * Who is behind each end of a connection, as detectors name it: the alert entity (everything
 * known) and the identity key (what stays the same across pod restarts and rollouts: the
 * workload, the service, the node, else the address).
 */
import { createHash } from 'node:crypto';
import type { ConnRecord } from '../parsers/record/conn';
import type { K8sEnd } from '../parsers/record/k8s';
import type { AlertEntity } from './contract/alert';
import type { ConnContext } from '../parsers/record/app';

export function entityOf(ip: string, end: K8sEnd | undefined, port?: number): AlertEntity {
  const e: AlertEntity = { ip };
  if (port !== undefined) e.port = port;
  if (end === undefined) return e;
  if (end.namespace !== undefined) e.namespace = end.namespace;
  if (end.pod !== undefined) e.pod = end.pod;
  if (end.workload !== undefined) e.workload = end.workload;
  if (end.service !== undefined) e.service = end.service;
  if (end.node !== undefined) e.node = end.node;
  return e;
}

export function sourceEntity(c: Pick<ConnContext, 'orig_h' | 'k8s'>): AlertEntity {
  return entityOf(c.orig_h, c.k8s?.orig);
}

export function destEntity(c: Pick<ConnContext, 'resp_h' | 'resp_p' | 'k8s'>, withPort = true): AlertEntity {
  return entityOf(c.resp_h, c.k8s?.resp, withPort ? c.resp_p : undefined);
}

/** A pod's workload ("ns/workload"), or null when the originator is not a (non-hostNetwork) pod. */
export function podWorkload(c: Pick<ConnContext, 'k8s'>): string | null {
  const o = c.k8s?.orig;
  if (o === undefined || o.kind !== 'pod' || o.host_network === true) return null;
  return `${o.namespace ?? ''}/${o.workload ?? o.pod ?? ''}`;
}

/**
 * The destination as an edge end: a service (whose backends change), a pod's workload, a node,
 * else the address. Services win over pods so that a capture taken before DNAT (ClusterIP) and
 * flows seen after it (backend pod with its service) name the same destination.
 */
export function destKey(c: Pick<ConnContext, 'resp_h' | 'k8s'>): string {
  const r = c.k8s?.resp;
  if (r !== undefined) {
    if (r.service !== undefined) return `svc:${r.namespace ?? ''}/${r.service}`;
    if (r.kind === 'pod' && !r.host_network) return `wl:${r.namespace ?? ''}/${r.workload ?? r.pod ?? ''}`;
    if (r.kind === 'node' && r.node !== undefined) return `node:${r.node}`;
  }
  return `ip:${c.resp_h}`;
}

/** Whether the responder is a pod or a service (lateral movement targets). */
export function respIsWorkload(c: Pick<ConnContext, 'k8s'>): boolean {
  const r = c.k8s?.resp;
  return r !== undefined && ((r.kind === 'pod' && !r.host_network) || r.kind === 'service' || (r.service !== undefined && r.kind === 'pod'));
}

/** The identity part of an entity for stable ids: never a pod name, port, or time. */
export function entityIdentity(e: AlertEntity): string {
  if (e.workload !== undefined) return `wl:${e.namespace ?? ''}/${e.workload}`;
  if (e.service !== undefined) return `svc:${e.namespace ?? ''}/${e.service}`;
  if (e.domain !== undefined) return `dom:${e.domain}`;
  if (e.node !== undefined) return `node:${e.node}`;
  return `ip:${e.ip ?? ''}`;
}

/** Stable alert id: sha256 of detector, both entities' identity and the grouping key; 20 hex digits. */
export function alertId(detector: string, source: AlertEntity, destination: AlertEntity, key: string): string {
  return createHash('sha256')
    .update([detector, entityIdentity(source), entityIdentity(destination), key].join('\u0000'))
    .digest('hex')
    .slice(0, 20);
}

type AnswerFields = Pick<ConnRecord, 'proto' | 'history' | 'conn_state' | 'resp_pkts' | 'observed'>;

/** The record saw the connection from its start in both directions (else whether it was answered is unknown). */
export function fullyObserved(r: Pick<ConnRecord, 'proto' | 'history' | 'observed'>): boolean {
  if (r.observed === 'one-way' || r.observed === 'midstream') return false;
  // A TCP record without the originator's SYN began midstream (capture started inside it).
  return r.proto !== 'tcp' || r.history.includes('S');
}

/**
 * TCP handshake answered (SYN-ACK seen from the responder), or a non-TCP reply. A TCP record seen
 * midstream counts as answered when the responder sent anything; a one-way record never does
 * (its resp_* fields are unknown, not zero): callers that count failures use attemptOutcome.
 */
export function answered(r: AnswerFields): boolean {
  if (r.observed === 'one-way') return false;
  if (r.proto === 'tcp') {
    if (!fullyObserved(r)) return r.resp_pkts > 0 || /[dafh]/.test(r.history);
    return r.history.includes('h') && r.conn_state !== 'REJ';
  }
  return r.resp_pkts > 0;
}

/** For logic that counts failed attempts (scan): 'unknown' when the record cannot tell (one-way, midstream). */
export function attemptOutcome(r: AnswerFields): 'answered' | 'unanswered' | 'unknown' {
  if (!fullyObserved(r)) return 'unknown';
  return answered(r) ? 'answered' : 'unanswered';
}

/** The responder sent payload: the service actually answered (not a bare handshake, not a probe). */
export function exchangedData(r: Pick<ConnRecord, 'proto' | 'history' | 'resp_bytes' | 'resp_pkts' | 'observed' | 'counts'>): boolean {
  if (r.resp_bytes > 0) return true;
  // Seen midstream: no handshake to wait for, the responder's data is the answer.
  if (r.proto === 'tcp' && !fullyObserved(r)) {
    if (r.observed === 'one-way') return false;
    // Aggregated Hubble reports the first packet of a 5 s lull, often a segment without PSH: any
    // reported packet of the responder's other than its FIN/RST is it sending.
    return r.history.includes('d') || (r.counts === 'reports' && r.history.includes('a'));
  }
  if (r.proto === 'tcp' && r.counts === 'reports') {
    // Aggregated Hubble: the responder's data packets are mostly unreported, so it counts as having
    // answered when, after its SYN-ACK, it closed the connection itself (FIN: a port probe is
    // reset by the prober), a reported packet of its carried PSH, or it was reported more often
    // than its SYN-ACK, FIN and RST account for (a report 5 s after the previous one: still sending).
    if (!r.history.includes('h')) return false;
    const flagReports = ['h', 'f', 'r'].filter((l) => r.history.includes(l)).length;
    return /[fd]/.test(r.history) || r.resp_pkts > flagReports;
  }
  return r.history.includes('d') && (r.proto !== 'tcp' || r.history.includes('h'));
}
