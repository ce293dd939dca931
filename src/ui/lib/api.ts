/**
 * The UI's only way to the service: the public v1 API with the key as a Bearer header. The key
 * lives in sessionStorage (gone with the tab) and never in a URL, so links stay shareable.
 */

import { ApiError, errorOf, parseEvents, type ServerEvent } from './wire';

export { ApiError, errorOf, parseEvents, type ServerEvent } from './wire';
export type {
  Alert,
  AlertEntity,
  Capture,
  CaptureProgress,
  ConnRecord,
  Edge,
  EdgeEnd,
  FieldInfo,
  FlowSource,
  InventoryResolution,
  InventorySnapshot,
  SearchPage,
  Session,
  SessionPacket,
  SessionPayload,
  Whoami,
} from './types';

const KEY_ITEM = 'eastwatch.apiKey';
export const API = '/api/v1';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY_ITEM);
  else sessionStorage.setItem(KEY_ITEM, key);
}

/** Fired when the service refuses the key, so the app can go back to the login. */
export const authEvents = new EventTarget();

function headers(extra?: Record<string, string>): Record<string, string> {
  const key = storedKey();
  return { ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra };
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  if (res.status === 401) authEvents.dispatchEvent(new Event('unauthorized'));
  return errorOf(res.status, body, `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

export type Params = Record<string, string | number | undefined | null>;

export function withParams(path: string, params: Params = {}): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') sp.set(k, String(v));
  const s = sp.toString();
  return s ? `${path}?${s}` : path;
}

export async function apiGet<T>(path: string, params?: Params, signal?: AbortSignal): Promise<T> {
  const res = await fetch(`${API}${withParams(path, params)}`, { headers: headers(), signal });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

export async function apiSend<T>(method: 'POST' | 'PATCH' | 'DELETE', path: string, body: unknown): Promise<T> {
  const res = await fetch(`${API}${path}`, { method, headers: headers({ 'content-type': 'application/json' }), body: JSON.stringify(body) });
  if (!res.ok) throw await failure(res);
  return (res.status === 204 ? null : await res.json()) as T;
}

/** Fetches a binary answer and hands it to the browser as a file download. */
export async function download(path: string, params: Params, filename: string): Promise<number> {
  const res = await fetch(`${API}${withParams(path, params)}`, { headers: headers() });
  if (!res.ok) throw await failure(res);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  // The download has the bytes once click() returns; keep the URL a moment for slow handlers.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return blob.size;
}

/**
 * Uploads one file as the raw body. XMLHttpRequest, not fetch, because only it reports
 * upload progress. `params` default to the file's name (what /captures takes).
 */
export function uploadFile<T>(
  path: string,
  file: File,
  onProgress: (sent: number, total: number) => void,
  opts: { params?: Params; contentType?: string } = {},
): { done: Promise<T>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const done = new Promise<T>((resolve, reject) => {
    xhr.open('POST', `${API}${withParams(path, opts.params ?? { name: file.name })}`);
    for (const [k, v] of Object.entries(headers({ 'content-type': opts.contentType ?? 'application/octet-stream' }))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as T);
      else {
        if (xhr.status === 401) authEvents.dispatchEvent(new Event('unauthorized'));
        reject(errorOf(xhr.status, body, `upload failed: ${xhr.status} ${xhr.statusText}`));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, `upload of ${file.name} failed: the connection to the service broke`, null));
    xhr.onabort = () => reject(new ApiError(0, `upload of ${file.name} was cancelled`, null));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}

/**
 * Reads server-sent events with fetch (EventSource cannot send the Authorization header) until
 * the stream ends or the signal aborts.
 */
export async function readEvents(path: string, onEvent: (e: ServerEvent) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(`${API}${path}`, { headers: headers({ accept: 'text/event-stream' }), signal });
  if (!res.ok || !res.body) throw await failure(res);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    const got: ServerEvent[] = [];
    buf = parseEvents(buf, got);
    for (const e of got) onEvent(e);
  }
}
