/**
 * Kubernetes inventory: upload a snapshot (kubectl ... -o json, or YAML manifests) for a named
 * cluster, and the snapshots the service holds with their cluster, times, object counts and the
 * background re-resolution of the records stored before each one arrived.
 */
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { ApiError, apiGet, type InventoryResolution, type InventorySnapshot, uploadFile } from '../lib/api';
import { fmtBytes, fmtCount, fmtIso, fmtTime } from '../lib/format';
import { zoneName } from '../lib/zone';
import { useLoad } from '../lib/load';

const REFRESH_MS = 1500;
/** The service's ClusterName: checked here too so a typo is named before the bytes are sent. */
const CLUSTER = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const KUBECTL = 'kubectl get pods,services,endpointslices,nodes,networkpolicies,namespaces,replicasets,deployments -A -o json';

interface Uploaded extends InventorySnapshot {
  resolution: { job: string; href: string; from: number | null; to: number | null };
}

interface Sending {
  name: string;
  sent: number;
  total: number;
}

export function busyState(s: InventoryResolution['state']): boolean {
  return s === 'waiting' || s === 'active' || s === 'delayed';
}

/** The re-resolution of one snapshot in a few words: its state and how far it got. */
export function resolutionText(r: InventoryResolution | undefined): string {
  if (!r) return '—';
  if (r.state === 'failed') return `failed: ${r.failedReason ?? 'unknown'}`;
  if (r.state === 'completed' && r.result) return `done: ${fmtCount(r.result.updated)} of ${fmtCount(r.result.scanned)} changed`;
  const p = r.progress;
  if (!p) return r.state;
  if (p.phase === 'waiting') return 'waiting for captures being analysed';
  return `${fmtCount(p.scanned)} of ${fmtCount(p.total)} read, ${fmtCount(p.updated)} changed`;
}

function objectsText(o: Record<string, number>): string {
  return Object.entries(o)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

function contentType(name: string): string {
  return /\.ya?ml$/i.test(name) ? 'application/yaml' : 'application/json';
}

export function Inventory({ role }: { role: string }) {
  const canUpload = role === 'ingest' || role === 'admin';
  const [snapshots, setSnapshots] = useState<InventorySnapshot[] | null>(null);
  const [resolutions, setResolutions] = useState<Map<string, InventoryResolution>>(new Map());
  const [counts, setCounts] = useState<Record<string, number> | null>(null);
  const [error, setError] = useState<string | null>(null);

  const [cluster, setCluster] = useState('default');
  const [observed, setObserved] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [sending, setSending] = useState<Sending | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [uploaded, setUploaded] = useState<Uploaded | null>(null);
  const [latest, setLatest] = useState<InventoryResolution | null>(null);

  const load = useCallback((signal: AbortSignal) => {
    Promise.all([
      apiGet<{ snapshots: InventorySnapshot[] }>('/inventory', {}, signal),
      // Refused to a namespace-scoped key (its figures span every namespace): the column stays empty.
      apiGet<{ resolutions: InventoryResolution[]; counts: Record<string, number> }>('/inventory/resolutions', { limit: 1000 }, signal).catch(() => null),
    ]).then(
      ([i, r]) => {
        setSnapshots([...i.snapshots].sort((a, b) => b.id - a.id));
        setResolutions(new Map((r?.resolutions ?? []).map((x) => [x.id, x])));
        setCounts(r?.counts ?? null);
        setError(null);
      },
      (e: unknown) => {
        if (!signal.aborted) setError(e instanceof Error ? e.message : String(e));
      },
    );
  }, []);
  const refresh = useLoad(load);

  // The snapshot just uploaded is followed by its own resolution route until its job ends.
  useEffect(() => {
    if (!uploaded) return;
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ac = new AbortController();
    const poll = (): void => {
      apiGet<InventoryResolution>(`/inventory/${uploaded.id}/resolution`, {}, ac.signal).then(
        (r) => {
          if (stop) return;
          setLatest(r);
          refresh();
          if (busyState(r.state)) timer = setTimeout(poll, REFRESH_MS);
        },
        (e: unknown) => {
          if (!stop && !ac.signal.aborted) setFormError(`the re-resolution of snapshot ${uploaded.id}: ${e instanceof Error ? e.message : String(e)}`);
        },
      );
    };
    poll();
    return () => {
      stop = true;
      ac.abort();
      if (timer) clearTimeout(timer);
    };
  }, [uploaded, refresh]);

  const running = [...resolutions.values()].some((r) => busyState(r.state));
  useEffect(() => {
    if (!running) return;
    const t = setInterval(refresh, REFRESH_MS * 2);
    return () => clearInterval(t);
  }, [running, refresh]);

  const submit = (e: FormEvent): void => {
    e.preventDefault();
    if (!file) {
      setFormError('Choose an inventory file first.');
      return;
    }
    if (!CLUSTER.test(cluster) || cluster.length > 63) {
      setFormError(`Cluster "${cluster}": a DNS label is needed (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63).`);
      return;
    }
    let observedAt: number | undefined;
    if (observed.trim() !== '') {
      const t = Date.parse(observed.trim());
      if (Number.isNaN(t)) {
        setFormError(`Observed at "${observed}": not a time (e.g. 2026-01-15T10:00:00Z).`);
        return;
      }
      observedAt = t / 1000;
    }
    setFormError(null);
    setUploaded(null);
    setLatest(null);
    setSending({ name: file.name, sent: 0, total: file.size });
    const up = uploadFile<Uploaded>('/inventory', file, (sent, total) => setSending({ name: file.name, sent, total }), {
      params: { cluster, source: file.name, observed_at: observedAt },
      contentType: contentType(file.name),
    });
    up.done.then(
      (r) => {
        setSending(null);
        setUploaded(r);
        refresh();
      },
      (err: unknown) => {
        setSending(null);
        setFormError(err instanceof ApiError ? err.message : String(err));
      },
    );
  };

  return (
    <div className="inventory">
      <h1>Kubernetes inventory</h1>
      <p className="muted">
        Snapshots name the ends of connections (pod, workload, namespace, service) by the connection's time. Take one with <code>{KUBECTL}</code>, or give YAML
        manifests.
      </p>
      <section aria-labelledby="inv-up-h">
        <h2 id="inv-up-h">Upload a snapshot</h2>
        {!canUpload && <p className="notice">Uploading needs an ingest or admin key; this key ({role}) can only read the list.</p>}
        <form className="inventory-form" onSubmit={submit} aria-label="Upload an inventory snapshot">
          <label>
            Cluster
            <input value={cluster} onChange={(e) => setCluster(e.target.value)} required maxLength={63} spellCheck={false} disabled={!canUpload} />
          </label>
          <label>
            Observed at (optional)
            <input
              value={observed}
              onChange={(e) => setObserved(e.target.value)}
              placeholder="2026-01-15T10:00:00Z"
              title="When the snapshot was taken: pods absent from it end there. Empty: unknown."
              disabled={!canUpload}
            />
          </label>
          <label>
            Inventory file
            <input
              type="file"
              accept=".json,.yaml,.yml,application/json,application/yaml"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              disabled={!canUpload}
            />
          </label>
          <button type="submit" disabled={!canUpload || sending !== null}>
            Upload inventory
          </button>
        </form>
        {sending && (
          <label>
            Upload
            <progress max={sending.total || 1} value={sending.sent} aria-label={`Upload of ${sending.name}`} />
            <span className="muted">
              {fmtBytes(sending.sent)} of {fmtBytes(sending.total)}
            </span>
          </label>
        )}
        {formError && (
          <p className="error" role="alert">
            {formError}
          </p>
        )}
        {uploaded && (
          <div className="inventory-uploaded" role="status" data-testid="inventory-uploaded" data-id={uploaded.id}>
            <p>
              Kept snapshot #{uploaded.id} of cluster <strong>{uploaded.cluster}</strong>: {objectsText(uploaded.objects) || 'no objects'}
              {Object.keys(uploaded.ignored).length > 0 ? ` (ignored: ${objectsText(uploaded.ignored)})` : ''}.
            </p>
            <p>
              Re-resolving stored records {uploaded.resolution.from === null ? 'since ever' : `from ${fmtTime(uploaded.resolution.from)}`}
              {uploaded.resolution.to === null ? '' : ` to ${fmtTime(uploaded.resolution.to)}`}:{' '}
              <span data-testid="inventory-uploaded-resolution" data-state={latest?.state ?? 'waiting'}>
                {latest ? resolutionText(latest) : 'queued'}
              </span>
            </p>
            <ResolutionBar r={latest ?? undefined} />
          </div>
        )}
      </section>
      <section aria-labelledby="inv-list-h">
        <h2 id="inv-list-h">Snapshots</h2>
        <button type="button" onClick={refresh}>
          Refresh
        </button>
        {counts && (
          <p className="muted" data-testid="resolution-counts">
            Re-resolutions:{' '}
            {Object.entries(counts)
              .map(([k, v]) => `${k} ${fmtCount(v)}`)
              .join(' · ')}
          </p>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {snapshots && snapshots.length === 0 && <p>No inventory yet: connections carry addresses only.</p>}
        {snapshots && snapshots.length > 0 && <SnapshotTable snapshots={snapshots} resolutions={resolutions} />}
      </section>
    </div>
  );
}

/**
 * The snapshots the service holds, newest first, each with the re-resolution of the records
 * stored before it: the inventory page's list and the jobs page's.
 */
export function SnapshotTable({ snapshots, resolutions }: { snapshots: InventorySnapshot[]; resolutions: ReadonlyMap<string, InventoryResolution> }) {
  return (
    <table aria-label="Inventory snapshots">
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Cluster</th>
          <th scope="col">Source</th>
          <th scope="col">Observed ({zoneName()})</th>
          <th scope="col">Received ({zoneName()})</th>
          <th scope="col">Objects</th>
          <th scope="col">Ignored</th>
          <th scope="col">Stored records resolved again</th>
        </tr>
      </thead>
      <tbody>
        {[...snapshots]
          .sort((a, b) => b.id - a.id)
          .map((s) => {
            const r = resolutions.get(String(s.id));
            return (
              <tr key={s.id} data-testid="inventory-row" data-id={s.id}>
                <td>{s.id}</td>
                <td data-testid="snap-cluster">{s.cluster}</td>
                <td data-testid="snap-source">{s.source}</td>
                <td data-testid="snap-observed">{s.observedAt === null ? 'unknown' : fmtTime(s.observedAt)}</td>
                <td data-testid="snap-received">{fmtTime(s.receivedAt)}</td>
                <td data-testid="snap-objects">{objectsText(s.objects)}</td>
                <td data-testid="snap-ignored">{objectsText(s.ignored) || '—'}</td>
                <td data-testid="snap-resolution" data-state={r?.state ?? ''} title={r?.finishedAt ? `finished ${fmtIso(r.finishedAt)}` : undefined}>
                  {resolutionText(r)}
                  <ResolutionBar r={r} />
                </td>
              </tr>
            );
          })}
      </tbody>
    </table>
  );
}

function ResolutionBar({ r }: { r: InventoryResolution | undefined }) {
  if (!r || r.state === 'failed') return null;
  if (r.state === 'completed') return <progress max={1} value={1} aria-label={`Re-resolution of snapshot ${r.id}`} />;
  const p = r.progress;
  // Indeterminate until the walk knows how many records it has to read.
  if (!p || p.phase === 'waiting' || p.total === 0) return <progress aria-label={`Re-resolution of snapshot ${r.id}`} />;
  return <progress max={p.total} value={p.scanned} aria-label={`Re-resolution of snapshot ${r.id}`} />;
}
