/**
 * The capture agent's /metrics (src/capture/metrics.ts, served by agent-http.ts) over real HTTP: the bearer token is
 * required and compared exactly, counters follow the agent's running totals (never backwards),
 * the exposition passes `promtool check metrics`, and nothing but GET /metrics is served.
 * The same endpoint on a live agent is checked in netns.test.ts.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { type MetricsServer, metricsToken, serveAgent } from '../../src/capture/agent-http';
import { AgentMetrics, type AgentSnapshot } from '../../src/capture/metrics';
import { PROMTOOL, promtool } from '../util/promtool';

const TOKEN = 'agent-metrics-test-token-0123456789';

function sample(text: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

describe('capture agent /metrics', () => {
  const snap: AgentSnapshot = { packetsSeen: 0, recordsWritten: 0, liveConnections: 0, kernel: null, shipper: null };
  let refreshes = 0;
  let server: MetricsServer;

  before(async () => {
    const m = new AgentMetrics(
      () => ({ ...snap }),
      () => {
        refreshes++;
      },
    );
    server = await serveAgent(m, '127.0.0.1', 0, TOKEN);
  });
  after(() => server.close());

  const get = (path: string, token?: string, method = 'GET'): Promise<Response> =>
    fetch(`${server.url}${path}`, { method, headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });

  it('refuses a missing, wrong or prefix token with 401 and says how to give one', async () => {
    for (const t of [undefined, '', 'wrong-token-wrong-token-wrong', TOKEN.slice(0, -1), `${TOKEN}x`]) {
      const r = await get('/metrics', t);
      assert.equal(r.status, 401, `token ${JSON.stringify(t)}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="eastwatch-agent"');
      assert.match(await r.text(), /EASTWATCH_METRICS_TOKEN/);
    }
  });

  it('serves only GET /metrics', async () => {
    assert.equal((await get('/', TOKEN)).status, 404);
    assert.equal((await get('/metrics/../api', TOKEN)).status, 404);
    assert.equal((await get('/metrics', TOKEN, 'POST')).status, 405);
  });

  it("reports the agent's figures, follows its totals, never moves a counter backwards", async () => {
    Object.assign(snap, {
      packetsSeen: 1200,
      recordsWritten: 37,
      liveConnections: 5,
      kernel: { captured: 1210, receivedByFilter: 1215, droppedByKernel: 3, droppedByInterface: null },
      shipper: { shipped: 30, spooled: 37, spoolBytes: 4096, posts: 4, failedPosts: 1, lastError: 'service answered 503' },
    });
    const before = refreshes;
    let r = await get('/metrics', TOKEN);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    let text = await r.text();
    assert.equal(refreshes, before + 1, 'a scrape asks tcpdump for fresh statistics');
    assert.equal(sample(text, 'eastwatch_agent_packets_seen_total'), 1200);
    assert.equal(sample(text, 'eastwatch_agent_records_written_total'), 37);
    assert.equal(sample(text, 'eastwatch_agent_open_connections'), 5);
    assert.equal(sample(text, 'eastwatch_agent_kernel_captured_total'), 1210);
    assert.equal(sample(text, 'eastwatch_agent_kernel_received_by_filter_total'), 1215);
    assert.equal(sample(text, 'eastwatch_agent_kernel_dropped_total'), 3);
    assert.equal(sample(text, 'eastwatch_agent_interface_dropped_total'), 0);
    assert.equal(sample(text, 'eastwatch_agent_records_shipped_total'), 30);
    assert.equal(sample(text, 'eastwatch_agent_ship_posts_failed_total'), 1);
    assert.equal(sample(text, 'eastwatch_agent_spool_bytes'), 4096);
    assert.equal(sample(text, 'eastwatch_agent_ship_ok'), 0);

    // A total that went down (tcpdump restarted its count) holds the counter where it was.
    Object.assign(snap, { packetsSeen: 1500, kernel: { captured: 10, receivedByFilter: 10, droppedByKernel: 0, droppedByInterface: 2 } });
    snap.shipper = { shipped: 37, spooled: 37, spoolBytes: 0, posts: 5, failedPosts: 1, lastError: null };
    text = await (await get('/metrics', TOKEN)).text();
    assert.equal(sample(text, 'eastwatch_agent_packets_seen_total'), 1500);
    assert.equal(sample(text, 'eastwatch_agent_kernel_captured_total'), 1210);
    assert.equal(sample(text, 'eastwatch_agent_kernel_dropped_total'), 3);
    assert.equal(sample(text, 'eastwatch_agent_interface_dropped_total'), 2);
    assert.equal(sample(text, 'eastwatch_agent_ship_ok'), 1);
    assert.equal(sample(text, 'eastwatch_agent_spool_bytes'), 0);
    r = await get('/metrics', TOKEN, 'HEAD');
    assert.equal(r.status, 200);
  });

  it('passes promtool check metrics', async function () {
    if (!fs.existsSync(PROMTOOL)) {
      if (process.env.CI === 'true') throw new Error(`CI: ${PROMTOOL} is missing (install Prometheus' promtool)`);
      console.warn(`      skipped: ${PROMTOOL} not found`);
      this.skip();
    }
    const r = await promtool(await (await get('/metrics', TOKEN)).text());
    assert.equal(r.out, '');
    assert.equal(r.code, 0);
  });

  it('refuses to start with a short token, and reads the token file without its newline', async () => {
    const m = new AgentMetrics(() => ({ ...snap }));
    await assert.rejects(serveAgent(m, '127.0.0.1', 0, 'short'), /at least 16 characters/);
    assert.equal(
      metricsToken('f', 'from-env', () => `${TOKEN}\n`),
      TOKEN,
    );
    assert.equal(
      metricsToken(undefined, 'from-env', () => ''),
      'from-env',
    );
    assert.equal(
      metricsToken(undefined, undefined, () => ''),
      null,
    );
  });
});
