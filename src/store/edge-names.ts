/**
 * Names for the external destinations of an edge list. Connection records carry no name for an
 * address outside the cluster: that is in the application records linked to connections (TLS
 * SNI, HTTP host) and in the DNS answers clients resolved. Shared by both backends, through the
 * Store's own application-record search, so they agree by construction.
 *
 * Bounded: only the edges already ranked and cut to the limit are named, their external
 * addresses looked up in chunks, one page of records per kind and chunk, within the edges' own
 * time range and query (so a narrowed query never names an address from records it could not
 * read). A query the application records cannot take (a field only connections have, or a
 * scope given as a parsed query) leaves the edges unnamed rather than answering from records
 * outside it.
 */
import type { AppKind, AppRecordOut } from '../../parsers/record/app';
import type { Edge, EdgesRequest, Store } from './types';

/** Addresses per lookup: the query stays short. */
const CHUNK = 100;
/** Records read per kind and chunk. */
const PAGE = 2000;

/** What names an address, strongest first: the name the client sent to it, then the one it resolved. */
const KINDS: readonly { kind: AppKind; field: string; name: (r: AppRecordOut) => string | null; ips: (r: AppRecordOut) => string[] }[] = [
  { kind: 'tls', field: 'destination.ip', name: (r) => (r.kind === 'tls' ? r.server_name : null), ips: (r) => [r.conn.resp_h] },
  { kind: 'http', field: 'destination.ip', name: (r) => (r.kind === 'http' ? r.host : null), ips: (r) => [r.conn.resp_h] },
  {
    kind: 'dns',
    field: 'dns.answers.data',
    name: (r) => (r.kind === 'dns' ? r.query : null),
    ips: (r) => (r.kind === 'dns' ? (r.answers ?? []) : []),
  },
];

const isExternal = (e: Edge): boolean => !e.destination.namespace && !e.destination.workload && !e.destination.service;

/** A host name as the destination's name: no port (HTTP Host may carry one), lower case, no trailing dot. */
function hostName(v: string): string | null {
  const h = v.trim().toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  return /^[a-z0-9_.-]+$/.test(h) && h.includes('.') && !/^[\d.]+$/.test(h) ? h : null;
}

export async function nameExternal(store: Pick<Store, 'searchApp'>, req: EdgesRequest, edges: Edge[]): Promise<Edge[]> {
  const ips = [...new Set(edges.filter(isExternal).map((e) => e.destination.ip))];
  if (ips.length === 0) return edges;
  if (req.query !== undefined && typeof req.query !== 'string') return edges;
  const base = req.query?.trim() ?? '';
  const wanted = new Set(ips);
  const names = new Map<string, string>();
  for (const k of KINDS) {
    for (let i = 0; i < ips.length; i += CHUNK) {
      const chunk = ips.slice(i, i + CHUNK).filter((ip) => !names.has(ip));
      if (chunk.length === 0) continue;
      const clause = `${k.field}:(${chunk.map((ip) => `"${ip}"`).join(' or ')})`;
      let records: AppRecordOut[];
      try {
        ({ records } = await store.searchApp(k.kind, { query: base ? `(${base}) and ${clause}` : clause, from: req.from, to: req.to, limit: PAGE }));
      } catch {
        // The edges' query names a field application records do not have: no names, not wrong ones.
        return edges;
      }
      // Newest first (searchApp's order): the name an address answered to last wins.
      for (const r of records) {
        const raw = k.name(r);
        const name = raw ? hostName(raw) : null;
        if (!name) continue;
        for (const ip of k.ips(r)) if (wanted.has(ip) && !names.has(ip)) names.set(ip, name);
      }
    }
  }
  return edges.map((e) => {
    const name = isExternal(e) ? names.get(e.destination.ip) : undefined;
    return name ? { ...e, destination: { ...e.destination, name } } : e;
  });
}
