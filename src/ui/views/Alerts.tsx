/**
 * Alert triage: a list ordered by severity then time (or by time alone), the detail of one
 * alert with its evidence linked to the connections, acknowledge/close/reopen with a note, and
 * a suppression rule built from the alert's entities.
 */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { ApiError, apiGet, apiSend, type Alert, type AlertEntity } from '../lib/api';
import { fmtCount, fmtTime, fmtValue } from '../lib/format';
import { zoneName, zoneSuffix } from '../lib/zone';
import { anyOf, clause } from '../lib/query';
import { useLoad } from '../lib/load';
import { navigate } from '../lib/router';
import { evidenceNames } from '../lib/pivot';
import { Link } from '../Link';
import { TimeRange } from './TimeRange';

const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
const RANK: Record<string, number> = { critical: 3, high: 2, medium: 1, low: 0 };
const LIST_LIMIT = 500;
/**
 * The alert list has no uid filter in the API: for the connection pivot the newest this many
 * (suppressed ones too) are read and kept when their evidence names the connection.
 */
export const UID_SCAN = 1000;
/** The query-length limit (4096) leaves room for about this many uids in one link. */
const EVIDENCE_LINK_MAX = 150;

function entityText(e: AlertEntity | undefined): string {
  if (!e) return '';
  const who = e.workload
    ? `${e.namespace ? `${e.namespace}/` : ''}${e.workload}`
    : e.pod
      ? `${e.namespace ? `${e.namespace}/` : ''}${e.pod}`
      : (e.service ?? e.domain ?? e.ip ?? '');
  const ip = e.ip && who !== e.ip ? ` (${e.ip})` : '';
  return `${who}${ip}${e.port !== undefined ? `:${e.port}` : ''}`;
}

export function Alerts(props: { params: URLSearchParams }) {
  const status = props.params.get('status') ?? 'open';
  const severity = props.params.get('severity') ?? '';
  const detector = props.params.get('detector') ?? '';
  const order = props.params.get('order') === 'time' ? 'time' : 'severity';
  const id = props.params.get('id');
  /** Only the alerts whose evidence names this connection (the connection detail's pivot). */
  const uid = props.params.get('uid');
  /** The range as every timed view reads it (alerts last seen in it). */
  const from = props.params.get('from') ?? '';
  const to = props.params.get('to') ?? '';
  const [scanned, setScanned] = useState(0);
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** Bulk triage: the alerts ticked in the list (ids), and what the last bulk change did. */
  const [picked, setPicked] = useState<Set<string>>(() => new Set());
  const [bulkSaid, setBulkSaid] = useState<string | null>(null);
  const [bulkBusy, setBulkBusy] = useState(false);

  const go = (patch: Record<string, string | null>): void =>
    navigate('/alerts', {
      status: status === 'open' ? null : status,
      severity,
      detector,
      order: order === 'severity' ? null : order,
      uid,
      from,
      to,
      id,
      ...patch,
    });

  const load = useCallback(
    (signal: AbortSignal) => {
      setError(null);
      apiGet<{ alerts: Alert[] }>(
        '/alerts',
        {
          status: status === 'any' ? undefined : status,
          severity,
          detector,
          from,
          to,
          limit: uid ? UID_SCAN : LIST_LIMIT,
          suppressed: uid ? 'true' : undefined,
        },
        signal,
      ).then(
        (r) => {
          setScanned(r.alerts.length);
          const got = uid ? r.alerts.filter((a) => evidenceNames(a, uid)) : r.alerts;
          setAlerts(got);
          // Only what is still listed stays ticked: a bulk change can never reach an alert out of sight.
          setPicked((p) => new Set(got.map((a) => a.id).filter((x) => p.has(x))));
        },
        (e: unknown) => {
          if (!signal.aborted) setError(e instanceof Error ? e.message : String(e));
        },
      );
    },
    [status, severity, detector, uid, from, to],
  );
  /** Again after a change made in the detail: the change may move the alert out of this list. */
  const reload = useLoad(load);

  const list = [...(alerts ?? [])].sort((a, b) => (order === 'severity' ? RANK[b.severity] - RANK[a.severity] : 0) || b.last_seen - a.last_seen);
  const detectors = [...new Set((alerts ?? []).map((a) => a.detector))].sort();
  const allPicked = list.length > 0 && list.every((a) => picked.has(a.id));
  const toggle = (alertId: string): void =>
    setPicked((p) => {
      const n = new Set(p);
      if (n.has(alertId)) n.delete(alertId);
      else n.add(alertId);
      return n;
    });
  const bulk = (to: Alert['status']): void => {
    const ids = list.filter((a) => picked.has(a.id)).map((a) => a.id);
    if (ids.length === 0) return;
    setBulkBusy(true);
    apiSend<{ updated: string[]; missing: string[] }>('PATCH', '/alerts', { ids, status: to }).then(
      (r) => {
        setBulkBusy(false);
        setPicked(new Set());
        setBulkSaid(
          `${fmtCount(r.updated.length)} ${r.updated.length === 1 ? 'alert' : 'alerts'} set to ${to}` +
            (r.missing.length ? `; ${fmtCount(r.missing.length)} no longer exist` : '') +
            '.',
        );
        reload();
      },
      (e: unknown) => {
        setBulkBusy(false);
        setError(e instanceof Error ? e.message : String(e));
      },
    );
  };

  return (
    <div className={`alerts${id ? ' with-detail' : ''}`}>
      <section aria-labelledby="alerts-h">
        <h1 id="alerts-h">Alerts</h1>
        <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Alert filters">
          <label>
            Status{' '}
            <select value={status} onChange={(e) => go({ status: e.target.value === 'open' ? null : e.target.value, id: null })}>
              <option value="open">open</option>
              <option value="acknowledged">acknowledged</option>
              <option value="closed">closed</option>
              <option value="any">any</option>
            </select>
          </label>
          <label>
            Minimum severity{' '}
            <select value={severity} onChange={(e) => go({ severity: e.target.value || null, id: null })}>
              <option value="">any</option>
              {SEVERITIES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
          <label>
            Detector{' '}
            <select value={detector} onChange={(e) => go({ detector: e.target.value || null, id: null })}>
              <option value="">any</option>
              {[...new Set([...detectors, ...(detector ? [detector] : [])])].map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </label>
          <label>
            Order{' '}
            <select value={order} onChange={(e) => go({ order: e.target.value === 'severity' ? null : e.target.value })}>
              <option value="severity">severity, then newest</option>
              <option value="time">newest first</option>
            </select>
          </label>
        </form>
        <TimeRange value={{ from, to }} onChange={(r) => go({ from: r.from, to: r.to, id: null })} />
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {!alerts && !error && <p role="status">Loading alerts…</p>}
        {uid && (
          <p className="pivot-filter" data-testid="alerts-uid-filter">
            Alerts whose evidence names connection{' '}
            <Link to="/connections" params={{ q: clause('uid', uid), uid }}>
              {uid}
            </Link>
            {alerts
              ? scanned >= UID_SCAN
                ? ` (among the newest ${fmtCount(UID_SCAN)} alerts, suppressed included; older ones are not searched)`
                : ` (all ${fmtCount(scanned)} alerts searched, suppressed included)`
              : ''}
            .{' '}
            <button type="button" className="linkish" onClick={() => go({ uid: null, id: null })}>
              Show every alert
            </button>
          </p>
        )}
        {alerts && (
          <p role="status" className="muted" data-testid="alerts-count">
            {fmtCount(list.length)} {list.length === 1 ? 'alert' : 'alerts'}
            {!uid && alerts.length >= LIST_LIMIT ? ` (the newest ${LIST_LIMIT})` : ''}.
          </p>
        )}
        {(picked.size > 0 || bulkSaid) && (
          <div className="bulk-bar" role="toolbar" aria-label="Bulk triage">
            {picked.size > 0 && (
              <>
                <span data-testid="bulk-count">{fmtCount(picked.size)} selected</span>{' '}
                <button type="button" disabled={bulkBusy} onClick={() => bulk('acknowledged')}>
                  Acknowledge selected
                </button>{' '}
                <button type="button" disabled={bulkBusy} onClick={() => bulk('closed')}>
                  Close selected
                </button>{' '}
                <button type="button" disabled={bulkBusy} onClick={() => bulk('open')}>
                  Reopen selected
                </button>{' '}
                <button type="button" disabled={bulkBusy} onClick={() => setPicked(new Set())}>
                  Clear selection
                </button>{' '}
              </>
            )}
            {bulkSaid && (
              <span role="status" data-testid="bulk-result">
                {bulkSaid}
              </span>
            )}
          </div>
        )}
        <table className="alert-list" aria-label="Alerts">
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  aria-label="Select every alert listed"
                  checked={allPicked}
                  onChange={() => setPicked(allPicked ? new Set() : new Set(list.map((a) => a.id)))}
                />
              </th>
              <th scope="col">Severity</th>
              <th scope="col">Alert</th>
              <th scope="col">Detector</th>
              <th scope="col">Source → destination</th>
              <th scope="col">Last seen ({zoneName()})</th>
              <th scope="col" className="num">
                Count
              </th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {list.map((a) => (
              <tr key={a.id} className={a.id === id ? 'selected' : undefined} data-alert={a.id}>
                <td>
                  <input type="checkbox" aria-label={`Select alert: ${a.title}`} checked={picked.has(a.id)} onChange={() => toggle(a.id)} />
                </td>
                <td>
                  <span className={`sev sev-${a.severity}`}>{a.severity}</span>
                </td>
                <td>
                  <Link
                    to="/alerts"
                    params={{
                      status: status === 'open' ? null : status,
                      severity,
                      detector,
                      order: order === 'severity' ? null : order,
                      uid,
                      from,
                      to,
                      id: a.id,
                    }}
                  >
                    {a.title}
                  </Link>
                </td>
                <td>{a.detector}</td>
                <td>
                  {entityText(a.source)} → {entityText(a.destination)}
                </td>
                <td>{fmtTime(a.last_seen)}</td>
                <td className="num">{fmtCount(a.count)}</td>
                <td data-testid="alert-status">
                  {a.status}
                  {a.suppressed_by ? ' (suppressed)' : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {id && <AlertDetail id={id} onChanged={reload} onClose={() => go({ id: null })} />}
    </div>
  );
}

function AlertDetail(props: { id: string; onChanged: () => void; onClose: () => void }) {
  const [alert, setAlert] = useState<Alert | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);

  useEffect(() => {
    const ac = new AbortController();
    setAlert(null);
    setError(null);
    setMessage(null);
    apiGet<Alert>(`/alerts/${encodeURIComponent(props.id)}`, {}, ac.signal).then(
      (a) => {
        setAlert(a);
        setNote(a.note ?? '');
      },
      (e: unknown) => {
        if (!ac.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => ac.abort();
  }, [props.id]);

  const patch = async (body: { status?: Alert['status']; note?: string | null }, done: string): Promise<void> => {
    setBusy(true);
    setMessage(null);
    try {
      setAlert(await apiSend<Alert>('PATCH', `/alerts/${encodeURIComponent(props.id)}`, body));
      setMessage(done);
      props.onChanged();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  if (error)
    return (
      <aside className="detail">
        <p className="error" role="alert">
          {error}
        </p>
        <button type="button" onClick={props.onClose}>
          Close
        </button>
      </aside>
    );
  if (!alert)
    return (
      <aside className="detail">
        <p role="status">Loading the alert…</p>
      </aside>
    );
  const uids = alert.evidence?.uids ?? [];
  const figures = Object.entries(alert.evidence?.figures ?? {});
  return (
    <aside
      className="detail"
      aria-labelledby="alert-h"
      data-testid="alert-detail"
      onKeyDown={(e) => {
        if (e.key === 'Escape') props.onClose();
      }}
    >
      <div className="detail-head">
        <h2 id="alert-h">
          <span className={`sev sev-${alert.severity}`}>{alert.severity}</span> {alert.title}
        </h2>
        <button type="button" onClick={props.onClose} aria-label="Close the alert detail">
          Close
        </button>
      </div>
      <dl className="facts">
        <dt>Status</dt>
        <dd data-testid="alert-detail-status">
          {alert.status}
          {alert.suppressed_by ? ` (suppressed by ${alert.suppressed_by})` : ''}
        </dd>
        <dt>Detector</dt>
        <dd>
          {alert.detector}
          {alert.mitre?.length ? ` · MITRE ${alert.mitre.join(', ')}` : ''}
          {alert.score !== undefined ? ` · score ${alert.score}` : ''}
        </dd>
        <dt>Source</dt>
        <dd>{entityText(alert.source) || '—'}</dd>
        <dt>Destination</dt>
        <dd>{entityText(alert.destination) || '—'}</dd>
        <dt>Seen</dt>
        <dd>
          {fmtTime(alert.first_seen)} – {fmtTime(alert.last_seen)}
          {zoneSuffix()}, {fmtCount(alert.count)} times
        </dd>
      </dl>
      <div className="actions">
        {alert.status !== 'acknowledged' && (
          <button type="button" disabled={busy} onClick={() => patch({ status: 'acknowledged' }, 'Acknowledged.')}>
            Acknowledge
          </button>
        )}
        {alert.status !== 'closed' && (
          <button type="button" disabled={busy} onClick={() => patch({ status: 'closed' }, 'Closed.')}>
            Close alert
          </button>
        )}
        {alert.status !== 'open' && (
          <button type="button" disabled={busy} onClick={() => patch({ status: 'open' }, 'Reopened.')}>
            Reopen
          </button>
        )}
      </div>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void patch({ note: note.trim() || null }, 'Note saved.');
        }}
      >
        <label htmlFor="alert-note">Note</label>
        <textarea id="alert-note" value={note} onChange={(e) => setNote(e.target.value)} rows={3} maxLength={4000} />
        <button type="submit" disabled={busy}>
          Save note
        </button>
      </form>
      {message && (
        <p role="status" className="ok">
          {message}
        </p>
      )}
      {figures.length > 0 && (
        <>
          <h3>Figures</h3>
          <dl className="facts">
            {figures.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{fmtValue(v)}</dd>
              </div>
            ))}
          </dl>
        </>
      )}
      <h3>Evidence: {fmtCount(uids.length)} connections</h3>
      {uids.length > 0 && (
        <p>
          <Link to="/connections" params={{ q: anyOf('event.id', uids.slice(0, EVIDENCE_LINK_MAX)) }}>
            Open {uids.length > EVIDENCE_LINK_MAX ? `the first ${EVIDENCE_LINK_MAX}` : 'them'} in Connections
          </Link>
        </p>
      )}
      <ul className="evidence">
        {uids.slice(0, 50).map((u) => (
          <li key={u}>
            <Link to="/connections" params={{ q: clause('event.id', u), uid: u }}>
              {u}
            </Link>
          </li>
        ))}
        {uids.length > 50 && <li className="muted">… and {uids.length - 50} more</li>}
      </ul>
      <Suppress alert={alert} onDone={props.onChanged} />
    </aside>
  );
}

const ENTITY_KEYS = ['namespace', 'workload', 'pod', 'service', 'ip', 'port', 'node', 'domain'] as const;

function Suppress(props: { alert: Alert; onDone: () => void }) {
  const a = props.alert;
  const offered = (side: 'source' | 'destination'): [string, string | number][] =>
    ENTITY_KEYS.flatMap((k) => {
      const v = a[side]?.[k];
      return v === undefined ? [] : [[k, v] as [string, string | number]];
    });
  // By default a rule names what survives a redeploy: the workload (pods, addresses and nodes
  // change), or the address when no workload is known.
  const defaults = (side: 'source' | 'destination'): string[] => {
    const keys = offered(side).map(([k]) => k);
    const stable = keys.includes('workload') ? keys.filter((k) => !['pod', 'ip', 'node'].includes(k)) : keys.filter((k) => k !== 'pod' && k !== 'node');
    return stable.map((k) => `${side}.${k}`);
  };
  const [chosen, setChosen] = useState<Set<string>>(() => new Set([...defaults('source'), ...defaults('destination')]));
  const [reason, setReason] = useState('');
  const [ttl, setTtl] = useState('168');
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (!reason.trim()) {
      setResult({ ok: false, text: 'Give a reason: it is shown on every alert this rule silences.' });
      return;
    }
    const entity = (side: 'source' | 'destination'): Record<string, string | number> | undefined => {
      const picked = offered(side).filter(([k]) => chosen.has(`${side}.${k}`));
      return picked.length ? Object.fromEntries(picked) : undefined;
    };
    const hours = Number(ttl);
    try {
      const s = await apiSend<{ id: string }>('POST', '/suppressions', {
        detector: a.detector,
        source: entity('source'),
        destination: entity('destination'),
        reason: reason.trim(),
        ...(ttl && Number.isFinite(hours) && hours > 0 ? { ttl_hours: hours } : {}),
      });
      setResult({
        ok: true,
        text: `Suppression ${s.id} added: ${a.detector} alerts matching it are marked suppressed from now on (this one keeps its status: acknowledge or close it).`,
      });
      props.onDone();
    } catch (err) {
      setResult({ ok: false, text: err instanceof Error ? err.message : String(err) });
    }
  };

  const box = (side: 'source' | 'destination', k: string, v: string | number) => {
    const key = `${side}.${k}`;
    return (
      <label key={key}>
        <input
          type="checkbox"
          checked={chosen.has(key)}
          onChange={(e) =>
            setChosen((s) => {
              const n = new Set(s);
              if (e.target.checked) n.add(key);
              else n.delete(key);
              return n;
            })
          }
        />{' '}
        {side} {k} = {String(v)}
      </label>
    );
  };

  return (
    <details className="suppress">
      <summary>Suppress alerts like this</summary>
      <form onSubmit={submit}>
        <fieldset>
          <legend>Match {a.detector} alerts whose entities have</legend>
          {offered('source').map(([k, v]) => box('source', k, v))}
          {offered('destination').map(([k, v]) => box('destination', k, v))}
        </fieldset>
        <label htmlFor="sup-reason">Reason</label>
        <input id="sup-reason" type="text" value={reason} onChange={(e) => setReason(e.target.value)} maxLength={1000} />
        <label htmlFor="sup-ttl">Expires after (hours, empty for never)</label>
        <input id="sup-ttl" type="number" min={1} max={24 * 366} value={ttl} onChange={(e) => setTtl(e.target.value)} />
        <button type="submit">Add suppression</button>
        {result && (
          <p className={result.ok ? 'ok' : 'error'} role={result.ok ? 'status' : 'alert'}>
            {result.text}
          </p>
        )}
      </form>
    </details>
  );
}
