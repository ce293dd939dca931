/**
 * /metrics of a real running service (embedded default) after it analysed a capture: every metric
 * family has the name and type we expect, the exposition is well formed (HELP and TYPE for each
 * family, samples only of declared families, counters named *_total and nothing else), the
 * counters moved with the work done, and `promtool check metrics` accepts the text (when
 * /usr/bin/promtool exists; under CI=true its absence fails, as CI installs it).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { DEFAULT_TOTAL_GAUGES } from '../../src/service/metrics';
import { readEvents, sample, startHarness, type Harness } from './harness';
import { PROMTOOL, promtool } from '../util/promtool';

/** Every family the API process exposes, with its type. */
const EXPECTED: Record<string, string> = {
  // Ours (src/service/metrics.ts).
  eastwatch_job_duration_seconds: 'histogram',
  eastwatch_records_written_total: 'counter',
  eastwatch_app_records_written_total: 'counter',
  eastwatch_packets_total: 'counter',
  eastwatch_parse_errors_total: 'counter',
  eastwatch_store_refused_total: 'counter',
  eastwatch_alerts_total: 'counter',
  eastwatch_http_request_duration_seconds: 'histogram',
  eastwatch_upload_bytes_total: 'counter',
  eastwatch_queue_jobs: 'gauge',
  // prom-client's default process and Node.js metrics, under our prefix.
  eastwatch_process_process_cpu_user_seconds_total: 'counter',
  eastwatch_process_process_cpu_system_seconds_total: 'counter',
  eastwatch_process_process_cpu_seconds_total: 'counter',
  eastwatch_process_process_start_time_seconds: 'gauge',
  eastwatch_process_process_resident_memory_bytes: 'gauge',
  eastwatch_process_process_virtual_memory_bytes: 'gauge',
  eastwatch_process_process_heap_bytes: 'gauge',
  eastwatch_process_process_open_fds: 'gauge',
  eastwatch_process_process_max_fds: 'gauge',
  eastwatch_process_nodejs_eventloop_lag_seconds: 'gauge',
  eastwatch_process_nodejs_eventloop_lag_min_seconds: 'gauge',
  eastwatch_process_nodejs_eventloop_lag_max_seconds: 'gauge',
  eastwatch_process_nodejs_eventloop_lag_mean_seconds: 'gauge',
  eastwatch_process_nodejs_eventloop_lag_stddev_seconds: 'gauge',
  eastwatch_process_nodejs_eventloop_lag_p50_seconds: 'gauge',
  eastwatch_process_nodejs_eventloop_lag_p90_seconds: 'gauge',
  eastwatch_process_nodejs_eventloop_lag_p99_seconds: 'gauge',
  eastwatch_process_nodejs_active_resources: 'gauge',
  eastwatch_process_nodejs_active_handles: 'gauge',
  eastwatch_process_nodejs_active_requests: 'gauge',
  eastwatch_process_nodejs_heap_size_total_bytes: 'gauge',
  eastwatch_process_nodejs_heap_size_used_bytes: 'gauge',
  eastwatch_process_nodejs_external_memory_bytes: 'gauge',
  eastwatch_process_nodejs_heap_space_size_total_bytes: 'gauge',
  eastwatch_process_nodejs_heap_space_size_used_bytes: 'gauge',
  eastwatch_process_nodejs_heap_space_size_available_bytes: 'gauge',
  eastwatch_process_nodejs_version_info: 'gauge',
  eastwatch_process_nodejs_gc_duration_seconds: 'histogram',
};

interface Family {
  type: string;
  help: string | null;
  samples: { name: string; labels: string; value: number }[];
}

/** The text exposition format, strictly: a sample must belong to the family declared before it. */
function parseExposition(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = out.get(name);
    if (f === undefined) {
      f = { type: 'untyped', help: null, samples: [] };
      out.set(name, f);
    }
    return f;
  };
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family(meta[2]).help = meta[3];
      else family(meta[2]).type = meta[3];
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    assert.ok(m, `line ${i + 1} is not a sample: ${line}`);
    const [, name, labels = '', value] = m;
    const owner = [name, name.replace(/_(bucket|sum|count)$/, '')].find((n) => out.has(n));
    assert.ok(owner, `line ${i + 1}: sample ${name} of no declared family`);
    const f = out.get(owner) as Family;
    if (owner !== name) assert.equal(f.type, 'histogram', `line ${i + 1}: ${name} suffix on a ${f.type}`);
    f.samples.push({ name, labels, value: Number(value) });
  }
  return out;
}

describe('service: /metrics of a running service', function () {
  this.timeout(120_000);
  let h: Harness;
  let text: string;
  let families: Map<string, Family>;

  before(async () => {
    h = await startHarness({ mode: 'local' });
    const bytes = fs.readFileSync(sample('pod-traffic.pcap'));
    const up = await h.call('POST', '/api/v1/captures?name=pod-traffic.pcap', { body: bytes, headers: { 'content-type': 'application/vnd.tcpdump.pcap' } });
    assert.equal(up.status, 202, up.text);
    const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
    assert.equal(events[events.length - 1].data.state, 'completed');
    const res = await h.call('GET', '/metrics', { key: h.keys.admin });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    text = res.text;
    families = parseExposition(text);
  });
  after(async () => {
    await h?.stop();
  });

  it('exposes exactly the expected families, each with its type and a help text', () => {
    const got = Object.fromEntries([...families].map(([n, f]) => [n, f.type]));
    assert.deepEqual(got, EXPECTED);
    for (const [n, f] of families) assert.ok(f.help !== null && f.help.length > 0, `${n} has no HELP`);
  });

  it('names follow Prometheus conventions: eastwatch_ prefix, _total only and always on counters', () => {
    for (const [n, f] of families) {
      assert.match(n, /^eastwatch_[a-z0-9_]+$/, n);
      assert.equal(n.endsWith('_total'), f.type === 'counter', `${n} is a ${f.type}`);
    }
    for (const g of DEFAULT_TOTAL_GAUGES) assert.ok(!families.has(`eastwatch_process_${g}`), g);
  });

  it('moved with the work: packets, records, upload bytes, a completed job, API requests', () => {
    const value = (name: string, labels = ''): number =>
      families.get(name)?.samples.find((s) => s.name === name && s.labels.includes(labels))?.value ?? Number.NaN;
    const bytes = fs.statSync(sample('pod-traffic.pcap')).size;
    assert.equal(value('eastwatch_upload_bytes_total'), bytes);
    assert.ok(value('eastwatch_packets_total') > 100, String(value('eastwatch_packets_total')));
    assert.ok(value('eastwatch_records_written_total') > 10, String(value('eastwatch_records_written_total')));
    assert.equal(value('eastwatch_queue_jobs', 'queue="captures",state="completed"'), 1);
    const jobs = families.get('eastwatch_job_duration_seconds')?.samples.find((s) => s.name === 'eastwatch_job_duration_seconds_count');
    assert.equal(jobs?.value, 1);
    const http = families.get('eastwatch_http_request_duration_seconds')?.samples.filter((s) => s.name.endsWith('_count')) ?? [];
    assert.ok(http.length > 0);
  });

  it('passes promtool check metrics', async function () {
    if (!fs.existsSync(PROMTOOL)) {
      if (process.env.CI === 'true') throw new Error(`CI: ${PROMTOOL} is missing (install Prometheus' promtool)`);
      console.warn(`      skipped: ${PROMTOOL} not found`);
      this.skip();
    }
    const r = await promtool(text);
    assert.equal(r.out, '');
    assert.equal(r.code, 0);
  });

  it('promtool refuses a gauge named _total (the check can fail)', async function () {
    if (!fs.existsSync(PROMTOOL)) this.skip();
    const r = await promtool('# HELP x_total A gauge\n# TYPE x_total gauge\nx_total 1\n');
    assert.match(r.out, /non-counter metrics should not have "_total" suffix/);
    assert.notEqual(r.code, 0);
  });
});
