/**
 * Jobs and sources: uploaded captures with their state and counts (refreshed while any is
 * running), the flow sources with their counts, and the Kubernetes inventory snapshots the
 * service resolves identities with, each with the re-resolution of the records stored before it.
 */
import { useCallback, useEffect, useState } from 'react';
import { apiGet, apiSend, type Capture, type FlowSource, type InventoryResolution, type InventorySnapshot } from '../lib/api';
import { fmtBytes, fmtCount, fmtIso } from '../lib/format';
import { zoneName } from '../lib/zone';
import { useLoad } from '../lib/load';
import { clause } from '../lib/query';
import { Link } from '../Link';
import { SnapshotTable } from './Inventory';

const REFRESH_MS = 3000;

export function Jobs() {
  const [captures, setCaptures] = useState<{ captures: Capture[]; counts: Record<string, number> } | null>(null);
  const [snapshots, setSnapshots] = useState<InventorySnapshot[] | null>(null);
  const [resolutions, setResolutions] = useState<Map<string, InventoryResolution>>(new Map());
  const [sources, setSources] = useState<FlowSource[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = useCallback((signal: AbortSignal) => {
    Promise.all([
      apiGet<{ captures: Capture[]; counts: Record<string, number> }>('/captures', { limit: 200 }, signal),
      apiGet<{ snapshots: InventorySnapshot[] }>('/inventory', {}, signal),
      apiGet<{ sources: FlowSource[] }>('/flows/sources', {}, signal),
      // Refused to a namespace-scoped key (its figures span every namespace): the column stays empty.
      apiGet<{ resolutions: InventoryResolution[] }>('/inventory/resolutions', { limit: 1000 }, signal).catch(() => ({ resolutions: [] })),
    ]).then(
      ([c, i, f, r]) => {
        setCaptures(c);
        setSnapshots(i.snapshots);
        setResolutions(new Map(r.resolutions.map((x) => [x.id, x])));
        setSources(f.sources);
        setError(null);
      },
      (e: unknown) => {
        if (!signal.aborted) setError(e instanceof Error ? e.message : String(e));
      },
    );
  }, []);
  const refresh = useLoad(load);

  const busy = (s: string): boolean => s === 'waiting' || s === 'active' || s === 'delayed';
  const running = (captures?.captures.some((c) => busy(c.state)) ?? false) || [...resolutions.values()].some((r) => busy(r.state));
  useEffect(() => {
    if (!running) return;
    const t = setInterval(refresh, REFRESH_MS);
    return () => clearInterval(t);
  }, [running, refresh]);

  return (
    <div className="jobs">
      <h1>Jobs &amp; sources</h1>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <section aria-labelledby="cap-h">
        <h2 id="cap-h">Uploaded captures</h2>
        <button type="button" onClick={refresh}>
          Refresh
        </button>
        {captures && (
          <p className="muted" data-testid="capture-counts">
            {Object.entries(captures.counts)
              .map(([k, v]) => `${k}: ${fmtCount(v)}`)
              .join(' · ')}
          </p>
        )}
        {notice && (
          <p className="notice" role="status" data-testid="capture-notice">
            {notice}
          </p>
        )}
        {captures && captures.captures.length === 0 && (
          <p>
            No captures yet: <Link to="/upload">upload one</Link>.
          </p>
        )}
        {captures && captures.captures.length > 0 && (
          <table aria-label="Uploaded captures">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col" className="num">
                  Size
                </th>
                <th scope="col">Uploaded ({zoneName()})</th>
                <th scope="col">By</th>
                <th scope="col" className="num">
                  Packets
                </th>
                <th scope="col" className="num">
                  Connections
                </th>
                <th scope="col" className="num">
                  App records
                </th>
                <th scope="col" className="num">
                  Alerts
                </th>
                <th scope="col" className="num">
                  Malformed
                </th>
                <th scope="col">Connections</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {captures.captures.map((c) => {
                const r = (c.result ?? {}) as {
                  packets?: number;
                  records?: number;
                  appRecords?: number;
                  alerts?: number;
                  malformed?: number;
                  seconds?: number;
                };
                const p = c.progress;
                return (
                  <tr key={c.id} data-capture={c.id}>
                    <td title={c.sha256}>{c.name}</td>
                    <td>
                      {c.finishedWithErrors ? (
                        <>
                          <span className="badge badge-warn" data-testid="capture-state">
                            completed with errors
                          </span>
                          <p className="capture-problem">{c.problem}</p>
                        </>
                      ) : (
                        c.state
                      )}
                      {c.reanalysis ? (
                        <span
                          className="muted"
                          data-testid="capture-reanalysed"
                          title={`asked by ${c.reanalysis.requestedBy} at ${fmtIso(c.reanalysis.requestedAt)}`}
                        >
                          {' '}
                          (re-analysed{c.reanalysis.count > 1 ? ` ${c.reanalysis.count} times` : ''})
                        </span>
                      ) : null}
                      {c.state === 'active' && p && p.totalBytes > 0 ? ` ${Math.round((p.bytesRead / p.totalBytes) * 100)}%` : ''}
                      {c.failedReason ? `: ${c.failedReason}` : ''}
                    </td>
                    <td className="num">{fmtBytes(c.bytes)}</td>
                    <td>{fmtIso(c.uploadedAt)}</td>
                    <td>{c.uploadedBy}</td>
                    <td className="num">{fmtCount(r.packets ?? p?.packets)}</td>
                    <td className="num">{fmtCount(r.records ?? p?.records)}</td>
                    <td className="num">{fmtCount(r.appRecords ?? p?.appRecords)}</td>
                    <td className="num">{fmtCount(r.alerts)}</td>
                    <td className="num">{fmtCount(r.malformed)}</td>
                    <td>
                      {c.state === 'completed' ? (
                        <Link to="/connections" params={{ q: clause('capture', c.id) }}>
                          connections
                        </Link>
                      ) : (
                        ''
                      )}
                    </td>
                    <td>
                      <CaptureActions
                        capture={c}
                        onDone={(m) => {
                          setNotice(m);
                          refresh();
                        }}
                        onError={setError}
                      />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="inv-h">
        <h2 id="inv-h">Kubernetes inventory</h2>
        {snapshots && snapshots.length === 0 && (
          <p>
            No inventory: connections carry addresses only. <Link to="/inventory">Upload one</Link> (an ingest key).
          </p>
        )}
        {snapshots && snapshots.length > 0 && <SnapshotTable snapshots={snapshots} resolutions={resolutions} />}
      </section>
      <section aria-labelledby="flow-h">
        <h2 id="flow-h">Flow sources</h2>
        {sources && sources.length === 0 && (
          <p>
            No flow source yet. Flow logs are ingested with <code>POST /api/v1/flows?source=NAME</code> (an ingest key).
          </p>
        )}
        {sources && sources.length > 0 && (
          <table aria-label="Flow sources">
            <thead>
              <tr>
                <th scope="col">Source</th>
                <th scope="col">Format</th>
                <th scope="col">Requests</th>
                <th scope="col">Records</th>
                <th scope="col">Rejected lines</th>
                <th scope="col">First seen ({zoneName()})</th>
                <th scope="col">Last seen ({zoneName()})</th>
              </tr>
            </thead>
            <tbody>
              {sources.map((s) => (
                <tr key={s.source}>
                  <td>{s.source}</td>
                  <td>{s.format ?? 'unknown'}</td>
                  <td>{fmtCount(s.requests)}</td>
                  <td>{fmtCount(s.records)}</td>
                  <td>{fmtCount(s.rejected)}</td>
                  <td>{fmtIso(s.firstSeen)}</td>
                  <td>{fmtIso(s.lastSeen)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

type Pending = 'reanalyze' | 'delete' | null;

/**
 * Re-analyse and delete, each behind a confirmation in place (no browser dialog): what the action
 * does is said before it is done. Offered only on finished captures, as the service refuses others.
 */
function CaptureActions({ capture: c, onDone, onError }: { capture: Capture; onDone: (message: string) => void; onError: (m: string | null) => void }) {
  const [ask, setAsk] = useState<Pending>(null);
  const [busy, setBusy] = useState(false);
  if (c.state !== 'completed' && c.state !== 'failed') return null;
  const run = (what: Exclude<Pending, null>): void => {
    setBusy(true);
    const path = `/captures/${c.id}${what === 'reanalyze' ? '/reanalyze' : ''}`;
    apiSend<Record<string, number | boolean | string>>(what === 'reanalyze' ? 'POST' : 'DELETE', path, undefined).then(
      (r) => {
        setBusy(false);
        setAsk(null);
        onError(null);
        onDone(
          what === 'delete'
            ? `Deleted ${c.name}: ${fmtCount(Number(r.records))} connections, ${fmtCount(Number(r.appRecords))} application records, ${fmtCount(Number(r.alertsRemoved))} alerts` +
                (Number(r.alertsKept) > 0 ? ` (${fmtCount(Number(r.alertsKept))} alerts kept: raised elsewhere too)` : '') +
                '.'
            : `Re-analysing ${c.name}: its records are being replaced.`,
        );
      },
      (e: unknown) => {
        setBusy(false);
        setAsk(null);
        onError(e instanceof Error ? e.message : String(e));
      },
    );
  };
  if (ask !== null)
    return (
      <fieldset className="confirm" aria-label={ask === 'delete' ? 'Confirm deletion' : 'Confirm re-analysis'}>
        <span className="confirm-text">
          {ask === 'delete'
            ? `Delete ${c.name}: its connections, application records, the alerts only it raised and the uploaded file? This cannot be undone.`
            : `Analyse ${c.name} again with the current inventory? Its records are replaced (same ids); alerts it no longer raises are removed.`}
        </span>{' '}
        <button type="button" className={ask === 'delete' ? 'danger' : undefined} disabled={busy} onClick={() => run(ask)}>
          {ask === 'delete' ? 'Yes, delete' : 'Yes, re-analyse'}
        </button>{' '}
        <button type="button" disabled={busy} onClick={() => setAsk(null)}>
          Cancel
        </button>
      </fieldset>
    );
  return (
    <span className="capture-actions">
      <button type="button" onClick={() => setAsk('reanalyze')} title="Analyse the stored capture again (after an inventory change)">
        Re-analyse
      </button>{' '}
      <button type="button" onClick={() => setAsk('delete')} title="Delete the capture and everything analysed from it">
        Delete
      </button>
    </span>
  );
}
