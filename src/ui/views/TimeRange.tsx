/**
 * From/to inputs (ISO 8601, epoch seconds or now-15m, as the API takes them) and presets. In
 * local-time mode the fields read and write the local wall clock with its offset; what goes to
 * the URL and the API stays ISO 8601 UTC.
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { apiGet, type SearchPage } from '../lib/api';
import { PRESETS, rangeSent, rangeShown, resolveTime, spanRange } from '../lib/time';
import { getZone, offsetOf } from '../lib/zone';

export interface Range {
  from: string;
  to: string;
}

export function TimeRange(props: { value: Range; onChange: (r: Range) => void }) {
  const [from, setFrom] = useState(() => rangeShown(props.value.from));
  const [to, setTo] = useState(() => rangeShown(props.value.to));
  const [error, setError] = useState<string | null>(null);
  const id = useId();

  useEffect(() => {
    setFrom(rangeShown(props.value.from));
    setTo(rangeShown(props.value.to));
  }, [props.value.from, props.value.to]);

  /** Captures are historical: "last hour" shows nothing, so offer the stored data's own span. */
  const dataSpan = async (): Promise<void> => {
    setError(null);
    try {
      const [first, last] = await Promise.all(
        (['asc', 'desc'] as const).map((order) => apiGet<SearchPage>('/connections', { sort: '@timestamp', order, limit: 1 })),
      );
      const r = spanRange(first.records[0]?.ts, last.records[0]?.ts);
      if (!r) {
        setError('There are no connections yet, so no data span.');
        return;
      }
      props.onChange(r);
    } catch (e) {
      setError(`The data's span could not be read: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  const apply = (e: FormEvent): void => {
    e.preventDefault();
    const bad = [
      ['From', from],
      ['To', to],
    ].find(([, v]) => v.trim() !== '' && resolveTime(rangeSent(v)) === null);
    if (bad) {
      setError(`${bad[0]}: "${bad[1]}" is not a time (ISO 8601, epoch seconds or now-15m)`);
      return;
    }
    const f = resolveTime(rangeSent(from));
    const t = resolveTime(rangeSent(to));
    if (f !== null && t !== null && f >= t) {
      setError('From must be before To');
      return;
    }
    setError(null);
    props.onChange({ from: rangeSent(from), to: rangeSent(to) });
  };

  return (
    <form className="timerange" onSubmit={apply} aria-label="Time range">
      <label htmlFor={`${id}-preset`}>Range</label>
      <select
        id={`${id}-preset`}
        value={PRESETS.some((p) => p.from === props.value.from) && !props.value.to ? props.value.from : props.value.from || props.value.to ? 'custom' : 'all'}
        onChange={(e) => {
          const v = e.target.value;
          if (v === 'custom') return;
          if (v === 'data') {
            void dataSpan();
            return;
          }
          setError(null);
          props.onChange(v === 'all' ? { from: '', to: '' } : { from: v, to: '' });
        }}
      >
        <option value="all">All time</option>
        {PRESETS.map((p) => (
          <option key={p.from} value={p.from}>
            {p.label}
          </option>
        ))}
        <option value="data">The data's span</option>
        <option value="custom">Custom</option>
      </select>
      <label htmlFor={`${id}-from`}>From</label>
      <input
        id={`${id}-from`}
        type="text"
        value={from}
        onChange={(e) => setFrom(e.target.value)}
        placeholder={getZone() === 'utc' ? '2026-01-15T10:00:00Z' : `2026-01-15T10:00:00${offsetOf(Date.now())}`}
        size={24}
      />
      <label htmlFor={`${id}-to`}>To</label>
      <input id={`${id}-to`} type="text" value={to} onChange={(e) => setTo(e.target.value)} placeholder="now" size={24} />
      <button type="submit">Apply range</button>
      {error && (
        <span className="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}
