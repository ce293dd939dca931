/**
 * Scoped keys (namespaces, clusters, cluster/namespace): the store as such a key sees it. Every
 * read is narrowed to records, alerts and edges of the key's clusters with at least one end in
 * the key's namespaces, inside the store query (so
 * counts, aggregations, pages and cursors are of the scoped set, not a filtered copy of the
 * whole). What cannot be narrowed that way is refused with a 403 that says why, never answered
 * whole: a route handler cannot reach unscoped data through this object.
 */
import type { Alert } from '../../../detectors/contract/alert';
import type { AppKind } from '../../../parsers/record/app';
import type { Query } from '../../query/ast';
import { CONN_FIELDS, type FieldDef, type FieldRegistry } from '../../query/fields';
import { appSpec } from '../../store/app-records';
import { parseQuery } from '../../query/parser';
import type {
  AlertPatch,
  AlertSearch,
  DistinctRequest,
  EdgeList,
  EdgesRequest,
  Histogram,
  HistogramRequest,
  SearchFilter,
  SearchPage,
  SearchRequest,
  Store,
  StoreAppRecord,
  StoreRecord,
  TopBucket,
  TopRequest,
} from '../../store/types';
import type { KeyScope } from '../keys';
import { ApiError } from './route';

const anyOf = (children: Query[]): Query => (children.length === 1 ? children[0] : { kind: 'or', children });

/** A namespace entry as (cluster or undefined, namespace). */
function splitEntry(e: string): { cluster?: string; ns: string } {
  const i = e.indexOf('/');
  return i < 0 ? { ns: e } : { cluster: e.slice(0, i), ns: e.slice(i + 1) };
}

/**
 * The query-language condition of a scope: the cluster among its clusters, and one end in its
 * namespaces. Over the connection fields, or another registry with the same three fields (the
 * application records carry their connection's placement under the same names).
 */
export function scopeQuery(scope: KeyScope, fields: FieldRegistry = CONN_FIELDS): Query {
  const term = (name: string, v: string): Query => ({ kind: 'term', field: fields.field(name) as FieldDef, value: { kind: 'string', v }, pos: 0 });
  const parts: Query[] = [];
  if (scope.clusters) parts.push(anyOf(scope.clusters.map((c) => term('orchestrator.cluster.name', c))));
  if (scope.namespaces)
    parts.push(
      anyOf(
        scope.namespaces.map((e) => {
          const { cluster, ns } = splitEntry(e);
          const ends: Query = { kind: 'or', children: [term('eastwatch.source.namespace', ns), term('eastwatch.destination.namespace', ns)] };
          return cluster === undefined ? ends : { kind: 'and', children: [term('orchestrator.cluster.name', cluster), ends] };
        }),
      ),
    );
  return parts.length === 1 ? parts[0] : { kind: 'and', children: parts };
}

/** The same condition on one record (what get() checks). */
export function recordInScope(r: StoreRecord, scope: KeyScope): boolean {
  if (scope.clusters && (r.cluster === undefined || !scope.clusters.includes(r.cluster))) return false;
  if (!scope.namespaces) return true;
  const a = r.k8s?.orig.namespace;
  const b = r.k8s?.resp.namespace;
  return scope.namespaces.some((e) => {
    const { cluster, ns } = splitEntry(e);
    return (cluster === undefined || cluster === r.cluster) && (a === ns || b === ns);
  });
}

/** The same condition on one alert (Alert.cluster, the namespaces of its ends). */
export function alertInScope(a: Alert, scope: KeyScope): boolean {
  if (scope.clusters && (a.cluster === undefined || !scope.clusters.includes(a.cluster))) return false;
  if (!scope.namespaces) return true;
  const s = a.source.namespace;
  const d = a.destination.namespace;
  return scope.namespaces.some((e) => {
    const { cluster, ns } = splitEntry(e);
    return (cluster === undefined || cluster === a.cluster) && (s === ns || d === ns);
  });
}

function refused(what: string): never {
  throw new ApiError(403, `${what} is not available to a namespace- or cluster-scoped key`);
}

/**
 * The store seen through a scope. Writes other than an alert's triage are refused: a scoped key
 * reads and triages; it does not change what other teams see (suppressions silence alerts for
 * every namespace).
 */
export function scopedStore(inner: Store, scope: KeyScope): Store {
  const condition = scopeQuery(scope);
  const narrow = <F extends SearchFilter>(f: F): F => {
    // Parsed here, with the connection fields, so that a syntax error still points into the user's text.
    const q = typeof f.query === 'string' || f.query === undefined ? parseQuery(f.query ?? '', { fields: CONN_FIELDS }) : f.query;
    return { ...f, query: q.kind === 'all' ? condition : { kind: 'and', children: [q, condition] } };
  };
  const getScoped = async (uid: string): Promise<StoreRecord | null> => {
    const r = await inner.get(uid);
    return r && recordInScope(r, scope) ? r : null;
  };
  const getAlertScoped = async (id: string): Promise<Alert | null> => {
    const a = await inner.getAlert(id);
    return a && alertInScope(a, scope) ? a : null;
  };
  return {
    backend: inner.backend,
    init: () => refused('initialising the store'),
    write: () => refused('writing records'),
    writer: () => refused('writing records'),
    refresh: () => inner.refresh(),
    get: getScoped,
    search: (req: SearchRequest): Promise<SearchPage> => inner.search(narrow(req)),
    count: (f: SearchFilter): Promise<number> => inner.count(narrow(f)),
    top: (req: TopRequest): Promise<TopBucket[]> => inner.top(narrow(req)),
    histogram: (req: HistogramRequest): Promise<Histogram> => inner.histogram(narrow(req)),
    distinct: (req: DistinctRequest): Promise<number> => inner.distinct(narrow(req)),
    edges: (req: EdgesRequest): Promise<EdgeList> => inner.edges(narrow(req)),
    retain: () => refused('retention'),
    deadLetters: () => refused('the dead-letter store'),
    writeApp: () => refused('writing records'),
    async appsOf(uid: string): Promise<StoreAppRecord[]> {
      return (await getScoped(uid)) ? inner.appsOf(uid) : [];
    },
    // Application records carry their connection's cluster and namespaces (placement), narrowed
    // on like the connections'. Those stored before placement was kept match no scope.
    searchApp: (kind: AppKind, req: SearchRequest) => {
      const fields = appSpec(kind).registry;
      const q = typeof req.query === 'string' || req.query === undefined ? parseQuery(req.query ?? '', { fields }) : req.query;
      const cond = scopeQuery(scope, fields);
      return inner.searchApp(kind, { ...req, query: q.kind === 'all' ? cond : { kind: 'and', children: [q, cond] } });
    },
    writeAlerts: () => refused('writing alerts'),
    getAlert: getAlertScoped,
    // Alerts carry the cluster of the records they were raised on; those without one (stored
    // before it was kept, or over several clusters' records) match no cluster-scoped key.
    searchAlerts: (req: AlertSearch) => inner.searchAlerts({ ...req, namespaces: scope.namespaces, clusters: scope.clusters }),
    async patchAlert(id: string, patch: AlertPatch): Promise<Alert | null> {
      return (await getAlertScoped(id)) ? inner.patchAlert(id, patch) : null;
    },
    async patchAlerts(ids: readonly string[], patch: AlertPatch): Promise<{ updated: string[]; missing: string[] }> {
      // An alert out of scope is as missing as one that does not exist.
      const inScope: string[] = [];
      const missing: string[] = [];
      for (const id of ids) ((await getAlertScoped(id)) ? inScope : missing).push(id);
      const r = inScope.length ? await inner.patchAlerts(inScope, patch) : { updated: [], missing: [] };
      return { updated: r.updated, missing: [...missing, ...r.missing] };
    },
    deleteCapture: () => refused('deleting captures'),
    releaseCaptureAlerts: () => refused('removing alerts'),
    addSuppression: () => refused('suppression rules (they silence alerts of every namespace)'),
    listSuppressions: () => refused('suppression rules (they name entities of every namespace)'),
    deleteSuppression: () => refused('suppression rules (they silence alerts of every namespace)'),
    close: () => refused('closing the store'),
  };
}
