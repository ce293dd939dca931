/**
 * Prometheus metrics (prom-client). The API process serves them at /metrics with queue depths
 * read at scrape time; a worker process serves its own with --metrics-port. Names and types pass
 * `promtool check metrics` (test/service/metrics.test.ts runs it on a live service's /metrics).
 */
import * as client from 'prom-client';
import type { Queues } from './queue';

/** Default-metric gauges whose names end in _total (prom-client 15). */
export const DEFAULT_TOTAL_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'] as const;

export class Metrics {
  readonly registry = new client.Registry();
  readonly jobSeconds: client.Histogram<'queue' | 'outcome'>;
  readonly records: client.Counter<'source'>;
  readonly appRecords: client.Counter;
  readonly packets: client.Counter;
  readonly parseErrors: client.Counter<'source'>;
  readonly storeRefused: client.Counter<'reason'>;
  readonly alerts: client.Counter<'detector'>;
  readonly httpSeconds: client.Histogram<'method' | 'route' | 'status'>;
  readonly uploadBytes: client.Counter;

  constructor(queues?: Queues) {
    const r = this.registry;
    client.collectDefaultMetrics({ register: r, prefix: 'eastwatch_process_' });
    // prom-client's default metrics include three gauges named *_total (sums of the per-type gauges
    // beside them), which Prometheus' naming rules reserve for counters: promtool refuses them.
    // The per-type gauges stay; sum() over them gives the same figure.
    for (const g of DEFAULT_TOTAL_GAUGES) r.removeSingleMetric(`eastwatch_process_${g}`);
    this.jobSeconds = new client.Histogram({
      name: 'eastwatch_job_duration_seconds',
      help: 'Job run time by queue and outcome',
      labelNames: ['queue', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [r],
    });
    this.records = new client.Counter({
      name: 'eastwatch_records_written_total',
      help: 'Connection records written to the store (rate() gives records/s)',
      labelNames: ['source'],
      registers: [r],
    });
    this.appRecords = new client.Counter({
      name: 'eastwatch_app_records_written_total',
      help: 'Application records (dns, http, tls, ...) written',
      registers: [r],
    });
    this.packets = new client.Counter({ name: 'eastwatch_packets_total', help: 'Packets read from captures (rate() gives packets/s)', registers: [r] });
    this.parseErrors = new client.Counter({
      name: 'eastwatch_parse_errors_total',
      help: 'Malformed packets and rejected flow lines',
      labelNames: ['source'],
      registers: [r],
    });
    this.storeRefused = new client.Counter({
      name: 'eastwatch_store_refused_total',
      help: 'Records the store did not apply: dead-lettered (bulk errors) or stale',
      labelNames: ['reason'],
      registers: [r],
    });
    this.alerts = new client.Counter({ name: 'eastwatch_alerts_total', help: 'Alerts raised', labelNames: ['detector'], registers: [r] });
    this.httpSeconds = new client.Histogram({
      name: 'eastwatch_http_request_duration_seconds',
      help: 'API request time',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.uploadBytes = new client.Counter({ name: 'eastwatch_upload_bytes_total', help: 'Capture bytes received', registers: [r] });
    if (queues) {
      const q = queues;
      new client.Gauge({
        name: 'eastwatch_queue_jobs',
        help: 'Jobs per queue and state',
        labelNames: ['queue', 'state'],
        registers: [r],
        async collect() {
          for (const queue of [q.captures, q.flows, q.resolutions]) {
            const c = await queue.counts();
            for (const [state, n] of Object.entries(c)) this.set({ queue: queue.name, state }, n);
          }
        },
      });
    }
  }
}
