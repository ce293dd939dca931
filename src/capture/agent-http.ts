/**
 * The capture agent's HTTP endpoint (`eastwatch capture --metrics-port`): GET /metrics (the
 * counters of src/capture/metrics.ts) and, with a packet ring, GET /connections/UID/pcap. The
 * agent has no key store, so the endpoint takes one bearer token, as Prometheus'
 * `authorization` / `bearer_token_file` scrape settings send it.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentMetrics } from './metrics';
import { extractFromRing, ringHolds } from './ring';

/** Tokens shorter than this are refused: the endpoint may listen beyond loopback. */
export const MIN_TOKEN_LENGTH = 16;

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics with `token` as the bearer token; with `ringDir` (capture --ring) also
 * GET /connections/UID/pcap[?maxBytes=N&maxPackets=N], the connection's packets cut from the ring
 * (within those bounds, at a packet), so that the service (src/service/agent-pcap.ts) or an
 * operator on the node can fetch a live-captured connection as it does an uploaded one.
 * Everything else is 404, a missing or wrong token 401. The token is compared in constant time.
 */
export async function serveAgent(m: AgentMetrics, host: string, port: number, token: string, ringDir?: string): Promise<MetricsServer> {
  if (token.length < MIN_TOKEN_LENGTH) throw new Error(`the metrics token must be at least ${MIN_TOKEN_LENGTH} characters`);
  const want = crypto.createHash('sha256').update(token).digest();
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    const [pathname, search = ''] = (req.url ?? '').split('?', 2);
    const pcapUid = ringDir !== undefined ? /^\/connections\/([^/]+)\/pcap$/.exec(pathname)?.[1] : undefined;
    if (pathname !== '/metrics' && pcapUid === undefined) {
      return send(404, `not found: the agent serves only /metrics${ringDir !== undefined ? ' and /connections/UID/pcap' : ''}\n`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET\n');
    const auth = req.headers.authorization ?? '';
    const given = /^Bearer (.+)$/.exec(auth)?.[1] ?? '';
    const got = crypto.createHash('sha256').update(given).digest();
    if (given === '' || !crypto.timingSafeEqual(got, want)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="eastwatch-agent"');
      return send(401, 'a bearer token is required (the agent was started with $EASTWATCH_METRICS_TOKEN or --metrics-token-file)\n');
    }
    if (pcapUid !== undefined) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(pcapUid)) return send(400, 'not a connection uid\n');
      // The service asks for its own bounds: the cut stops at a packet within them.
      const q = new URLSearchParams(search);
      const bound = (name: string): number | undefined => {
        const v = q.get(name);
        return v !== null && /^\d{1,15}$/.test(v) && Number(v) > 0 ? Number(v) : undefined;
      };
      servePcap(ringDir as string, pcapUid, res, { maxBytes: bound('maxBytes'), maxPackets: bound('maxPackets') }).catch((e: Error) => {
        if (!res.headersSent) send(500, `pcap failed: ${e.message}\n`);
        else res.destroy(e);
      });
      return;
    }
    m.text().then(
      (text) => send(200, text, m.registry.contentType),
      (e: Error) => send(500, `metrics failed: ${e.message}\n`),
    );
  });
  // A scraper that opens a connection and sends nothing does not hold it.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${h}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function servePcap(dir: string, uid: string, res: http.ServerResponse, bounds: { maxBytes?: number; maxPackets?: number }): Promise<void> {
  if (!(await ringHolds(dir, uid))) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`the ring holds no packets of ${uid} (never captured here, or rotated out)\n`);
    return;
  }
  res.writeHead(200, {
    'Content-Type': 'application/vnd.tcpdump.pcap',
    'Content-Disposition': `attachment; filename="${uid}.pcap"`,
    'Cache-Control': 'no-store',
  });
  await extractFromRing(dir, [uid], res, bounds);
  res.end();
}

/** The token from --metrics-token-file or $EASTWATCH_METRICS_TOKEN; the file wins. Trailing newlines are not part of it. */
export function metricsToken(file: string | undefined, env: string | undefined, read: (f: string) => string): string | null {
  const t = file !== undefined ? read(file) : env;
  if (t === undefined) return null;
  return t.replace(/[\r\n]+$/, '');
}
