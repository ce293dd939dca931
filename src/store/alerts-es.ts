/**
 * Alerts and suppressions as Elasticsearch documents: the contract's shape (detectors/contract/alert.ts)
 * as is, plus the few derived fields searches need (severity as a rank, suppressed as a boolean,
 * @timestamp for Kibana), which are dropped again on read so that an alert reads back as written.
 */
import type { Alert } from '../../detectors/contract/alert';
import { SEVERITY_RANK } from './alerts-common';

type Mapping = { [key: string]: unknown };

const kw: Mapping = { type: 'keyword' };
const entity: Mapping = {
  properties: { ip: { type: 'ip' }, port: { type: 'long' }, namespace: kw, pod: kw, workload: kw, service: kw, node: kw, domain: kw },
};

/** `dynamic: false`: the contract grows additively; a new member is kept in _source, not refused. */
export const ALERT_MAPPING: Mapping = {
  dynamic: false,
  properties: {
    '@timestamp': { type: 'date' },
    id: kw,
    detector: kw,
    title: { type: 'keyword', ignore_above: 1024 },
    severity: kw,
    severity_rank: { type: 'byte' },
    score: { type: 'double' },
    mitre: kw,
    source: entity,
    destination: entity,
    first_seen: { type: 'double' },
    last_seen: { type: 'double' },
    count: { type: 'long' },
    evidence: { properties: { uids: kw, figures: { type: 'flattened' } } },
    status: kw,
    suppressed: { type: 'boolean' },
    suppressed_by: kw,
    note: { type: 'keyword', ignore_above: 8191 },
    /** What raised it: capture SHA-256s, 'other' (the store's, not the contract's: not read back). */
    origins: kw,
    cluster: kw,
  },
};

export const SUPPRESSION_MAPPING: Mapping = {
  dynamic: false,
  properties: {
    id: kw,
    detector: kw,
    source: entity,
    destination: entity,
    reason: { type: 'keyword', ignore_above: 8191 },
    created_by: kw,
    created_at: kw,
    expires_at: kw,
  },
};

export interface AlertDoc extends Alert {
  '@timestamp': string;
  severity_rank: number;
  suppressed: boolean;
  /** Absent on alerts stored before origins were kept. */
  origins?: string[];
}

export function alertDoc(a: Alert, origins?: string[]): AlertDoc {
  return {
    ...a,
    '@timestamp': new Date(Math.round(a.last_seen * 1000)).toISOString(),
    severity_rank: SEVERITY_RANK[a.severity],
    suppressed: Boolean(a.suppressed_by),
    ...(origins ? { origins } : {}),
  };
}

export function alertFromDoc(d: AlertDoc): Alert {
  const { '@timestamp': _ts, severity_rank: _rank, suppressed: _s, origins: _o, ...a } = d;
  return a;
}
