/**
 * The capture agent's Prometheus endpoint (`eastwatch capture --metrics-port`): the counters the
 * agent prints with --stats, read at scrape time, so a DaemonSet's agents can be watched and
 * alerted on (kernel drops, a growing spool, a service that stopped answering) without reading
 * their logs. The agent has no key store, so the endpoint takes one bearer token, as Prometheus'
 * `authorization` / `bearer_token_file` scrape settings send it.
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'prom-client';
import { extractFromRing, ringHolds } from './ring';
import type { ShipperStats } from './shipper';
import type { TcpdumpStats } from './tcpdump';

/** What the agent knows at one moment; the same figures `--stats` prints. */
export interface AgentSnapshot {
  packetsSeen: number;
  recordsWritten: number;
  liveConnections: number;
  kernel: TcpdumpStats | null;
  shipper: ShipperStats | null;
}

/** Default-metric gauges whose names end in _total, which promtool refuses for a gauge. */
const DEFAULT_TOTAL_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Tokens shorter than this are refused: the endpoint may listen beyond loopback. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * A counter that follows a running total the agent keeps elsewhere. Totals only grow within one
 * agent process; should one ever be lower (tcpdump restarted its count), the counter holds rather
 * than going backwards, which Prometheus would read as a reset.
 */
function followingCounter(r: client.Registry, name: string, help: string, read: () => number | null): void {
  let seen = 0;
  new client.Counter({
    name,
    help,
    registers: [r],
    collect() {
      const v = read();
      if (v !== null && v > seen) {
        this.inc(v - seen);
        seen = v;
      }
    },
  });
}

export class AgentMetrics {
  readonly registry = new client.Registry();
  private current: AgentSnapshot;

  /** `snapshot` is read at every scrape; `refresh` asks for fresher figures (tcpdump's) for the next one. */
  constructor(
    private readonly snapshot: () => AgentSnapshot,
    private readonly refresh: () => void = () => {},
  ) {
    const r = this.registry;
    client.collectDefaultMetrics({ register: r, prefix: 'eastwatch_agent_process_' });
    for (const g of DEFAULT_TOTAL_GAUGES) r.removeSingleMetric(`eastwatch_agent_process_${g}`);
    this.current = snapshot();
    const now = (): AgentSnapshot => this.current;
    new client.Gauge({
      name: 'eastwatch_agent_open_connections',
      help: 'Connections open in the tracker',
      registers: [r],
      collect() {
        this.set(now().liveConnections);
      },
    });
    followingCounter(r, 'eastwatch_agent_packets_seen_total', 'Packets read from tcpdump', () => now().packetsSeen);
    followingCounter(r, 'eastwatch_agent_records_written_total', 'Connection records the agent wrote', () => now().recordsWritten);
    followingCounter(r, 'eastwatch_agent_kernel_captured_total', 'Packets tcpdump captured (its statistics)', () => now().kernel?.captured ?? null);
    followingCounter(
      r,
      'eastwatch_agent_kernel_received_by_filter_total',
      'Packets the BPF filter accepted (tcpdump statistics)',
      () => now().kernel?.receivedByFilter ?? null,
    );
    followingCounter(
      r,
      'eastwatch_agent_kernel_dropped_total',
      'Packets the kernel dropped for lack of buffer space (tcpdump statistics)',
      () => now().kernel?.droppedByKernel ?? null,
    );
    followingCounter(
      r,
      'eastwatch_agent_interface_dropped_total',
      'Packets the interface dropped (tcpdump statistics, libpcap 1.10+)',
      () => now().kernel?.droppedByInterface ?? null,
    );
    followingCounter(r, 'eastwatch_agent_records_shipped_total', 'Records the service confirmed stored', () => now().shipper?.shipped ?? null);
    followingCounter(
      r,
      'eastwatch_agent_ship_posts_failed_total',
      'Posts to the service that failed and will be retried',
      () => now().shipper?.failedPosts ?? null,
    );
    new client.Gauge({
      name: 'eastwatch_agent_spool_bytes',
      help: 'Bytes in the spool the service has not confirmed',
      registers: [r],
      collect() {
        this.set(now().shipper?.spoolBytes ?? 0);
      },
    });
    new client.Gauge({
      name: 'eastwatch_agent_ship_ok',
      help: '1 when the last post to the service succeeded (or none failed yet), 0 when it failed; absent without --to',
      registers: [r],
      collect() {
        const s = now().shipper;
        if (s) this.set(s.lastError === null ? 1 : 0);
      },
    });
  }

  /** The exposition text, every figure from one snapshot so that they agree with each other. */
  text(): Promise<string> {
    this.current = this.snapshot();
    this.refresh();
    return this.registry.metrics();
  }
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics with `token` as the bearer token; with `ringDir` (capture --ring) also
 * GET /connections/UID/pcap, the connection's packets cut from the ring, so that the service (or
 * an operator on the node) can fetch a live-captured connection as it does an uploaded one.
 * Everything else is 404, a missing or wrong token 401. The token is compared in constant time.
 */
export async function serveAgentMetrics(m: AgentMetrics, host: string, port: number, token: string, ringDir?: string): Promise<MetricsServer> {
  if (token.length < MIN_TOKEN_LENGTH) throw new Error(`the metrics token must be at least ${MIN_TOKEN_LENGTH} characters`);
  const want = crypto.createHash('sha256').update(token).digest();
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    const pathname = (req.url ?? '').split('?')[0];
    const pcapUid = ringDir !== undefined ? /^\/connections\/([^/]+)\/pcap$/.exec(pathname)?.[1] : undefined;
    if (pathname !== '/metrics' && pcapUid === undefined) {
      return send(404, `not found: the agent serves only /metrics${ringDir !== undefined ? ' and /connections/UID/pcap' : ''}\n`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET /metrics\n');
    const auth = req.headers.authorization ?? '';
    const given = /^Bearer (.+)$/.exec(auth)?.[1] ?? '';
    const got = crypto.createHash('sha256').update(given).digest();
    if (given === '' || !crypto.timingSafeEqual(got, want)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="eastwatch-agent"');
      return send(401, 'a bearer token is required (the agent was started with $EASTWATCH_METRICS_TOKEN or --metrics-token-file)\n');
    }
    if (pcapUid !== undefined) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(pcapUid)) return send(400, 'not a connection uid\n');
      servePcap(ringDir as string, pcapUid, res).catch((e: Error) => {
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

async function servePcap(dir: string, uid: string, res: http.ServerResponse): Promise<void> {
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
  await extractFromRing(dir, [uid], res);
  res.end();
}

/** The token from --metrics-token-file or $EASTWATCH_METRICS_TOKEN; the file wins. Trailing newlines are not part of it. */
export function metricsToken(file: string | undefined, env: string | undefined, read: (f: string) => string): string | null {
  const t = file !== undefined ? read(file) : env;
  if (t === undefined) return null;
  return t.replace(/[\r\n]+$/, '');
}
