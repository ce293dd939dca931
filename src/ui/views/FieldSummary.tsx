/**
 * The field summary beside the results (Arkime's SPI view): the top values of a few fields for
 * the current query and range, from the bounded GET /aggregations/top; a value adds
 * `field: value` to the query, its "not" button `not field: value`.
 */
import { useEffect, useState } from 'react';
import { apiGet } from '../lib/api';
import { fmtCount } from '../lib/format';
import { SUMMARY_FIELDS } from '../lib/pivot';

/** Values per field: enough to see what dominates without a long page of them. */
export const SUMMARY_TOP = 5;

interface Bucket {
  key: string;
  connections: number;
  bytes: number;
}

type State = { buckets: Bucket[] } | { error: string } | null;

export function FieldSummary(props: { q: string; from: string; to: string; onPick: (field: string, value: string, negate: boolean) => void }) {
  const [tops, setTops] = useState<Record<string, State>>({});
  /** The filter the shown values answer (q|from|to), as the result count marks it. */
  const [shownFor, setShownFor] = useState<string | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    setTops({});
    setShownFor(null);
    const filter = { q: props.q, from: props.from, to: props.to };
    Promise.all(
      SUMMARY_FIELDS.map(({ field }) =>
        apiGet<{ buckets: Bucket[] }>('/aggregations/top', { ...filter, field, limit: SUMMARY_TOP }, ac.signal).then(
          (r): [string, State] => [field, { buckets: r.buckets }],
          (e: unknown): [string, State] => [field, { error: e instanceof Error ? e.message : String(e) }],
        ),
      ),
    ).then((all) => {
      if (ac.signal.aborted) return;
      setTops(Object.fromEntries(all));
      setShownFor(`${props.q}|${props.from}|${props.to}`);
    });
    return () => ac.abort();
  }, [props.q, props.from, props.to]);

  return (
    <aside className="field-summary" aria-labelledby="summary-h" data-testid="field-summary" data-for={shownFor ?? undefined}>
      <h2 id="summary-h">Field summary</h2>
      {shownFor === null && <p role="status">Counting…</p>}
      {shownFor !== null &&
        SUMMARY_FIELDS.map(({ field, label }) => {
          const t = tops[field];
          return (
            <section key={field} aria-label={label} data-field={field}>
              <h3>{label}</h3>
              {t && 'error' in t && <p className="error">{t.error}</p>}
              {t && 'buckets' in t && t.buckets.length === 0 && <p className="muted">no value</p>}
              {t && 'buckets' in t && t.buckets.length > 0 && (
                <ul>
                  {t.buckets.map((b) => (
                    <li key={b.key} data-value={b.key}>
                      <button type="button" className="linkish" onClick={() => props.onPick(field, b.key, false)} title={`Add ${field}: ${b.key} to the query`}>
                        {b.key}
                      </button>{' '}
                      <span className="num muted" data-testid="summary-count">
                        {fmtCount(b.connections)}
                      </span>{' '}
                      <button
                        type="button"
                        className="linkish not"
                        onClick={() => props.onPick(field, b.key, true)}
                        aria-label={`Exclude ${label} ${b.key}`}
                        title={`Add not ${field}: ${b.key} to the query`}
                      >
                        not
                      </button>
                    </li>
                  ))}
                </ul>
              )}
            </section>
          );
        })}
    </aside>
  );
}
