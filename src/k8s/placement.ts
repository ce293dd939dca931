/**
 * Where an application record's connection ran (its cluster, the namespaces of its two ends),
 * kept on the record when it is stored so that a namespace- or cluster-scoped key can be narrowed
 * to it inside the store query, as it is on connection records.
 */
import type { AppRecordOut, ConnInfo } from '../../parsers/record/app';
import type { ConnK8s } from '../../parsers/record/k8s';
import type { AppPlacement, StoreAppRecord } from '../store/types';
import type { K8sResolver } from './resolver';

/** The placement of a connection whose identity is known (its record's k8s). */
export function placementOf(k8s: Pick<ConnK8s, 'orig' | 'resp'> | undefined, cluster: string | undefined): AppPlacement {
  const p: AppPlacement = {};
  if (cluster !== undefined) p.cluster = cluster;
  if (k8s?.orig.namespace !== undefined) p.source_namespace = k8s.orig.namespace;
  if (k8s?.resp.namespace !== undefined) p.destination_namespace = k8s.resp.namespace;
  return p;
}

const IP_PROTO: Record<ConnInfo['proto'], number> = { tcp: 6, udp: 17, icmp: 1, unknown_transport: 0 };

/**
 * The placement of a record whose connection record is not written yet (payload analysis emits
 * it while the connection lasts): the inventory asked as the connection record's enrichment asks
 * it, with the same addresses, responder port and first-packet time, so both get the same namespaces.
 */
export function placeByInventory(r: AppRecordOut, resolver: K8sResolver | null | undefined, cluster: string | undefined): StoreAppRecord {
  const c = r.conn;
  const k8s = resolver
    ? (() => {
        const x = resolver.resolve({
          ts: c.ts,
          orig_h: c.orig_h,
          orig_p: c.orig_p,
          resp_h: c.resp_h,
          resp_p: c.resp_p,
          proto: c.proto,
          ip_proto: IP_PROTO[c.proto],
        });
        return { orig: x.orig.end, resp: x.resp.end };
      })()
    : undefined;
  return { ...r, placement: placementOf(k8s, cluster) };
}
