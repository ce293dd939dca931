/**
 * Search: the query, range, sort and open connection live in the URL (shareable); the pages
 * after the first follow the service's keyset `next` and are kept only in memory.
 */
import { useCallback, useEffect, useMemo, useState } from 'react';
import { ApiError, apiGet, download, type SearchPage, type ConnRecord } from '../lib/api';
import { fmtCount } from '../lib/format';
import { navigate } from '../lib/router';
import { isoOf } from '../lib/time';
import { Histogram } from './Histogram';
import { DetailPanel } from './DetailPanel';
import { FieldSummary } from './FieldSummary';
import { addClause } from '../lib/pivot';
import { loadFields, QueryBar, type QueryProblem } from './QueryBar';
import { COLUMNS, DEFAULT_COLUMNS, ResultsTable } from './ResultsTable';
import { TimeRange, type Range } from './TimeRange';

const PAGE = 100;
/** Connections in one query pcap (the service bounds it too). */
const PCAP_LIMIT = 1000;
/** Records in an export: the API's default; its bound (1,000,000) is for the API, not a browser download. */
const EXPORT_LIMIT = 100_000;
const COLUMNS_ITEM = 'eastwatch.columns';

function savedColumns(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(COLUMNS_ITEM) ?? 'null') as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.filter((k) => COLUMNS.some((c) => c.key === k));
  } catch {
    // A broken saved choice falls back to the defaults.
  }
  return DEFAULT_COLUMNS;
}

export function Connections(props: { params: URLSearchParams }) {
  const q = props.params.get('q') ?? '';
  const from = props.params.get('from') ?? '';
  const to = props.params.get('to') ?? '';
  const sort = props.params.get('sort') ?? '@timestamp';
  const order = props.params.get('order') === 'asc' ? 'asc' : 'desc';
  const uid = props.params.get('uid');

  const [pages, setPages] = useState<SearchPage[]>([]);
  const [count, setCount] = useState<number | null>(null);
  /** The filter the shown results answer (q|from|to), so that tests and tools can tell stale from fresh. */
  const [shownFor, setShownFor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [problem, setProblem] = useState<QueryProblem | null>(null);
  const [columns, setColumns] = useState<string[]>(savedColumns);
  const [sortable, setSortable] = useState<Set<string>>(new Set(['@timestamp']));
  const [pcap, setPcap] = useState<{ busy: boolean; text: string | null; error: boolean }>({ busy: false, text: null, error: false });

  const [exported, setExported] = useState<{ busy: boolean; text: string | null; error: boolean }>({ busy: false, text: null, error: false });
  const queryExport = async (format: 'csv' | 'ndjson'): Promise<void> => {
    setExported({ busy: true, text: null, error: false });
    try {
      const n = await download('/export', { q, from, to, format, limit: EXPORT_LIMIT }, `connections.${format}`);
      setExported({
        busy: false,
        text: `Downloaded connections.${format} (${n} bytes; at most ${fmtCount(EXPORT_LIMIT)} records, oldest first).`,
        error: false,
      });
    } catch (e) {
      setExported({ busy: false, text: `The export failed: ${e instanceof Error ? e.message : String(e)}`, error: true });
    }
  };

  const queryPcap = async (): Promise<void> => {
    setPcap({ busy: true, text: null, error: false });
    try {
      const n = await download('/pcap', { q, from, to, limit: PCAP_LIMIT }, 'query.pcap');
      setPcap({ busy: false, text: `Downloaded query.pcap (${n} bytes; at most ${PCAP_LIMIT} connections).`, error: false });
    } catch (e) {
      setPcap({ busy: false, text: `The pcap could not be downloaded: ${e instanceof Error ? e.message : String(e)}`, error: true });
    }
  };

  const go = useCallback(
    (patch: Record<string, string | null>, replace = false) => {
      const cur: Record<string, string | null> = { q, from, to, sort: sort === '@timestamp' ? null : sort, order: order === 'desc' ? null : order, uid };
      navigate('/connections', { ...cur, ...patch }, replace);
    },
    [q, from, to, sort, order, uid],
  );

  useEffect(() => {
    loadFields().then(
      (fs) => setSortable(new Set(fs.filter((f) => f.sortable).map((f) => f.name))),
      () => undefined,
    );
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    setLoading(true);
    setProblem(null);
    setPages([]);
    setCount(null);
    setShownFor(null);
    const filter = { q, from, to };
    Promise.all([
      apiGet<SearchPage>('/connections', { ...filter, sort, order, limit: PAGE }, ac.signal),
      apiGet<{ count: number }>('/aggregations/count', filter, ac.signal),
    ])
      .then(
        ([page, c]) => {
          setPages([page]);
          setCount(c.count);
          setShownFor(`${q}|${from}|${to}`);
        },
        (e: unknown) => {
          if (ac.signal.aborted) return;
          setProblem({ message: e instanceof Error ? e.message : String(e), position: e instanceof ApiError ? e.position : null, query: q });
        },
      )
      .finally(() => {
        if (!ac.signal.aborted) setLoading(false);
      });
    return () => ac.abort();
  }, [q, from, to, sort, order]);

  const more = async (): Promise<void> => {
    const last = pages[pages.length - 1];
    if (!last?.next) return;
    setLoading(true);
    try {
      const page = await apiGet<SearchPage>('/connections', { q, from, to, sort, order, limit: PAGE, after: last.next });
      setPages((p) => [...p, page]);
    } catch (e) {
      setProblem({ message: e instanceof Error ? e.message : String(e), position: e instanceof ApiError ? e.position : null, query: q });
    } finally {
      setLoading(false);
    }
  };

  const records: ConnRecord[] = useMemo(() => pages.flatMap((p) => p.records), [pages]);
  const shown = COLUMNS.filter((c) => columns.includes(c.key));
  const hasNext = pages.length > 0 && pages[pages.length - 1].next !== null;
  const toggleColumn = (key: string, on: boolean): void => {
    const next = on ? COLUMNS.map((c) => c.key).filter((k) => k === key || columns.includes(k)) : columns.filter((k) => k !== key);
    setColumns(next);
    localStorage.setItem(COLUMNS_ITEM, JSON.stringify(next));
  };
  const range: Range = { from, to };

  return (
    <div className={`connections${uid ? ' with-detail' : ''}`}>
      <section aria-labelledby="conn-h" className="search">
        <h1 id="conn-h">Connections</h1>
        <QueryBar value={q} problem={problem} onSubmit={(nq) => go({ q: nq, uid: null })} />
        <TimeRange value={range} onChange={(r) => go({ from: r.from, to: r.to, uid: null })} />
        <Histogram q={q} from={from} to={to} onBrush={(a, b) => go({ from: isoOf(a), to: isoOf(b), uid: null })} />
        <div className="results-bar">
          <p role="status" data-testid="result-count" data-for={shownFor ?? undefined}>
            {loading
              ? 'Searching…'
              : problem
                ? 'No results: fix the query.'
                : count !== null
                  ? `${fmtCount(count)} connections match; showing ${fmtCount(records.length)}.`
                  : ''}
          </p>
          <span className="results-actions">
            <button type="button" onClick={() => queryExport('csv')} disabled={exported.busy || !!problem || count === 0} data-testid="export-csv">
              Export CSV
            </button>{' '}
            <button type="button" onClick={() => queryExport('ndjson')} disabled={exported.busy || !!problem || count === 0} data-testid="export-ndjson">
              Export NDJSON
            </button>{' '}
            {exported.text && (
              <span className={exported.error ? 'error' : 'muted'} role={exported.error ? 'alert' : 'status'} data-testid="export-said">
                {exported.text}
              </span>
            )}{' '}
            <button type="button" onClick={queryPcap} disabled={pcap.busy || !!problem || count === 0} data-testid="query-pcap">
              {pcap.busy ? 'Downloading…' : 'Download pcap of these connections'}
            </button>
            {pcap.text && (
              <span className={pcap.error ? 'error' : 'muted'} role={pcap.error ? 'alert' : 'status'}>
                {pcap.text}
              </span>
            )}
          </span>
          <details className="column-chooser">
            <summary>Columns</summary>
            <fieldset>
              <legend>Shown columns</legend>
              {COLUMNS.map((c) => (
                <label key={c.key}>
                  <input type="checkbox" checked={columns.includes(c.key)} onChange={(e) => toggleColumn(c.key, e.target.checked)} /> {c.label}
                </label>
              ))}
            </fieldset>
          </details>
        </div>
        {/* The table comes first for the keyboard (Tab reaches the rows before the summary); CSS puts the summary at its left. */}
        <div className="results-area">
          <div className="results-main">
            {!problem && (
              <ResultsTable
                records={records}
                columns={shown}
                sortable={sortable}
                sort={sort}
                order={order}
                onSort={(f, o) => go({ sort: f === '@timestamp' ? null : f, order: o === 'desc' ? null : o })}
                selected={uid}
                onOpen={(u) => go({ uid: u })}
                onPivot={(field, value, negate) => go({ q: addClause(q, field, value, negate), uid: null })}
              />
            )}
            {hasNext && (
              <button type="button" onClick={more} disabled={loading} data-testid="next-page">
                Next {PAGE}
              </button>
            )}
          </div>
          {!problem && <FieldSummary q={q} from={from} to={to} onPick={(field, value, negate) => go({ q: addClause(q, field, value, negate), uid: null })} />}
        </div>
      </section>
      {uid && (
        <DetailPanel
          uid={uid}
          showApps={props.params.get('show') === 'apps'}
          onPivot={(field, value) => go({ q: addClause(q, field, value), uid: null })}
          onClose={() => {
            go({ uid: null });
            requestAnimationFrame(() => (document.querySelector(`tr[data-uid="${CSS.escape(uid)}"]`) as HTMLElement | null)?.focus());
          }}
        />
      )}
    </div>
  );
}
