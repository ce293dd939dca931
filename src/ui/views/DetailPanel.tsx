/**
 * One connection: every field, its dns/http/tls/ssh/app records, the alerts whose evidence
 * names it, and its packets as a pcap download; with pivots, links that run each of those
 * searches in the UI (and the connections of the same pair around it).
 */
import { type MouseEvent, useEffect, useRef, useState } from 'react';
import { API, ApiError, apiGet, download, type Alert, type ConnRecord } from '../lib/api';
import { flatten, fmtTime, fmtValue } from '../lib/format';
import { zoneSuffix } from '../lib/zone';
import { PAIR_WINDOW_SEC, pairWindow, recordPivot, samePairQuery } from '../lib/pivot';
import { clause } from '../lib/query';
import { Link } from '../Link';

/** How many of the newest alerts are searched for this connection's uid (client-side). */
export const ALERT_SCAN = 1000;

/** GET /connections/{uid}. */
interface Detail {
  record: ConnRecord;
  apps: Record<string, unknown>[];
}

/** An application record with a React key given as it arrives: the records carry no id of their own. */
interface AppItem {
  key: number;
  record: Record<string, unknown>;
}

let nextAppKey = 1;

/** `showApps`: the panel was opened by the application-records pivot, so it scrolls to them. */
export function DetailPanel(props: {
  uid: string;
  onClose: () => void;
  showApps?: boolean;
  /** Adds `field: value` to the search's query (a value of the connection clicked). */
  onPivot?: (field: string, value: string) => void;
}) {
  const [detail, setDetail] = useState<{ record: ConnRecord; apps: AppItem[] } | null>(null);
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pcap, setPcap] = useState<{ busy: boolean; message: string | null; error: boolean }>({ busy: false, message: null, error: false });
  const heading = useRef<HTMLHeadingElement>(null);
  const appsHeading = useRef<HTMLHeadingElement>(null);

  // Another connection: forget the last one, move the focus to the panel's heading, and load.
  useEffect(() => {
    const ac = new AbortController();
    setDetail(null);
    setAlerts(null);
    setError(null);
    setPcap({ busy: false, message: null, error: false });
    heading.current?.focus();
    apiGet<Detail>(`/connections/${encodeURIComponent(props.uid)}`, {}, ac.signal).then(
      (d) => setDetail({ record: d.record, apps: d.apps.map((record) => ({ key: nextAppKey++, record })) }),
      (e: unknown) => {
        if (!ac.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      },
    );
    apiGet<{ alerts: Alert[] }>('/alerts', { limit: ALERT_SCAN, suppressed: 'true' }, ac.signal).then(
      (r) => setAlerts(r.alerts.filter((a) => a.evidence?.uids?.includes(props.uid))),
      () => setAlerts([]),
    );
    return () => ac.abort();
  }, [props.uid]);

  useEffect(() => {
    if (props.showApps && detail) appsHeading.current?.scrollIntoView({ block: 'start' });
  }, [props.showApps, detail]);

  const getPcap = async (e?: MouseEvent): Promise<void> => {
    // The link's href is the API path, but the key travels as a header: fetch, then hand over the file.
    e?.preventDefault();
    setPcap({ busy: true, message: null, error: false });
    try {
      const n = await download(`/connections/${encodeURIComponent(props.uid)}/pcap`, {}, `${props.uid}.pcap`);
      setPcap({ busy: false, message: `Downloaded ${props.uid}.pcap (${n} bytes).`, error: false });
    } catch (e) {
      setPcap({ busy: false, message: `The pcap could not be downloaded: ${e instanceof ApiError ? e.message : String(e)}`, error: true });
    }
  };

  return (
    <aside
      className="detail"
      aria-labelledby="detail-h"
      data-testid="detail"
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.stopPropagation();
          props.onClose();
        }
      }}
    >
      <div className="detail-head">
        <h2 id="detail-h" tabIndex={-1} ref={heading}>
          Connection {props.uid}
        </h2>
        <button type="button" onClick={props.onClose} aria-label="Close the connection detail">
          Close
        </button>
      </div>
      <nav aria-label="Pivots" className="pivots">
        <h3>Pivots</h3>
        <ul>
          <li>
            <Link to="/connections" params={{ q: clause('uid', props.uid), uid: props.uid, show: 'apps' }} testId="pivot-apps">
              Its application records{detail ? ` (${appsSummary(detail.apps)})` : ''}
            </Link>
          </li>
          <li>
            <Link to="/alerts" params={{ uid: props.uid, status: 'any' }} testId="pivot-alerts">
              Alerts naming it{alerts ? ` (${alerts.length})` : ''}
            </Link>
          </li>
          {detail && samePairQuery(detail.record) && (
            <li>
              <Link to="/connections" params={{ q: samePairQuery(detail.record), ...pairWindow(detail.record) }} testId="pivot-pair">
                Same pair {pairText(detail.record)} within {PAIR_WINDOW_SEC / 3600} h
              </Link>
            </li>
          )}
          <li>
            <Link to="/session" params={{ uid: props.uid }} testId="pivot-session">
              Its packets and payload (session view)
            </Link>
          </li>
          <li>
            <a
              href={`${API}/connections/${encodeURIComponent(props.uid)}/pcap`}
              download={`${props.uid}.pcap`}
              onClick={getPcap}
              aria-disabled={pcap.busy || undefined}
              data-testid="download-pcap"
            >
              {pcap.busy ? 'Downloading…' : 'Its packets (pcap)'}
            </a>
          </li>
        </ul>
      </nav>
      {pcap.message && (
        <p className={pcap.error ? 'error' : 'muted'} role={pcap.error ? 'alert' : 'status'}>
          {pcap.message}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {!detail && !error && <p role="status">Loading…</p>}
      {detail && (
        <>
          <h3>Fields</h3>
          <FieldTable entries={flatten(detail.record)} label="Connection fields" onPivot={props.onPivot} />
          <h3 ref={appsHeading} id="detail-apps">
            Application records ({detail.apps.length})
          </h3>
          {detail.apps.length === 0 && <p className="muted">None: no DNS, HTTP, TLS, SSH or other application record was linked to this connection.</p>}
          {detail.apps.map(({ key, record: a }, i) => (
            <details key={key} open={i < 3}>
              <summary>
                {String(a.kind ?? 'app')}
                {a.protocol ? ` (${String(a.protocol)})` : ''} at {fmtTime(a.ts as number)}
              </summary>
              <FieldTable entries={flatten(a).filter(([k]) => !k.startsWith('conn.'))} label={`${String(a.kind)} record ${i + 1}`} />
            </details>
          ))}
        </>
      )}
      <h3>Related alerts{alerts ? ` (${alerts.length})` : ''}</h3>
      {alerts === null && <p role="status">Looking for alerts…</p>}
      {alerts?.length === 0 && <p className="muted">No alert among the newest {ALERT_SCAN} names this connection as evidence.</p>}
      {alerts && alerts.length > 0 && (
        <ul className="related-alerts">
          {alerts.map((a) => (
            <li key={a.id}>
              <span className={`sev sev-${a.severity}`}>{a.severity}</span>{' '}
              <Link to="/alerts" params={{ id: a.id }}>
                {a.title}
              </Link>{' '}
              <span className="muted">
                ({a.detector}, {a.status})
              </span>
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}

/** "2: dns 1, http 1" */
function appsSummary(apps: AppItem[]): string {
  if (apps.length === 0) return 'none';
  const by = new Map<string, number>();
  for (const { record } of apps) by.set(String(record.kind ?? 'app'), (by.get(String(record.kind ?? 'app')) ?? 0) + 1);
  return `${apps.length}: ${[...by].map(([k, n]) => `${k} ${n}`).join(', ')}`;
}

function pairText(r: ConnRecord): string {
  const port = typeof r.resp_p === 'number' ? `:${r.resp_p}` : '';
  return `${String(r.orig_h ?? '?')} → ${String(r.resp_h ?? '?')}${port}`;
}

function FieldTable(props: { entries: [string, unknown][]; label: string; onPivot?: (field: string, value: string) => void }) {
  return (
    <table className="fields" aria-label={props.label}>
      <tbody>
        {props.entries.map(([k, v]) => {
          const p = props.onPivot ? recordPivot(k, v) : null;
          const onPivot = props.onPivot;
          return (
            <tr key={k}>
              <th scope="row">{k}</th>
              <td>
                {p && onPivot ? (
                  // The value itself is the control, so the cell still reads as the value.
                  <button type="button" className="linkish" title={`Add ${p.field}: ${p.value} to the query`} onClick={() => onPivot(p.field, p.value)}>
                    {fmtValue(v)}
                  </button>
                ) : k === 'ts' && typeof v === 'number' ? (
                  `${v} (${fmtTime(v)}${zoneSuffix()})`
                ) : (
                  fmtValue(v)
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
