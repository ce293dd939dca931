/**
 * Namespace-scoped keys, on the embedded default and on Redis + Elasticsearch: every route of the
 * API, enumerated from the Express router (not from a list kept here), is called with a key
 * scoped to one namespace, and nothing recorded outside that namespace may come back. A route
 * the table below does not know must refuse a scoped key (403): a route added without thinking
 * about scopes fails here unless it refuses such keys, which is what route.ts does by default.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Express } from 'express';
import type { Alert } from '../../detectors/contract/alert';
import type { ConnRecord } from '../../parsers/record/conn';
import * as path from 'node:path';
import { UI_DIR, UI_ROUTE } from '../../src/service/api/ui';
import { KeyScopeError } from '../../src/service/keys';
import { analyzerFactory } from '../../src/analyze/app';
import { analyzeFile } from '../../src/analyze/pipeline';
import { scopedStore } from '../../src/service/api/scope';
import { withClusters } from '../../src/service/jobs/detect';
import { clusterAlertId, DEFAULT_CLUSTER } from '../../src/k8s/cluster';
import { appRecordId } from '../../src/store/app-records';
import { SqliteStore } from '../../src/store/sqlite';
import type { StoreAppRecord, StoreRecord } from '../../src/store/types';
import { type Harness, type Mode, requireElasticsearch, sample, startHarness } from './harness';

const OUT_NS = 'vault';
const APP_KINDS = ['dns', 'http', 'tls', 'ssh', 'app'] as const;
const IN_NS = 'shop';

interface RouteId {
  method: string;
  path: string;
}

/** Every route of the app: the API router's (under /api/v1) and the app's own. */
function routesOf(app: Express): RouteId[] {
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
  const out: RouteId[] = [];
  const walk = (stack: Layer[], prefix: string): void => {
    for (const l of stack) {
      if (l.route) {
        for (const m of Object.keys(l.route.methods)) if (m !== '_all') out.push({ method: m.toUpperCase(), path: `${prefix}${l.route.path}` });
      } else if (l.handle?.stack) {
        // The only mounted router with routes of its own is the API's (bull-board's is admin-only, below).
        const inner = l.handle.stack.filter((x) => x.route);
        if (inner.length > 0) walk(l.handle.stack, '/api/v1');
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out;
}

function appOf(h: Harness): Express {
  const app = h.running.app;
  assert.ok(app, 'the service runs the API');
  return app;
}

for (const mode of ['local', 'redis+es'] as Mode[]) {
  describe(`namespace-scoped keys (${mode})`, function () {
    this.timeout(180_000);
    let h: Harness;
    let scoped: string;
    let scopedIngest: string;
    let captureId: string;
    /** Out of scope: the capture's own records (no namespace), and one between two vault pods. */
    const outUids: string[] = [];
    let inUid = '';
    let inFlowUid = '';

    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode });
      const ks = h.running.runtime.keys;
      scoped = ks.create('team-shop', 'analyst', { namespaces: [IN_NS] }).token;
      scopedIngest = ks.create('team-shop-ingest', 'ingest', { namespaces: [IN_NS] }).token;

      // A real capture, uploaded by an unscoped analyst: its records carry no namespace.
      const up = await h.call('POST', '/api/v1/captures?name=analyst-secret-name.pcap', {
        body: fs.readFileSync(sample('pod-traffic.pcap')),
        headers: { 'content-type': 'application/octet-stream' },
      });
      assert.equal(up.status, 202, up.text);
      captureId = up.json.capture.id;
      for (let i = 0; i < 600; i++) {
        const j = await h.call('GET', `/api/v1/captures/${captureId}`);
        if (j.json.state === 'completed') break;
        assert.notEqual(j.json.state, 'failed', j.text);
        await new Promise((r) => setTimeout(r, 100));
      }
      const store = h.running.runtime.store;
      await store.refresh();
      const captured = (await store.search({ limit: 1000 })).records as ConnRecord[];
      assert.ok(captured.length >= 3, `the capture gave ${captured.length} records`);
      outUids.push(...captured.map((r) => r.uid));
      // In scope: a copy of a captured connection (same packets) with a shop pod at one end, and a
      // flow-log one (no packets) from shop to vault: one end in scope is enough.
      const base = captured[0];
      inUid = `Cshop${base.uid.slice(1)}`;
      inFlowUid = 'CflowShopToBilling1';
      const inRec: ConnRecord = {
        ...base,
        uid: inUid,
        k8s: {
          orig: { kind: 'pod', namespace: IN_NS, workload: 'frontend', pod: 'frontend-1' },
          resp: { kind: 'external' },
          direction: 'outbound',
          scope: 'other',
        },
      };
      const inFlow: ConnRecord = {
        ...base,
        uid: inFlowUid,
        capture: undefined,
        orig_h: '10.55.5.1',
        resp_h: '10.55.5.2',
        k8s: {
          orig: { kind: 'pod', namespace: IN_NS, workload: 'api', pod: 'api-1' },
          resp: { kind: 'pod', namespace: 'billing', workload: 'ledger', pod: 'ledger-1' },
          direction: 'internal',
          scope: 'cross-namespace',
        },
      };
      const outRec: ConnRecord = {
        ...base,
        uid: 'CvaultToVault1',
        capture: undefined,
        orig_h: '10.66.6.1',
        resp_h: '10.66.6.2',
        k8s: {
          orig: { kind: 'pod', namespace: OUT_NS, workload: 'unsealer', pod: 'unsealer-1' },
          resp: { kind: 'pod', namespace: OUT_NS, workload: 'keystore', pod: 'keystore-1' },
          direction: 'internal',
          scope: 'same-namespace',
        },
      };
      outUids.push(outRec.uid);
      const w = await store.write([inRec, inFlow, outRec]);
      assert.equal(w.written, 3);
      const alert = {
        detector: 'lateral-admin',
        title: 'SSH between pods',
        severity: 'high' as const,
        score: 0.9,
        mitre: ['T1021.004'],
        first_seen: base.ts,
        last_seen: base.ts + 60,
        count: 1,
        evidence: { uids: [inFlowUid], figures: { port: 22 } },
        status: 'open' as const,
      };
      const alerts: Alert[] = [
        { ...alert, id: 'a-scope-in', source: { namespace: IN_NS, workload: 'api' }, destination: { namespace: 'billing', workload: 'ledger', port: 22 } },
        {
          ...alert,
          id: 'a-scope-out',
          evidence: { uids: ['CvaultToVault1'], figures: { port: 22 } },
          source: { namespace: OUT_NS, workload: 'unsealer' },
          destination: { namespace: OUT_NS, workload: 'keystore', port: 22 },
        },
      ];
      await store.writeAlerts(alerts);
      await store.refresh();
    });

    after(async () => {
      await h?.stop();
    });

    /** Nothing recorded outside the scope, whatever the route answered. */
    const noLeak = (what: string, text: string): void => {
      for (const u of outUids) assert.ok(!text.includes(u), `${what}: out-of-scope uid ${u} in ${text.slice(0, 400)}`);
      for (const marker of [OUT_NS, '10.66.6.', 'a-scope-out', 'analyst-secret-name', 'test-analyst'])
        assert.ok(!text.includes(marker), `${what}: '${marker}' in ${text.slice(0, 400)}`);
    };
    const as = async (method: string, p: string, body?: object | Uint8Array, headers?: Record<string, string>) => {
      const r = await h.call(method, p, { key: scoped, body, headers });
      // A 404 may name the id it was asked for: that is the caller's own text, not a leak.
      const asked = /\/(?:connections|alerts)\/([A-Za-z0-9_-]+)/.exec(p)?.[1];
      noLeak(`${method} ${p}`, asked && r.status === 404 ? r.text.split(asked).join('') : r.text);
      return r;
    };
    const uidsOf = (r: { json: { records: { uid: string }[] } }): string[] => r.json.records.map((x) => x.uid).sort();

    /** What each route must do for the scoped key; routes not here must refuse it. */
    const PROBES: Record<string, () => Promise<void>> = {
      'GET /healthz': async () => {
        assert.equal((await as('GET', '/healthz')).status, 200);
      },
      'GET /api/v1/whoami': async () => {
        const r = await as('GET', '/api/v1/whoami');
        assert.deepEqual(r.json.key.scope, { namespaces: [IN_NS] });
      },
      'GET /api/v1/openapi.json': async () => {
        assert.equal((await h.call('GET', '/api/v1/openapi.json', { key: scoped })).status, 200);
      },
      'GET /api/v1/fields': async () => {
        assert.equal((await as('GET', '/api/v1/fields')).status, 200);
      },
      'POST /api/v1/captures': async () => {
        // The same bytes again: known, but not whose or what they held.
        const r = await as('POST', '/api/v1/captures?name=mine.pcap', fs.readFileSync(sample('pod-traffic.pcap')), {
          'content-type': 'application/octet-stream',
        });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.json.created, false);
        assert.equal(r.json.capture.result, null);
      },
      'GET /api/v1/captures': async () => {
        const r = await as('GET', '/api/v1/captures');
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.captures, []);
        assert.equal(r.json.counts.completed, 0);
      },
      'GET /api/v1/captures/:id': async () => {
        assert.equal((await as('GET', `/api/v1/captures/${captureId}`)).status, 404);
      },
      'GET /api/v1/captures/:id/events': async () => {
        assert.equal((await as('GET', `/api/v1/captures/${captureId}/events`)).status, 404);
      },
      'POST /api/v1/flows': async () => {
        // Writing is not reading: a scoped ingest key sends flows; the answer is about its own lines.
        const r = await h.call('POST', '/api/v1/flows?format=ndjson', {
          key: scopedIngest,
          body: 'not json\n',
          headers: { 'content-type': 'application/x-ndjson' },
        });
        noLeak('POST /api/v1/flows', r.text);
        assert.ok(r.status === 202 || r.status === 400, r.text);
      },
      'GET /api/v1/connections': async () => {
        const r = await as('GET', '/api/v1/connections?limit=1000');
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(uidsOf(r), [inFlowUid, inUid].sort());
        // The user's query is narrowed, not replaced; keyset pages stay within the scope.
        const q = await as('GET', `/api/v1/connections?q=${encodeURIComponent(`ns:billing or uid:${outUids[0]}`)}`);
        assert.deepEqual(uidsOf(q), [inFlowUid]);
        const p1 = await as('GET', '/api/v1/connections?limit=1');
        const p2 = await as('GET', `/api/v1/connections?limit=1&after=${encodeURIComponent(p1.json.next)}`);
        assert.deepEqual([...uidsOf(p1), ...uidsOf(p2)].sort(), [inFlowUid, inUid].sort());
        assert.equal(p2.json.next, null);
      },
      // The capture's application records carry no namespace (no inventory): nothing of them comes back.
      ...Object.fromEntries(
        APP_KINDS.map((k) => [
          `GET /api/v1/${k}`,
          async () => {
            const r = await as('GET', `/api/v1/${k}?limit=1000`);
            assert.equal(r.status, 200, r.text);
            assert.deepEqual(r.json.records, []);
          },
        ]),
      ),
      'GET /api/v1/connections/:uid': async () => {
        assert.equal((await as('GET', `/api/v1/connections/${inUid}`)).status, 200);
        for (const u of outUids) assert.equal((await as('GET', `/api/v1/connections/${u}`)).status, 404);
      },
      'GET /api/v1/aggregations/count': async () => {
        assert.equal((await as('GET', '/api/v1/aggregations/count')).json.count, 2);
      },
      'GET /api/v1/aggregations/top': async () => {
        const r = await as('GET', '/api/v1/aggregations/top?field=ns&limit=100');
        assert.deepEqual(r.json.buckets.map((b: { key: string }) => b.key).sort(), ['billing', IN_NS]);
      },
      'GET /api/v1/aggregations/histogram': async () => {
        const r = await as('GET', '/api/v1/aggregations/histogram?interval=86400');
        assert.equal(
          r.json.buckets.reduce((n: number, b: { connections: number }) => n + b.connections, 0),
          2,
        );
      },
      'GET /api/v1/aggregations/distinct': async () => {
        assert.equal((await as('GET', '/api/v1/aggregations/distinct?field=uid')).json.distinct, 2);
      },
      'GET /api/v1/aggregations/edges': async () => {
        const r = await as('GET', '/api/v1/aggregations/edges');
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.edges.length, 2);
        for (const e of r.json.edges) assert.ok(e.source.namespace === IN_NS || e.destination.namespace === IN_NS, JSON.stringify(e));
      },
      'GET /api/v1/export': async () => {
        const r = await as('GET', '/api/v1/export?format=ndjson');
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(
          r.text
            .trim()
            .split('\n')
            .map((l) => (JSON.parse(l) as ConnRecord).uid)
            .sort(),
          [inFlowUid, inUid].sort(),
        );
      },
      'GET /api/v1/alerts': async () => {
        const r = await as('GET', '/api/v1/alerts');
        assert.deepEqual(
          r.json.alerts.map((a: { id: string }) => a.id),
          ['a-scope-in'],
        );
      },
      'GET /api/v1/alerts/:id': async () => {
        assert.equal((await as('GET', '/api/v1/alerts/a-scope-in')).status, 200);
        assert.equal((await as('GET', '/api/v1/alerts/a-scope-out')).status, 404);
      },
      'PATCH /api/v1/alerts/:id': async () => {
        assert.equal((await as('PATCH', '/api/v1/alerts/a-scope-out', { status: 'closed' })).status, 404);
        assert.equal((await h.running.runtime.store.getAlert('a-scope-out'))?.status, 'open');
        const ok = await as('PATCH', '/api/v1/alerts/a-scope-in', { note: 'ours' });
        assert.equal(ok.status, 200, ok.text);
      },
      'GET /api/v1/inventory': async () => {
        assert.equal((await as('GET', '/api/v1/inventory')).status, 200);
      },
      'POST /api/v1/policies/what-if': async () => {
        // No inventory here: the point is that nothing else comes back.
        assert.equal((await as('POST', '/api/v1/policies/what-if', { policies: [] })).status, 409);
      },
      'POST /api/v1/policies/suggest': async () => {
        assert.equal((await as('POST', '/api/v1/policies/suggest', {})).status, 409);
      },
      'GET /api/v1/connections/:uid/pcap': async () => {
        const ok = await h.call('GET', `/api/v1/connections/${inUid}/pcap`, { key: scoped });
        assert.equal(ok.status, 200, ok.text.slice(0, 200));
        assert.ok(ok.text.length > 24);
        for (const u of outUids) assert.equal((await as('GET', `/api/v1/connections/${u}/pcap`)).status, 404);
      },
      'GET /api/v1/connections/:uid/session': async () => {
        const ok = await h.call('GET', `/api/v1/connections/${inUid}/session`, { key: scoped });
        assert.equal(ok.status, 200, ok.text.slice(0, 200));
        assert.equal(ok.json.uid, inUid);
        assert.ok(ok.json.packets.length > 0, ok.text.slice(0, 200));
        for (const u of outUids) assert.equal((await as('GET', `/api/v1/connections/${u}/session`)).status, 404);
      },
      'GET /api/v1/pcap': async () => {
        // The query matches the capture's own records too; only the in-scope copy's packets come back.
        const all = await h.call('GET', '/api/v1/pcap');
        const mine = await h.call('GET', '/api/v1/pcap', { key: scoped });
        const one = await h.call('GET', `/api/v1/connections/${inUid}/pcap`, { key: scoped });
        assert.equal(mine.status, 200);
        assert.equal(mine.text, one.text);
        assert.ok(all.text.length > mine.text.length, `unscoped ${all.text.length} bytes, scoped ${mine.text.length}`);
      },
    };

    // The UI's page shell (mounted when the UI was built, as in CI) holds no data: the same bytes
    // for a scoped key as for no key at all; the data comes through the API routes above.
    if (fs.existsSync(path.join(UI_DIR, 'index.html'))) {
      PROBES[`GET ${String(UI_ROUTE)}`] = async () => {
        const anon = await h.call('GET', '/connections', { key: null });
        const mine = await as('GET', '/connections');
        assert.equal(mine.status, 200);
        assert.match(mine.text, /<title>eastwatch<\/title>/);
        assert.equal(mine.text, anon.text);
      };
    }

    it('every route answers a scoped key with its namespaces only, or refuses it', async () => {
      const routes = routesOf(appOf(h));
      assert.ok(routes.length > 30, `${routes.length} routes enumerated`);
      const seen = new Set<string>();
      for (const r of routes) {
        const id = `${r.method} ${r.path}`;
        seen.add(id);
        const probe = PROBES[id];
        if (probe) {
          await probe();
          continue;
        }
        // Not known here: it must refuse a scoped key, whatever it takes.
        const p = r.path.replace(/:([A-Za-z_]+)/g, (_m, name: string) => (name === 'id' ? 'a'.repeat(64) : 'x'));
        const res = await as(r.method, p, r.method === 'GET' || r.method === 'DELETE' ? undefined : {});
        assert.equal(
          res.status,
          403,
          `${id} answered a namespace-scoped key ${res.status}: ${res.text.slice(0, 300)}; scope it (RouteDef.scope) and add a probe here`,
        );
      }
      const stale = Object.keys(PROBES).filter((k) => !seen.has(k));
      assert.deepEqual(stale, [], 'probes for routes the router no longer has');
    });

    it('suppressions refuse a scoped key with the reason', async () => {
      const sup = await as('GET', '/api/v1/suppressions');
      assert.equal(sup.status, 403);
      assert.match(sup.json.error, /not available to a namespace-scoped key/);
      // The same route answers an unscoped analyst.
      assert.equal((await h.call('GET', '/api/v1/suppressions')).status, 200);
    });

    it('admin API creates scoped keys; admin keys cannot be scoped; bad names are a 400', async () => {
      const made = await h.call('POST', '/api/v1/keys', { key: h.keys.admin, body: { name: 'team-b', role: 'analyst', namespaces: ['billing', 'billing'] } });
      assert.equal(made.status, 201, made.text);
      assert.deepEqual(made.json.key.scope, { namespaces: ['billing'] });
      const who = await h.call('GET', '/api/v1/whoami', { key: made.json.token });
      assert.deepEqual(who.json.key.scope, { namespaces: ['billing'] });
      const count = await h.call('GET', '/api/v1/aggregations/count', { key: made.json.token });
      assert.equal(count.json.count, 1);
      const admin = await h.call('POST', '/api/v1/keys', { key: h.keys.admin, body: { name: 'x', role: 'admin', namespaces: ['a'] } });
      assert.equal(admin.status, 400);
      assert.match(admin.json.error, /admin key cannot be namespace- or cluster-scoped/);
      const bad = await h.call('POST', '/api/v1/keys', { key: h.keys.admin, body: { name: 'x', role: 'analyst', namespaces: ['Not_A_Namespace'] } });
      assert.equal(bad.status, 400);
      assert.match(bad.json.error, /namespaces\.0/);
      assert.equal((await h.call('POST', '/api/v1/keys', { key: scoped, body: { name: 'x', role: 'analyst' } })).status, 403);
      const list = await h.call('GET', '/api/v1/keys', { key: h.keys.admin });
      assert.ok(list.json.keys.every((k: Record<string, unknown>) => !('hash' in k)));
      const revoked = await h.call('DELETE', `/api/v1/keys/${made.json.key.id}`, { key: h.keys.admin });
      assert.equal(revoked.status, 204);
      assert.equal((await h.call('GET', '/api/v1/whoami', { key: made.json.token })).status, 401);
      assert.throws(() => h.running.runtime.keys.create('y', 'admin', { namespaces: ['a'] }), KeyScopeError);
    });

    describe('cluster-scoped keys', () => {
      /**
       * Two clusters with a namespace of the same name (`cart`), owned by different teams: east's
       * cart talks to east's ledger, west's cart to itself, east's ledger to itself, and one record
       * of `cart` without a cluster (stored before clusters were named).
       */
      const U = { eastCart: 'CeastCartToLedger1', westCart: 'CwestCartToCart1', eastLedger: 'CeastLedgerToLedger1', noCluster: 'CnoclusterCart1' };
      /** The alert raised on each. */
      const A: Record<string, string> = {
        [U.eastCart]: 'a-east-cart',
        [U.westCart]: 'a-wq-cart',
        [U.eastLedger]: 'a-east-ledger',
        [U.noCluster]: 'a-nocluster-cart',
      };
      const keys: Record<'east' | 'eastCart' | 'eastAndCart' | 'cart' | 'westSlashCart', string> = {
        east: '',
        eastCart: '',
        eastAndCart: '',
        cart: '',
        westSlashCart: '',
      };
      before(async () => {
        const store = h.running.runtime.store;
        const base = (await store.get(outUids[0])) as StoreRecord;
        const pod = (namespace: string, workload: string) => ({ kind: 'pod' as const, namespace, workload, pod: `${workload}-1` });
        const rec = (uid: string, cluster: string | undefined, a: string, b: string, ip: string): StoreRecord => ({
          ...base,
          uid,
          capture: undefined,
          cluster,
          orig_h: `10.77.${ip}.1`,
          resp_h: `10.77.${ip}.2`,
          k8s: { orig: pod(a, `${a}-app`), resp: pod(b, `${b}-app`), direction: 'internal', scope: a === b ? 'same-namespace' : 'cross-namespace' },
        });
        const w = await store.write([
          rec(U.eastCart, 'east', 'cart', 'ledger', '1'),
          rec(U.westCart, 'westq', 'cart', 'cart', '2'),
          rec(U.eastLedger, 'east', 'ledger', 'ledger', '3'),
          rec(U.noCluster, undefined, 'cart', 'cart', '4'),
        ]);
        assert.equal(w.written, 4);
        // An alert on each of the four, with the cluster of the record it was raised on (none for the last).
        const alert = (id: string, uid: string, cluster: string | undefined, a: string, b: string): Alert => ({
          id,
          detector: 'lateral-admin',
          title: 'SSH between pods',
          severity: 'high',
          score: 0.9,
          mitre: ['T1021.004'],
          first_seen: base.ts,
          last_seen: base.ts + 60,
          count: 1,
          evidence: { uids: [uid], figures: { port: 22 } },
          status: 'open',
          source: { namespace: a, workload: `${a}-app` },
          destination: { namespace: b, workload: `${b}-app`, port: 22 },
          ...(cluster ? { cluster } : {}),
        });
        await store.writeAlerts([
          alert(A[U.eastCart], U.eastCart, 'east', 'cart', 'ledger'),
          alert(A[U.westCart], U.westCart, 'westq', 'cart', 'cart'),
          alert(A[U.eastLedger], U.eastLedger, 'east', 'ledger', 'ledger'),
          alert(A[U.noCluster], U.noCluster, undefined, 'cart', 'cart'),
        ]);
        await store.refresh();
        const ks = h.running.runtime.keys;
        keys.east = ks.create('cluster-east', 'analyst', { clusters: ['east'] }).token;
        keys.eastCart = ks.create('east-cart', 'analyst', { namespaces: ['east/cart'] }).token;
        keys.eastAndCart = ks.create('east-and-cart', 'analyst', { clusters: ['east'], namespaces: ['cart'] }).token;
        keys.cart = ks.create('cart-anywhere', 'analyst', { namespaces: ['cart'] }).token;
        keys.westSlashCart = ks.create('west-cart', 'analyst', { namespaces: ['westq/cart', 'ledger'], clusters: ['westq'] }).token;
      });

      /** What each key must see of the four, on every way of reading connections. */
      const EXPECT: Record<keyof typeof keys, string[]> = {
        east: [U.eastCart, U.eastLedger],
        eastCart: [U.eastCart],
        eastAndCart: [U.eastCart],
        cart: [U.eastCart, U.westCart, U.noCluster],
        westSlashCart: [U.westCart],
      };
      const ours = (uids: string[]): string[] => uids.filter((u) => Object.values(U).includes(u)).sort();

      it("narrows searches, counts, aggregations, edges, exports and reads by uid to the key's clusters", async () => {
        for (const [name, key] of Object.entries(keys) as [keyof typeof keys, string][]) {
          const want = [...EXPECT[name]].sort();
          const call = (p: string) => h.call('GET', p, { key });
          const list = await call('/api/v1/connections?limit=1000');
          assert.equal(list.status, 200, `${name}: ${list.text}`);
          // Cluster-scoped keys see nothing else at all (the capture's own records carry the default cluster or none).
          const all = (list.json.records as { uid: string }[]).map((r) => r.uid).sort();
          if (name !== 'cart') assert.deepEqual(all, want, name);
          else assert.deepEqual(ours(all), want, name);
          const count = await call('/api/v1/aggregations/count');
          assert.equal(count.json.count, all.length, `${name}: count`);
          const q = await call(`/api/v1/connections?q=${encodeURIComponent('cluster:westq or ns:ledger')}`);
          assert.deepEqual(
            ours((q.json.records as { uid: string }[]).map((r) => r.uid)),
            want.filter((u) => u !== U.noCluster && (u === U.westCart || u === U.eastCart || u === U.eastLedger)),
            `${name}: the user's query is narrowed, not replaced`,
          );
          const top = await call('/api/v1/aggregations/top?field=cluster&limit=100');
          const clusters = (top.json.buckets as { key: string }[]).map((b) => b.key);
          if (name === 'east' || name === 'eastCart' || name === 'eastAndCart') assert.deepEqual(clusters, ['east'], name);
          if (name === 'westSlashCart') assert.deepEqual(clusters, ['westq'], name);
          const edges = await call('/api/v1/aggregations/edges');
          assert.equal(edges.status, 200, edges.text);
          const exp = await call('/api/v1/export?format=ndjson');
          const exported =
            exp.text.trim() === ''
              ? []
              : exp.text
                  .trim()
                  .split('\n')
                  .map((l) => (JSON.parse(l) as { uid: string }).uid)
                  .sort();
          assert.deepEqual(exported, all, `${name}: export`);
          for (const u of Object.values(U)) {
            const one = await call(`/api/v1/connections/${u}`);
            assert.equal(one.status, want.includes(u) ? 200 : 404, `${name}: GET ${u}`);
          }
        }
      });

      it("narrows alert searches, reads and triage to the key's clusters and namespaces", async () => {
        for (const [name, key] of Object.entries(keys) as [keyof typeof keys, string][]) {
          const want = EXPECT[name].map((u) => A[u]).sort();
          const list = await h.call('GET', '/api/v1/alerts?limit=1000', { key });
          assert.equal(list.status, 200, `${name}: ${list.text}`);
          assert.deepEqual((list.json.alerts as { id: string }[]).map((a) => a.id).sort(), want, `${name}: alerts`);
          for (const id of Object.values(A)) {
            assert.equal((await h.call('GET', `/api/v1/alerts/${id}`, { key })).status, want.includes(id) ? 200 : 404, `${name}: GET ${id}`);
          }
          const other = Object.values(A).find((id) => !want.includes(id)) as string;
          assert.equal((await h.call('PATCH', `/api/v1/alerts/${other}`, { key, body: { note: name } })).status, 404, `${name}: PATCH ${other}`);
        }
        assert.equal((await h.running.runtime.store.getAlert(A[U.westCart]))?.cluster, 'westq');
        assert.equal((await h.running.runtime.store.getAlert(A[U.noCluster]))?.note, undefined, 'no out-of-scope triage');
      });

      it('leaks nothing of another cluster on any route', async () => {
        const markers = ['10.77.2.', U.westCart, U.noCluster, 'westq', 'a-scope-in', 'a-scope-out', 'a-wq-cart', 'a-nocluster-cart', 'analyst-secret-name'];
        for (const r of routesOf(appOf(h))) {
          const p = r.path.replace(/:([A-Za-z_]+)/g, (_m, name: string) => (name === 'id' ? 'a'.repeat(64) : name === 'uid' ? U.westCart : 'x'));
          const res = await h.call(r.method, p, { key: keys.east, body: r.method === 'GET' || r.method === 'DELETE' ? undefined : {} });
          const text = res.status === 404 ? res.text.split(U.westCart).join('') : res.text;
          for (const m of markers) assert.ok(!text.includes(m), `${r.method} ${p}: '${m}' in ${text.slice(0, 300)}`);
        }
        // Alerts without a cluster (a-scope-in, stored before clusters were kept on alerts) match no cluster-scoped key.
        assert.equal((await h.call('GET', '/api/v1/alerts/a-scope-in', { key: keys.eastCart })).status, 404);
      });

      it('admin API and whoami carry clusters and cluster/namespace; bad names are a 400', async () => {
        const made = await h.call('POST', '/api/v1/keys', {
          key: h.keys.admin,
          body: { name: 'team-east', role: 'analyst', clusters: ['east', 'east'], namespaces: ['east/cart'] },
        });
        assert.equal(made.status, 201, made.text);
        assert.deepEqual(made.json.key.scope, { clusters: ['east'], namespaces: ['east/cart'] });
        const who = await h.call('GET', '/api/v1/whoami', { key: made.json.token });
        assert.deepEqual(who.json.key.scope, { clusters: ['east'], namespaces: ['east/cart'] });
        const count = await h.call('GET', '/api/v1/aggregations/count', { key: made.json.token });
        assert.equal(count.json.count, 1);
        for (const body of [
          { name: 'x', role: 'analyst', clusters: ['East_1'] },
          { name: 'x', role: 'analyst', namespaces: ['a/b/c'] },
          { name: 'x', role: 'analyst', clusters: [] },
        ]) {
          const bad = await h.call('POST', '/api/v1/keys', { key: h.keys.admin, body });
          assert.equal(bad.status, 400, `${JSON.stringify(body)}: ${bad.text}`);
        }
        const admin = await h.call('POST', '/api/v1/keys', { key: h.keys.admin, body: { name: 'x', role: 'admin', clusters: ['east'] } });
        assert.equal(admin.status, 400);
      });
    });
  });
}

/**
 * Application records carry their connection's cluster and namespaces: a scoped key searches
 * them narrowed like the connections, on a real capture resolved against its inventory.
 */
for (const mode of ['local', 'redis+es'] as Mode[]) {
  describe(`scoped keys and application records (${mode})`, function () {
    this.timeout(180_000);
    let h: Harness;
    /** Every application record of the capture, by kind (unscoped). */
    const all = new Map<string, StoreAppRecord[]>();
    const OLD_UID = 'ColdNoPlacement1';

    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode });
      const inv = await h.call('POST', '/api/v1/inventory?source=test&cluster=east', {
        key: h.keys.ingest,
        body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(inv.status, 201, inv.text);
      const up = await h.call('POST', '/api/v1/captures?name=cluster.pcap&cluster=east', {
        body: fs.readFileSync(sample('k8s/cluster.pcap')),
        headers: { 'content-type': 'application/octet-stream' },
      });
      assert.equal(up.status, 202, up.text);
      for (let i = 0; i < 1200; i++) {
        const j = await h.call('GET', `/api/v1/captures/${up.json.capture.id}`);
        if (j.json.state === 'completed') break;
        assert.notEqual(j.json.state, 'failed', j.text);
        await new Promise((r) => setTimeout(r, 100));
      }
      const store = h.running.runtime.store;
      await store.refresh();
      // One record as stored before placement was kept: a copy of a dns record without it.
      const dns = (await store.searchApp('dns', { limit: 1 })).records[0];
      assert.ok(dns, 'the capture has dns records');
      const { placement: _p, ...bare } = dns;
      assert.equal((await store.writeApp([{ ...bare, uid: OLD_UID, conn: { ...bare.conn, uid: OLD_UID } }])).written, 1);
      await store.refresh();
      for (const k of APP_KINDS) all.set(k, (await store.searchApp(k, { limit: 10_000 })).records);
    });
    after(async () => {
      await h?.stop();
    });

    const idsOf = (rs: StoreAppRecord[]): string[] => rs.map(appRecordId).sort();
    /** Every page of one kind's search as a key sees it. */
    const scopedApps = async (key: string | undefined, kind: string, q = ''): Promise<StoreAppRecord[]> => {
      const out: StoreAppRecord[] = [];
      let after: string | null = null;
      for (let i = 0; i < 100; i++) {
        const p = `/api/v1/${kind}?limit=1000${q ? `&q=${encodeURIComponent(q)}` : ''}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
        const r = await h.call('GET', p, key === undefined ? {} : { key });
        assert.equal(r.status, 200, r.text);
        out.push(...r.json.records);
        after = r.json.next;
        if (after === null) return out;
      }
      throw new Error(`${kind}: more than 100 pages`);
    };

    it('a namespace-scoped key sees exactly the application records of the connections in its namespaces', async () => {
      const store = h.running.runtime.store;
      const ks = h.running.runtime.keys;
      assert.ok((all.get('dns') ?? []).length > 1 && (all.get('http') ?? []).length > 0, 'dns and http records in the capture');
      let seen = 0;
      for (const ns of ['shop', 'data', 'monitoring', 'kube-system', 'nowhere']) {
        const key = ks.create(`apps-${ns}`, 'analyst', { namespaces: [ns] }).token;
        const conns = new Set((await store.search({ query: `ns:${JSON.stringify(ns)}`, limit: 10_000 })).records.map((r) => r.uid));
        const count = await h.call('GET', '/api/v1/aggregations/count', { key });
        assert.equal(count.json.count, conns.size, `${ns}: connections`);
        for (const k of APP_KINDS) {
          const want = (all.get(k) ?? []).filter((r) => conns.has(r.uid));
          const got = await scopedApps(key, k);
          assert.deepEqual(idsOf(got), idsOf(want), `${ns}: ${k} records`);
          assert.equal(got.length, want.length, `${ns}: ${k} count`);
          for (const r of got) assert.ok(r.placement?.source_namespace === ns || r.placement?.destination_namespace === ns, JSON.stringify(r.placement));
          assert.ok(!got.some((r) => r.uid === OLD_UID), `${ns}: the record without placement stays invisible`);
          seen += got.length;
        }
      }
      assert.ok(seen > 0, 'some application records are in a namespace');
      // The user's query is narrowed, not replaced; keyset pages stay within the scope.
      const shop = ks.create('apps-shop-q', 'analyst', { namespaces: ['shop'] }).token;
      const shopDns = await scopedApps(shop, 'dns');
      const name = shopDns[0]?.kind === 'dns' ? shopDns[0].query : null;
      if (name !== null) {
        const q = await scopedApps(shop, 'dns', `dns.question.name:${JSON.stringify(name)}`);
        assert.deepEqual(idsOf(q), idsOf(shopDns.filter((r) => r.kind === 'dns' && r.query === name)));
        const unscoped = (await store.searchApp('dns', { query: `dns.question.name:${JSON.stringify(name)}`, limit: 10_000 })).records;
        assert.ok(unscoped.length >= q.length);
      }
      const pages: StoreAppRecord[] = [];
      let after: string | null = null;
      for (let i = 0; i < 1000; i++) {
        const p = await h.call('GET', `/api/v1/dns?limit=2${after ? `&after=${encodeURIComponent(after)}` : ''}`, { key: shop });
        pages.push(...p.json.records);
        after = p.json.next;
        if (after === null) break;
      }
      assert.deepEqual(idsOf(pages), idsOf(shopDns));
    });

    it("a cluster-scoped key sees its cluster's placed records; another cluster's key none; the unscoped analyst all", async () => {
      const ks = h.running.runtime.keys;
      const east = ks.create('apps-east', 'analyst', { clusters: ['east'] }).token;
      const west = ks.create('apps-west', 'analyst', { clusters: ['west'] }).token;
      const eastShop = ks.create('apps-east-shop', 'analyst', { namespaces: ['east/shop'] }).token;
      const westShop = ks.create('apps-west-shop', 'analyst', { namespaces: ['west/shop'] }).token;
      const shop = ks.create('apps-shop', 'analyst', { namespaces: ['shop'] }).token;
      for (const k of APP_KINDS) {
        const every = all.get(k) ?? [];
        assert.deepEqual(idsOf(await scopedApps(east, k)), idsOf(every.filter((r) => r.uid !== OLD_UID)), `east: ${k}`);
        assert.deepEqual(await scopedApps(west, k), [], `west: ${k}`);
        assert.deepEqual(await scopedApps(westShop, k), [], `west/shop: ${k}`);
        assert.deepEqual(idsOf(await scopedApps(eastShop, k)), idsOf(await scopedApps(shop, k)), `east/shop: ${k}`);
        assert.deepEqual(idsOf(await scopedApps(undefined, k)), idsOf(every), `unscoped: ${k}`);
      }
      assert.ok((all.get('dns') ?? []).some((r) => r.uid === OLD_UID));
    });

    it("places Hubble's DNS answers (flow job) by their connection's identity, for the flow source's cluster", async () => {
      const r = await h.call('POST', '/api/v1/flows?wait=true&source=test-hubble&format=hubble&cluster=north', {
        key: h.keys.ingest,
        body: fs.readFileSync(sample('flows/hubble-observe.json'), 'utf8'),
        headers: { 'content-type': 'application/x-ndjson' },
      });
      assert.equal(r.status, 202, r.text);
      assert.equal(r.json.rejected, 0, JSON.stringify(r.json.errors));
      await h.running.runtime.store.refresh();
      const ks = h.running.runtime.keys;
      const north = (await scopedApps(ks.create('apps-north', 'analyst', { clusters: ['north'] }).token, 'dns')).filter(
        (x) => x.kind === 'dns' && x.query === 'api.default.svc.cluster.local',
      );
      assert.equal(north.length, 1, JSON.stringify(north));
      assert.deepEqual(north[0].placement, { cluster: 'north', source_namespace: 'default', destination_namespace: 'kube-system' });
      for (const [scope, sees] of [
        [{ namespaces: ['kube-system'] }, true],
        [{ namespaces: ['north/default'] }, true],
        [{ namespaces: ['east/default'] }, false],
        [{ namespaces: ['shop'] }, false],
      ] as [{ namespaces: string[] }, boolean][]) {
        const got = await scopedApps(ks.create(`apps-${JSON.stringify(scope).replace(/\W/g, '')}`, 'analyst', scope).token, 'dns');
        assert.equal(
          got.some((x) => appRecordId(x) === appRecordId(north[0])),
          sees,
          JSON.stringify(scope),
        );
      }
    });

    it('a capture stored before its inventory: its application records follow their connections through the re-resolution', async () => {
      const store = h.running.runtime.store;
      const ks = h.running.runtime.keys;
      const lateShop = ks.create('apps-late-shop', 'analyst', { namespaces: ['late/shop'] }).token;
      const up = await h.call('POST', '/api/v1/captures?name=cluster.pcap&cluster=late', {
        body: fs.readFileSync(sample('k8s/cluster.pcap')),
        headers: { 'content-type': 'application/octet-stream' },
      });
      assert.equal(up.status, 202, up.text);
      for (let i = 0; i < 1200; i++) {
        const j = await h.call('GET', `/api/v1/captures/${up.json.capture.id}`);
        if (j.json.state === 'completed') break;
        assert.notEqual(j.json.state, 'failed', j.text);
        await new Promise((r) => setTimeout(r, 100));
      }
      await store.refresh();
      for (const k of ['dns', 'http']) assert.deepEqual(await scopedApps(lateShop, k), [], `${k}: no inventory, no namespaces`);
      const inv = await h.call('POST', '/api/v1/inventory?source=test&cluster=late', {
        key: h.keys.ingest,
        body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(inv.status, 201, inv.text);
      for (let i = 0; ; i++) {
        const r = await h.call('GET', `/api/v1/inventory/${inv.json.id}/resolution`, { key: h.keys.ingest });
        if (r.json.state === 'completed') break;
        assert.notEqual(r.json.state, 'failed', r.text);
        assert.ok(i < 600, `resolution still ${r.json.state}`);
        await new Promise((res) => setTimeout(res, 100));
      }
      await store.refresh();
      const conns = new Set((await store.search({ query: 'cluster:late and ns:shop', limit: 10_000 })).records.map((r) => r.uid));
      assert.ok(conns.size > 0);
      let seen = 0;
      for (const k of APP_KINDS) {
        const want = (await store.searchApp(k, { query: 'cluster:late', limit: 10_000 })).records.filter((r) => conns.has(r.uid));
        const got = await scopedApps(lateShop, k);
        assert.deepEqual(idsOf(got), idsOf(want), `${k}: late/shop after the re-resolution`);
        seen += got.length;
      }
      assert.ok(seen > 0, 'some application records of shop');
    });
  });
}

describe('scoped keys and application records: a SQLite file written before placement was kept', function () {
  this.timeout(120_000);
  it('gains the cluster and namespace columns; its records stay invisible to scoped keys until written again with placement', async () => {
    const os = await import('node:os');
    const { default: Database } = await import('better-sqlite3');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-app-old-'));
    try {
      const apps: StoreAppRecord[] = [];
      await analyzeFile(sample('k8s/cluster.pcap'), () => undefined, { tracker: { payload: analyzerFactory((r) => apps.push(r)) } });
      assert.ok(apps.length > 2, `${apps.length} application records`);
      const s = new SqliteStore({ dataDir: dir });
      await s.init();
      assert.equal((await s.writeApp(apps)).written, apps.length);
      await s.close();
      // The file as the previous version left it: no placement columns (nor their indexes).
      const db = new Database(path.join(dir, 'eastwatch.sqlite'));
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%_log'").all() as { name: string }[]).map((t) => t.name);
      assert.ok(tables.includes('dns_log') && tables.includes('http_log'), tables.join(','));
      for (const t of tables) {
        db.exec(`DROP INDEX IF EXISTS ${t}_src_namespace; DROP INDEX IF EXISTS ${t}_dst_namespace`);
        db.exec(`ALTER TABLE ${t} DROP COLUMN cluster; ALTER TABLE ${t} DROP COLUMN src_namespace; ALTER TABLE ${t} DROP COLUMN dst_namespace`);
      }
      db.close();

      const again = new SqliteStore({ dataDir: dir });
      await again.init();
      const scoped = scopedStore(again, { namespaces: ['shop'] });
      const eastKey = scopedStore(again, { clusters: ['east'] });
      const kinds = [...new Set(apps.map((r) => r.kind))];
      for (const k of kinds) {
        const n = apps.filter((r) => r.kind === k).length;
        assert.equal((await again.searchApp(k, { limit: 10_000 })).records.length, n, `${k}: the old records are all there`);
        assert.deepEqual((await scoped.searchApp(k, { limit: 10_000 })).records, [], `${k}: none visible to a namespace-scoped key`);
        assert.deepEqual((await eastKey.searchApp(k, { limit: 10_000 })).records, [], `${k}: none visible to a cluster-scoped key`);
      }
      const cols = new Database(path.join(dir, 'eastwatch.sqlite'), { readonly: true });
      for (const t of ['dns_log', 'http_log']) {
        const names = (cols.prepare(`SELECT name FROM pragma_table_info('${t}')`).all() as { name: string }[]).map((c) => c.name);
        for (const c of ['cluster', 'src_namespace', 'dst_namespace']) assert.ok(names.includes(c), `${t}.${c}`);
        const idx = (cols.prepare(`SELECT name FROM pragma_index_list('${t}')`).all() as { name: string }[]).map((c) => c.name);
        assert.ok(idx.includes(`${t}_src_namespace`) && idx.includes(`${t}_dst_namespace`), idx.join(','));
      }
      cols.close();
      // Written again with placement (same ids: the placement is not part of the id), half in shop.
      const placed = apps.map(
        (r, i): StoreAppRecord => ({
          ...r,
          placement: i % 2 === 0 ? { cluster: 'east', source_namespace: 'shop' } : { cluster: 'west', destination_namespace: 'data' },
        }),
      );
      assert.equal((await again.writeApp(placed)).written, placed.length);
      for (const k of kinds) {
        const ofKind = placed.filter((r) => r.kind === k);
        assert.equal((await again.searchApp(k, { limit: 10_000 })).records.length, ofKind.length, `${k}: replaced, not added`);
        const want = ofKind.filter((r) => r.placement?.source_namespace === 'shop');
        assert.deepEqual((await scoped.searchApp(k, { limit: 10_000 })).records.map(appRecordId).sort(), want.map(appRecordId).sort(), `${k}: shop`);
        assert.deepEqual(
          (await eastKey.searchApp(k, { limit: 10_000 })).records.map(appRecordId).sort(),
          ofKind
            .filter((r) => r.placement?.cluster === 'east')
            .map(appRecordId)
            .sort(),
          `${k}: east`,
        );
      }
      await again.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Alerts the detectors raise in the service carry the cluster of the records they were raised on. */
describe('scoped keys and alerts raised by the detectors (local)', function () {
  this.timeout(180_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ mode: 'local', detectors: true });
  });
  after(async () => {
    await h?.stop();
  });

  it("a capture's alerts carry its cluster; cluster-scoped keys see them by it", async () => {
    const up = await h.call('POST', '/api/v1/captures?name=scan.pcap&cluster=north', {
      body: fs.readFileSync(sample('scan.pcap')),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(up.status, 202, up.text);
    for (let i = 0; i < 1200; i++) {
      const j = await h.call('GET', `/api/v1/captures/${up.json.capture.id}`);
      if (j.json.state === 'completed') break;
      assert.notEqual(j.json.state, 'failed', j.text);
      await new Promise((r) => setTimeout(r, 100));
    }
    const all = (await h.call('GET', '/api/v1/alerts?limit=1000&suppressed=true')).json.alerts as Alert[];
    assert.ok(all.length > 0, 'scan.pcap raises alerts');
    assert.deepEqual([...new Set(all.map((a) => a.cluster))], ['north']);
    const ks = h.running.runtime.keys;
    const north = await h.call('GET', '/api/v1/alerts?limit=1000&suppressed=true', {
      key: ks.create('alerts-north', 'analyst', { clusters: ['north'] }).token,
    });
    assert.deepEqual(north.json.alerts.map((a: Alert) => a.id).sort(), all.map((a) => a.id).sort());
    const east = await h.call('GET', '/api/v1/alerts?limit=1000&suppressed=true', { key: ks.create('alerts-east', 'analyst', { clusters: ['east'] }).token });
    assert.deepEqual(east.json.alerts, []);
  });

  it('an alert over records of two clusters, or of none, gets no cluster; records no longer stored say nothing', async () => {
    const store = h.running.runtime.store;
    const [a, b] = (await store.search({ limit: 2 })).records;
    assert.equal(a.cluster, 'north');
    const alert = (uids: string[]): Alert => ({
      id: 'x',
      detector: 'd',
      title: 't',
      severity: 'low',
      score: 0,
      mitre: [],
      source: {},
      destination: {},
      first_seen: 0,
      last_seen: 0,
      count: 1,
      evidence: { uids, figures: {} },
      status: 'open',
      cluster: 'stale',
    });
    const fed = new Map<string, string | undefined>([
      ['Cfed-west', 'west'],
      ['Cfed-none', undefined],
    ]);
    const got = await withClusters(
      [alert([a.uid, b.uid]), alert([a.uid, 'Cfed-west']), alert([a.uid, 'Cfed-none']), alert([a.uid, 'Cgone']), alert(['Cgone'])],
      fed,
      store,
    );
    assert.deepEqual(
      got.map((x) => x.cluster),
      ['north', undefined, undefined, 'north', undefined],
    );
    // The id is the detector's qualified by the one cluster; with none (or two), the detector's own.
    const north = clusterAlertId('x', 'north');
    assert.match(north, /^[0-9a-f]{20}$/);
    assert.deepEqual(
      got.map((x) => x.id),
      [north, 'x', 'x', north, 'x'],
    );
    assert.notEqual(clusterAlertId('x', 'south'), north, 'another cluster, another alert');
    assert.equal(clusterAlertId('x', DEFAULT_CLUSTER), 'x', "the default cluster's alerts keep their ids");
  });
});
