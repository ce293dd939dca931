/**
 * The detectors' administration through the service: settings and baseline from the
 * configuration and the API, the continuous engine's learning state, its reset; admin keys only.
 * On the embedded default and on Redis + Elasticsearch (the state and settings in Redis).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { communityId } from '../../parsers/record/community-id';
import type { ConnRecord } from '../../parsers/record/conn';
import { ConfigError, loadConfig } from '../../src/service/config';
import { conn, pod } from '../detectors/util';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z
const API = pod('shop', 'api', 'api-7d9f8-abc12');

let sport = 40_000;
function call(ts: number, to: string, port: number, ip: string): ConnRecord {
  const orig_p = ++sport;
  const community_id = communityId(0, 6, '10.244.1.10', ip, orig_p, port);
  return conn({ ts, orig_h: '10.244.1.10', orig_p, resp_h: ip, resp_p: port, community_id }, API, pod('shop', to, `${to}-0`));
}

const ndjson = (rs: ConnRecord[]): string => rs.map((r) => JSON.stringify(r)).join('\n');

async function post(h: Harness, rs: ConnRecord[]): Promise<void> {
  const r = await h.call('POST', '/api/v1/flows?format=ndjson&wait=true', { key: h.keys.ingest, body: ndjson(rs) });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.rejected, 0, JSON.stringify(r.json.errors));
}

const ROUTES: [string, string, object?][] = [
  ['GET', '/api/v1/detectors/learning'],
  ['GET', '/api/v1/detectors/settings'],
  ['PUT', '/api/v1/detectors/settings', { learn_seconds: 60 }],
  ['DELETE', '/api/v1/detectors/settings'],
  ['GET', '/api/v1/detectors/baseline'],
  ['PUT', '/api/v1/detectors/baseline', { version: 1, edges: [] }],
  ['DELETE', '/api/v1/detectors/baseline'],
  ['POST', '/api/v1/detectors/reset', {}],
];

function suite(mode: Mode): void {
  describe(`service: detector settings, baseline, learning state and reset (${mode})`, function () {
    this.timeout(120_000);
    let h: Harness;
    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode, detectors: true });
    });
    after(async () => {
      await h?.stop();
    });

    it('every route wants a key, and an admin one', async () => {
      for (const [method, p, body] of ROUTES) {
        const none = await h.call(method, p, { key: null, body });
        assert.equal(none.status, 401, `${method} ${p} without a key: ${none.text}`);
        for (const role of ['analyst', 'ingest'] as const) {
          const r = await h.call(method, p, { key: h.keys[role], body });
          assert.equal(r.status, 403, `${method} ${p} as ${role}: ${r.text}`);
          assert.match(r.json.error, new RegExp(`role ${role}`));
        }
      }
      // Nothing was changed by the refused calls.
      const s = await h.call('GET', '/api/v1/detectors/settings', { key: h.keys.admin });
      assert.equal(s.status, 200, s.text);
      assert.equal(s.json.source, 'default');
      assert.equal(s.json.learn_seconds, null);
    });

    it('refuses bad settings and baselines, naming what is wrong', async () => {
      const admin = { key: h.keys.admin };
      const typo = await h.call('PUT', '/api/v1/detectors/settings', { ...admin, body: { config: { 'new-edge': { learning_secs: 5 } } } });
      assert.equal(typo.status, 400);
      assert.match(typo.json.error, /new-edge/);
      assert.match(typo.json.error, /learning_secs/);
      const weights = await h.call('PUT', '/api/v1/detectors/settings', { ...admin, body: { config: { beacon: { ts_weight: 0.5 } } } });
      assert.equal(weights.status, 400);
      assert.match(weights.json.error, /beacon weights must sum to 1, got 1.25/);
      const negative = await h.call('PUT', '/api/v1/detectors/settings', { ...admin, body: { learn_seconds: -1 } });
      assert.equal(negative.status, 400);
      assert.match(negative.json.error, /learn_seconds/);
      const huge = await h.call('PUT', '/api/v1/detectors/settings', { ...admin, body: { learn_seconds: 31 * 86_400 } });
      assert.equal(huge.status, 400);
      const extra = await h.call('PUT', '/api/v1/detectors/settings', { ...admin, body: { learn: 60 } });
      assert.equal(extra.status, 400);
      assert.match(extra.json.error, /learn/);
      const version = await h.call('PUT', '/api/v1/detectors/baseline', { ...admin, body: { version: 2, edges: [] } });
      assert.equal(version.status, 400);
      assert.match(version.json.error, /version/);
      const long = await h.call('PUT', '/api/v1/detectors/baseline', { ...admin, body: { version: 1, edges: ['x'.repeat(1025)] } });
      assert.equal(long.status, 400);
      assert.match(long.json.error, /edges\.0/);
      const reset = await h.call('POST', '/api/v1/detectors/reset', { ...admin, body: { everything: true } });
      assert.equal(reset.status, 400);
      const s = await h.call('GET', '/api/v1/detectors/settings', admin);
      assert.equal(s.json.source, 'default');
      const b = await h.call('GET', '/api/v1/detectors/baseline', admin);
      assert.equal(b.json.source, 'none');
      assert.equal(b.json.baseline, null);
    });

    it('learns over the window the settings give, shows it, resets it, and adopts a baseline', async () => {
      const admin = { key: h.keys.admin };
      const empty = await h.call('GET', '/api/v1/detectors/learning', admin);
      assert.equal(empty.status, 200, empty.text);
      assert.equal(empty.json.state, 'empty');
      assert.equal(empty.json.start, null);
      assert.equal(empty.json.data_first, null);

      const put = await h.call('PUT', '/api/v1/detectors/settings', {
        ...admin,
        body: { learn_seconds: 60, config: { 'new-edge': { novelty_seconds: 600 } } },
      });
      assert.equal(put.status, 200, put.text);
      assert.equal(put.json.source, 'api');
      assert.equal(put.json.learn_seconds, 60);
      assert.equal(put.json.config['new-edge'].novelty_seconds, 600);
      assert.equal(put.json.config['new-edge'].learning_seconds, 3600);
      assert.deepEqual(put.json.given, { 'new-edge': { novelty_seconds: 600 } });
      assert.equal(put.json.updated_by, 'test-admin');

      // Learning: two edges in the first minute of data.
      await post(h, [call(T0, 'postgres', 5432, '10.244.2.31'), call(T0 + 20, 'redis', 6379, '10.244.2.32')]);
      const learning = await h.call('GET', '/api/v1/detectors/learning', admin);
      assert.equal(learning.json.state, 'learning');
      assert.equal(learning.json.start, T0);
      assert.equal(learning.json.end, T0 + 60);
      assert.equal(learning.json.seconds, 60);
      assert.equal(learning.json.learned['new-edge'], 2);
      assert.equal(learning.json.detectors['new-edge'].window_start, T0);
      assert.equal(learning.json.detectors['new-edge'].window_seconds, 60);
      assert.equal(learning.json.detectors.beacon.window_seconds, 60);
      assert.equal(learning.json.baseline, false);
      assert.equal(learning.json.settings, 'api');

      // After the window: a third edge alerts.
      await post(h, [call(T0 + 120, 'kafka', 9092, '10.244.2.33'), call(T0 + 125, 'postgres', 5432, '10.244.2.31')]);
      const after = await h.call('GET', '/api/v1/detectors/learning', admin);
      assert.equal(after.json.state, 'detecting');
      assert.equal(after.json.learned['new-edge'], 2);
      assert.equal(after.json.data_last, T0 + 125.05);
      const alerts = await h.call('GET', '/api/v1/alerts?detector=new-edge', { key: h.keys.analyst });
      assert.deepEqual(
        alerts.json.alerts.map((a: { destination: { workload?: string } }) => a.destination.workload),
        ['kafka'],
      );
      const learned = await h.call('GET', '/api/v1/detectors/baseline?of=learned', admin);
      assert.equal(learned.json.source, 'learned');
      assert.deepEqual(learned.json.baseline.edges, ['shop/api|wl:shop/postgres|tcp/5432', 'shop/api|wl:shop/redis|tcp/6379']);

      // Reset: nothing learned, the next flow opens a new window.
      const reset = await h.call('POST', '/api/v1/detectors/reset', admin);
      assert.equal(reset.status, 200, reset.text);
      assert.equal(reset.json.learning.state, 'empty');
      assert.deepEqual(reset.json.learning.learned, { 'new-edge': 0, beacon: 0, 'sensitive-destination': 0, 'long-connection': 0 });
      assert.equal(reset.json.learning.reset_by, 'test-admin');
      assert.equal(reset.json.baseline_dropped, false);
      const afterReset = await h.call('GET', '/api/v1/detectors/learning', admin);
      assert.equal(afterReset.json.reset_at, reset.json.reset_at);
      assert.equal(afterReset.json.start, null);

      // A baseline of one edge: no learning window, the other edges alert from the first record.
      const edge = 'shop/api|wl:shop/postgres|tcp/5432';
      const b = await h.call('PUT', '/api/v1/detectors/baseline', { ...admin, body: { version: 1, edges: [edge] } });
      assert.equal(b.status, 200, b.text);
      assert.equal(b.json.source, 'api');
      assert.match(b.json.rev, /^[0-9a-f]{16}$/);
      const got = await h.call('GET', '/api/v1/detectors/baseline', admin);
      assert.deepEqual(got.json.baseline, { version: 1, edges: [edge], sensitive: [], long: [] });
      assert.equal(got.json.rev, b.json.rev);
      assert.equal(got.json.updated_by, 'test-admin');

      const T1 = T0 + 7200;
      await post(h, [call(T1, 'postgres', 5432, '10.244.2.31'), call(T1 + 5, 'memcached', 11211, '10.244.2.34')]);
      const withBaseline = await h.call('GET', '/api/v1/detectors/learning', admin);
      assert.equal(withBaseline.json.baseline, true);
      assert.equal(withBaseline.json.baseline_rev, b.json.rev);
      assert.equal(withBaseline.json.state, 'detecting');
      assert.equal(withBaseline.json.detectors['new-edge'].window_seconds, 0);
      assert.equal(withBaseline.json.learned['new-edge'], 1);
      const now = await h.call('GET', '/api/v1/alerts?detector=new-edge', { key: h.keys.analyst });
      assert.deepEqual(now.json.alerts.map((a: { destination: { workload?: string } }) => a.destination.workload).sort(), ['kafka', 'memcached']);

      // Dropping settings and baseline with the reset: back to the defaults.
      const full = await h.call('POST', '/api/v1/detectors/reset', { ...admin, body: { baseline: true, settings: true } });
      assert.equal(full.status, 200, full.text);
      assert.equal(full.json.learning.settings, 'default');
      const s = await h.call('GET', '/api/v1/detectors/settings', admin);
      assert.equal(s.json.source, 'default');
      assert.equal(s.json.learn_seconds, null);
      assert.equal((await h.call('GET', '/api/v1/detectors/baseline', admin)).json.source, 'none');
      await post(h, [call(T1 + 60, 'postgres', 5432, '10.244.2.31')]);
      const fresh = await h.call('GET', '/api/v1/detectors/learning', admin);
      assert.equal(fresh.json.state, 'learning');
      assert.equal(fresh.json.start, T1 + 60);
      assert.equal(fresh.json.seconds, 3600);
      assert.equal(fresh.json.baseline, false);
    });

    it('capture jobs run with the settings in force (a detector switched off raises nothing)', async () => {
      const admin = { key: h.keys.admin };
      const off = await h.call('PUT', '/api/v1/detectors/settings', { ...admin, body: { config: { scan: { enabled: false } } } });
      assert.equal(off.status, 200, off.text);
      const up = await h.call('POST', '/api/v1/captures?name=scan-off.pcap', { body: fs.readFileSync(sample('scan.pcap')) });
      assert.equal(up.status, 202, up.text);
      const events = await readEvents(`${h.url}/api/v1/captures/${up.json.capture.id}/events`, h.keys.analyst);
      const done = events[events.length - 1].data;
      assert.equal(done.state, 'completed');
      assert.equal(done.result.alerts, 0);
      await h.call('DELETE', '/api/v1/detectors/settings', admin);
    });
  });
}

suite('local');
suite('redis+es');

describe('service: detector settings from the configuration', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-detcfg-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('fails the start on a bad threshold, file or baseline, naming the setting', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ detectors: { config: { beacon: { threshold: 2 } } } }));
    assert.throws(
      () => loadConfig({ file, env: { EASTWATCH_DATA_DIR: dir } }),
      (e: Error) => e instanceof ConfigError && /bad\.json: detectors\.config/.test(e.message) && /beacon\.threshold/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ env: { EASTWATCH_DATA_DIR: dir, EASTWATCH_BASELINE: path.join(dir, 'missing.json') } }),
      (e: Error) => e instanceof ConfigError && /\$EASTWATCH_BASELINE/.test(e.message) && /missing\.json/.test(e.message),
    );
    const notBaseline = path.join(dir, 'nb.json');
    fs.writeFileSync(notBaseline, '{"edges": []}');
    assert.throws(
      () => loadConfig({ env: { EASTWATCH_DATA_DIR: dir, EASTWATCH_BASELINE: notBaseline } }),
      (e: Error) => e instanceof ConfigError && /not an eastwatch baseline/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ env: { EASTWATCH_DATA_DIR: dir, EASTWATCH_LEARN_SECONDS: 'soon' } }),
      (e: Error) => e instanceof ConfigError && /\$EASTWATCH_LEARN_SECONDS/.test(e.message),
    );
  });

  it('serves with the configured thresholds, window and baseline until the API replaces them', async () => {
    const thresholds = path.join(dir, 'thresholds.json');
    fs.writeFileSync(thresholds, JSON.stringify({ beacon: { threshold: 0.9 } }));
    const baseline = path.join(dir, 'baseline.json');
    fs.writeFileSync(baseline, JSON.stringify({ version: 1, edges: ['shop/api|wl:shop/postgres|tcp/5432'], sensitive: [] }));
    const h = await startHarness({
      mode: 'local',
      detectors: true,
      env: { EASTWATCH_DETECTOR_CONFIG: thresholds, EASTWATCH_BASELINE: baseline, EASTWATCH_LEARN_SECONDS: '900' },
    });
    try {
      const admin = { key: h.keys.admin };
      const s = await h.call('GET', '/api/v1/detectors/settings', admin);
      assert.equal(s.json.source, 'configuration');
      assert.equal(s.json.config.beacon.threshold, 0.9);
      assert.equal(s.json.learn_seconds, 900);
      assert.deepEqual(s.json.given, { beacon: { threshold: 0.9 } });
      const b = await h.call('GET', '/api/v1/detectors/baseline', admin);
      assert.equal(b.json.source, 'configuration');
      assert.deepEqual(b.json.baseline.edges, ['shop/api|wl:shop/postgres|tcp/5432']);
      await post(h, [call(T0, 'postgres', 5432, '10.244.2.31'), call(T0 + 1, 'redis', 6379, '10.244.2.32')]);
      const l = await h.call('GET', '/api/v1/detectors/learning', admin);
      assert.equal(l.json.baseline, true);
      assert.equal(l.json.baseline_rev, b.json.rev);
      const alerts = await h.call('GET', '/api/v1/alerts?detector=new-edge');
      assert.deepEqual(
        alerts.json.alerts.map((a: { destination: { workload?: string } }) => a.destination.workload),
        ['redis'],
      );
      // The API's settings win over the configuration's, and clearing them brings those back.
      const put = await h.call('PUT', '/api/v1/detectors/settings', { ...admin, body: { learn_seconds: 30 } });
      assert.equal(put.json.source, 'api');
      assert.equal(put.json.config.beacon.threshold, 0.85);
      const back = await h.call('DELETE', '/api/v1/detectors/settings', admin);
      assert.equal(back.json.source, 'configuration');
      assert.equal(back.json.config.beacon.threshold, 0.9);
    } finally {
      await h.stop();
    }
  });
});
