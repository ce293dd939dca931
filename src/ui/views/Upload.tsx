/**
 * Drag and drop (or pick) captures: one request per file with its upload progress, then the
 * analysis progress from the capture's server-sent events, then a link to its connections.
 */
import { useCallback, useState, useSyncExternalStore, type DragEvent } from 'react';
import { ApiError, readEvents, uploadFile, type Capture, type CaptureProgress } from '../lib/api';
import { fmtBytes, fmtCount } from '../lib/format';
import { clause } from '../lib/query';
import { Link } from '../Link';

interface Item {
  key: number;
  name: string;
  size: number;
  sent: number;
  capture: Capture | null;
  duplicate: boolean;
  progress: CaptureProgress | null;
  error: string | null;
}

let nextKey = 1;

/**
 * The uploads of this browser tab live outside the view: leaving the page neither cancels an
 * upload nor forgets it, and coming back shows where each one is.
 */
const uploads = {
  items: [] as Item[],
  listeners: new Set<() => void>(),
  set(f: (list: Item[]) => Item[]): void {
    this.items = f(this.items);
    for (const l of this.listeners) l();
  },
  subscribe(l: () => void): () => void {
    uploads.listeners.add(l);
    return () => uploads.listeners.delete(l);
  },
};

export function Upload() {
  const items = useSyncExternalStore(uploads.subscribe, () => uploads.items);
  const setItems = useCallback((f: (list: Item[]) => Item[]) => uploads.set(f), []);
  const [over, setOver] = useState(false);

  const update = useCallback(
    (key: number, patch: Partial<Item>) => {
      setItems((list) => list.map((it) => (it.key === key ? { ...it, ...patch } : it)));
    },
    [setItems],
  );

  const follow = useCallback(
    async (key: number, id: string) => {
      const ac = new AbortController();
      try {
        await readEvents(
          `/captures/${id}/events`,
          (e) => {
            if (e.event === 'progress') update(key, { progress: e.data as CaptureProgress });
            else if (e.event === 'state' || e.event === 'done') {
              const c = e.data as Capture;
              update(key, {
                capture: c,
                progress: c.progress,
                ...(c.state === 'failed' ? { error: `analysis failed: ${c.failedReason ?? 'no reason given'}` } : {}),
              });
            }
          },
          ac.signal,
        );
      } catch (err) {
        if (!ac.signal.aborted) update(key, { error: `lost the progress stream: ${err instanceof Error ? err.message : String(err)}` });
      }
    },
    [update],
  );

  const start = useCallback(
    (files: File[]) => {
      for (const file of files) {
        const key = nextKey++;
        setItems((list) => [...list, { key, name: file.name, size: file.size, sent: 0, capture: null, duplicate: false, progress: null, error: null }]);
        const up = uploadFile<{ created: boolean; capture: Capture }>('/captures', file, (sent) => update(key, { sent }));
        up.done.then(
          (r) => {
            update(key, { sent: file.size, capture: r.capture, duplicate: !r.created });
            void follow(key, r.capture.id);
          },
          (err: unknown) => update(key, { error: err instanceof ApiError ? err.message : String(err) }),
        );
      }
    },
    [follow, update, setItems],
  );

  const onDrop = (e: DragEvent): void => {
    e.preventDefault();
    setOver(false);
    start(Array.from(e.dataTransfer.files));
  };

  return (
    <section aria-labelledby="upload-h">
      <h1 id="upload-h">Upload captures</h1>
      <fieldset
        className={`dropzone${over ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p>Drop pcap, pcapng or gzip files here, or</p>
        <label htmlFor="upload-files" className="button-like">
          Choose files…
        </label>
        <input
          id="upload-files"
          type="file"
          multiple
          accept=".pcap,.pcapng,.cap,.gz,application/vnd.tcpdump.pcap"
          className="visually-hidden-file"
          onChange={(e) => {
            start(Array.from(e.target.files ?? []));
            e.target.value = '';
          }}
        />
      </fieldset>
      <ul className="uploads" aria-label="Uploads">
        {items.map((it) => (
          <UploadRow key={it.key} item={it} />
        ))}
      </ul>
    </section>
  );
}

function UploadRow({ item }: { item: Item }) {
  const c = item.capture;
  const p = item.progress;
  const analysed = p && p.totalBytes > 0 ? p.bytesRead / p.totalBytes : 0;
  const done = c?.state === 'completed';
  const result = (c?.result ?? null) as { packets?: number; records?: number; appRecords?: number; alerts?: number } | null;
  return (
    <li className="upload" data-testid="upload-item" data-state={c?.state ?? 'uploading'}>
      <div className="upload-name">
        <strong>{item.name}</strong> <span className="muted">{fmtBytes(item.size)}</span>
        {item.duplicate && <span className="muted"> — already uploaded: showing the first analysis</span>}
      </div>
      <label>
        Upload
        <progress max={item.size || 1} value={item.sent} aria-label={`Upload of ${item.name}`} />
        <span className="muted">{Math.round((item.sent / (item.size || 1)) * 100)}%</span>
      </label>
      <label>
        Analysis
        <progress max={1} value={done ? 1 : analysed} aria-label={`Analysis of ${item.name}`} />
        <span className="muted">
          {c ? c.state : 'waiting for upload'}
          {p ? ` · ${fmtCount(p.packets)} packets · ${fmtCount(p.records)} connections` : ''}
        </span>
      </label>
      {done && c && (
        <p className="upload-done" role="status">
          Done: {fmtCount(result?.records)} connections, {fmtCount(result?.appRecords)} application records, {fmtCount(result?.alerts)} alerts.{' '}
          <Link to="/connections" params={{ q: clause('capture', c.id) }}>
            Connections of this capture
          </Link>
        </p>
      )}
      {item.error && (
        <p className="error" role="alert">
          {item.error}
        </p>
      )}
    </li>
  );
}
