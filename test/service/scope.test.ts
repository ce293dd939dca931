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
import type { StoreRecord } from '../../src/store/types';
import { type Harness, type Mode, requireElasticsearch, sample, startHarness } from './harness';

const OUT_NS = 'vault';
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
  const server = h.running.server;
  assert.ok(server);
  const app = server.listeners('request').find((l) => typeof (l as unknown as { handle?: unknown }).handle === 'function' && 'router' in (l as object));
  assert.ok(app, 'the express app among the request listeners');
  return app as unknown as Express;
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

    it('application-record searches and suppressions refuse a scoped key with the reason', async () => {
      const dns = await as('GET', '/api/v1/dns');
      assert.equal(dns.status, 403);
      assert.match(dns.json.error, /namespace- or cluster-scoped key/);
      const sup = await as('GET', '/api/v1/suppressions');
      assert.equal(sup.status, 403);
      // The same routes answer an unscoped analyst.
      assert.equal((await h.call('GET', '/api/v1/dns')).status, 200);
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

      it('leaks nothing of another cluster on any route, and refuses alert searches (alerts carry no cluster)', async () => {
        const markers = ['10.77.2.', U.westCart, U.noCluster, 'westq', 'a-scope-in', 'a-scope-out', 'analyst-secret-name'];
        for (const r of routesOf(appOf(h))) {
          const p = r.path.replace(/:([A-Za-z_]+)/g, (_m, name: string) => (name === 'id' ? 'a'.repeat(64) : name === 'uid' ? U.westCart : 'x'));
          const res = await h.call(r.method, p, { key: keys.east, body: r.method === 'GET' || r.method === 'DELETE' ? undefined : {} });
          const text = res.status === 404 ? res.text.split(U.westCart).join('') : res.text;
          for (const m of markers) assert.ok(!text.includes(m), `${r.method} ${p}: '${m}' in ${text.slice(0, 300)}`);
        }
        const alerts = await h.call('GET', '/api/v1/alerts', { key: keys.east });
        assert.equal(alerts.status, 403, alerts.text);
        assert.match(alerts.json.error, /alerts carry no cluster/);
        assert.equal((await h.call('GET', '/api/v1/alerts/a-scope-in', { key: keys.eastCart })).status, 404);
        // A key of namespaces alone still triages its alerts.
        assert.equal((await h.call('GET', '/api/v1/alerts', { key: keys.cart })).status, 200);
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
