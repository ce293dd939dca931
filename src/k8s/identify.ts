/**
 * The Kubernetes identity of an application record's connection, for the detectors: the
 * resolver's answer for the connection's addresses and ports, without policy evaluation (the
 * detectors that read application records do not need it).
 */
import type { AppConnKey } from '../../detectors/engine';
import type { ConnK8s } from '../../parsers/record/k8s';
import type { K8sResolver } from './resolver';

/** Identity of an application record's connection from the Kubernetes resolver (no policy evaluation: not needed there). */
export function identifyWith(resolver: K8sResolver): (c: AppConnKey) => ConnK8s {
  return (c) => {
    const ip_proto = c.proto === 'tcp' ? 6 : c.proto === 'udp' ? 17 : c.proto === 'icmp' ? 1 : 0;
    const r = resolver.resolve({ ...c, ip_proto });
    return { orig: r.orig.end, resp: r.resp.end, direction: r.direction, scope: r.scope };
  };
}
