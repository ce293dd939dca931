/**
 * Namespace-scoped keys: the store as such a key sees it. Every read is narrowed to records,
 * alerts and edges with at least one end in the key's namespaces, inside the store query (so
 * counts, aggregations, pages and cursors are of the scoped set, not a filtered copy of the
 * whole). What cannot be narrowed that way is refused with a 403 that says why, never answered
 * whole: a route handler cannot reach unscoped data through this object.
 */
import type { Alert } from '../../../detectors/contract/alert';
import type { AppKind, AppRecordOut } from '../../../parsers/record/app';
import type { Query } from '../../query/ast';
import { CONN_FIELDS, type FieldDef } from '../../query/fields';
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
  StoreRecord,
  TopBucket,
  TopRequest,
} from '../../store/types';
import type { KeyScope } from '../keys';
import { ApiError } from './route';

/** The query-language condition "one end in these namespaces". */
export function scopeQuery(scope: KeyScope): Query {
  const src = CONN_FIELDS.field('eastwatch.source.namespace') as FieldDef;
  const dst = CONN_FIELDS.field('eastwatch.destination.namespace') as FieldDef;
  return {
    kind: 'or',
    children: scope.namespaces.flatMap((ns) => [
      { kind: 'term', field: src, value: { kind: 'string', v: ns }, pos: 0 },
      { kind: 'term', field: dst, value: { kind: 'string', v: ns }, pos: 0 },
    ]),
  };
}

export function recordInScope(r: StoreRecord, scope: KeyScope): boolean {
  const a = r.k8s?.orig.namespace;
  const b = r.k8s?.resp.namespace;
  return (a !== undefined && scope.namespaces.includes(a)) || (b !== undefined && scope.namespaces.includes(b));
}

export function alertInScope(a: Alert, scope: KeyScope): boolean {
  const s = a.source.namespace;
  const d = a.destination.namespace;
  return (s !== undefined && scope.namespaces.includes(s)) || (d !== undefined && scope.namespaces.includes(d));
}

function refused(what: string): never {
  throw new ApiError(403, `${what} is not available to a namespace-scoped key`);
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
    async appsOf(uid: string): Promise<AppRecordOut[]> {
      return (await getScoped(uid)) ? inner.appsOf(uid) : [];
    },
    // Application records carry the connection's addresses, not its namespaces: a search over
    // them could not be narrowed inside the query. A scoped key reads them per connection.
    searchApp: (kind: AppKind): never =>
      refused(`searching ${kind} records (they carry no namespace; read a connection's records with GET /connections/{uid})`),
    writeAlerts: () => refused('writing alerts'),
    getAlert: getAlertScoped,
    searchAlerts: (req: AlertSearch) => inner.searchAlerts({ ...req, namespaces: scope.namespaces }),
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
