/**
 * Minimal HTTP access to the test Elasticsearch started by `bash scripts/es.sh start`.
 * Deliberately no client library: the official client's product check / ping use `GET /` and
 * `HEAD /`, which this module-less node does not serve (see test/elasticsearch/README.md).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface EsResponse {
  status: number;
  body: Json;
}

/** Base URL: $ES_URL, else the script's default port. */
export const ES_URL = (process.env.ES_URL ?? 'http://127.0.0.1:9250').replace(/\/$/, '');

/** One request; a JSON body is sent as JSON, a string as-is (NDJSON for _bulk/_msearch). */
export async function es(method: string, path: string, body?: Json | string): Promise<EsResponse> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(30_000) };
  if (body !== undefined) {
    const ndjson = typeof body === 'string';
    init.body = ndjson ? body : JSON.stringify(body);
    init.headers = { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' };
  }
  const res = await fetch(ES_URL + path, init);
  const text = await res.text();
  let parsed: Json = text;
  try {
    parsed = text.length > 0 ? (JSON.parse(text) as Json) : null;
  } catch {
    // Some errors (e.g. "no handler found") are JSON, HEAD has no body; anything else is kept as text.
  }
  return { status: res.status, body: parsed };
}

/** NDJSON for _bulk from [action, source?] pairs. */
export function ndjson(lines: Json[]): string {
  return `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
}

/** Walks a dotted path ("hits.total.value", "buckets.0.key") through parsed JSON. */
export function at(value: Json, path: string): Json | undefined {
  let cur: Json | undefined = value;
  for (const part of path.split('.')) {
    if (cur === null || cur === undefined || typeof cur !== 'object') return undefined;
    cur = Array.isArray(cur) ? cur[Number(part)] : cur[part];
  }
  return cur;
}

export async function esReachable(): Promise<boolean> {
  try {
    const r = await fetch(`${ES_URL}/_cluster/health`, { signal: AbortSignal.timeout(2_000) });
    const h = (await r.json()) as { status?: string };
    return h.status === 'green' || h.status === 'yellow';
  } catch {
    return false;
  }
}

/**
 * Call in a `before` hook (`function (this: Mocha.Context)`). No node reachable: skip, unless the
 * caller asked for one (ES_URL set, or ES_REQUIRED=1), in which case fail. CI does not start the node
 * yet, so under CI=true without ES_URL the suite skips too.
 */
export async function requireEs(ctx: Mocha.Context): Promise<void> {
  if (await esReachable()) return;
  const msg = `no Elasticsearch at ${ES_URL} (start one with: bash scripts/es.sh start)`;
  if (process.env.ES_URL !== undefined || process.env.ES_REQUIRED === '1') throw new Error(msg);
  console.warn(`      skipped: ${msg}`);
  ctx.skip();
}
