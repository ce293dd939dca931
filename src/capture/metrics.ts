/**
 * The capture agent's Prometheus metrics: the counters the agent prints with --stats, read at
 * scrape time, so a DaemonSet's agents can be watched and alerted on (kernel drops, a growing
 * spool, a service that stopped answering) without reading their logs. Served by agent-http.ts.
 */
import * as client from 'prom-client';
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
