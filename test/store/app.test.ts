/**
 * Application records in the store, one suite per backend: the records of the real sample
 * captures (dns, http, datastores) and of corpus captures (tls, ssh), written, read back equal,
 * idempotent, and searched with each kind's fields; expected answers computed from the records.
 */
import * as assert from 'node:assert/strict';
import { QueryError } from '../../src/query/ast';
import { appRecordId, tlsVersion } from '../../src/store/app-records';
import type { AppKind, AppRecordOut, Store } from '../../src/store/types';
import { corpusAvailable, corpusPath } from '../util/corpus';
import { BACKENDS, cleanUp } from './backends';
import { CORPUS_APP_CAPTURES, plain, sampleApps, sampleRecords } from './fixtures';

const ids = (rs: readonly AppRecordOut[]): string[] => rs.map(appRecordId).sort();
type R<K extends string> = Extract<AppRecordOut, { kind: K }>;

/** [kind, query, which records it must match]. */
const CASES: [AppKind, string, (r: AppRecordOut) => boolean][] = [
  ['dns', 'dns.question.name: redis.cache.svc.cluster.local', (r) => (r as R<'dns'>).query === 'redis.cache.svc.cluster.local'],
  [
    'dns',
    'query: *.default.svc.cluster.local and qtype: AAAA',
    (r) => /\.default\.svc\.cluster\.local$/.test((r as R<'dns'>).query ?? '') && (r as R<'dns'>).qtype_name === 'AAAA',
  ],
  ['dns', 'dns.response_code: NXDOMAIN', (r) => (r as R<'dns'>).rcode_name === 'NXDOMAIN'],
  ['dns', 'dns.answers.data: * and not dns.question.type: A', (r) => ((r as R<'dns'>).answers ?? []).length > 0 && (r as R<'dns'>).qtype_name !== 'A'],
  ['dns', 'dns.header_flags: RA and rcode: NOERROR', (r) => (r as R<'dns'>).RA && (r as R<'dns'>).rcode_name === 'NOERROR'],
  [
    'dns',
    'network.transport: udp and destination.port: 53 and src: 10.244.1.0/24',
    (r) => r.conn.proto === 'udp' && r.conn.resp_p === 53 && r.conn.orig_h.startsWith('10.244.1.'),
  ],
  [
    'http',
    'http.request.method: GET and http.response.status_code: 200 and http.response.body.bytes > 1000',
    (r) => (r as R<'http'>).method === 'GET' && (r as R<'http'>).status_code === 200 && (r as R<'http'>).response_body_len > 1000,
  ],
  [
    'http',
    'url.domain: api.default* and user_agent.original: frontend* and zeek.http.trans_depth >= 2',
    (r) =>
      ((r as R<'http'>).host ?? '').startsWith('api.default') &&
      ((r as R<'http'>).user_agent ?? '').startsWith('frontend') &&
      (r as R<'http'>).trans_depth >= 2,
  ],
  [
    'http',
    'url.original: /api/v1/* and not url.original: /api/v1/cart and src: 10.244.1.0/24',
    (r) => ((r as R<'http'>).uri ?? '').startsWith('/api/v1/') && (r as R<'http'>).uri !== '/api/v1/cart' && r.conn.orig_h.startsWith('10.244.1.'),
  ],
  [
    'http',
    'http.response.mime_type: text/plain or ip: 10.244.1.20',
    (r) => (r as R<'http'>).resp_content_type === 'text/plain' || r.conn.orig_h === '10.244.1.20' || r.conn.resp_h === '10.244.1.20',
  ],
  [
    'http2',
    'eastwatch.grpc.service: demo.v1.* and not grpc.status: 0',
    (r) => ((r as R<'http2'>).grpc_service ?? '').startsWith('demo.v1.') && (r as R<'http2'>).grpc_status !== 0,
  ],
  [
    'http2',
    'url.domain: greeter.* and http.request.method: GET and http.response.status_code < 300',
    (r) => ((r as R<'http2'>).host ?? '').startsWith('greeter.') && (r as R<'http2'>).method === 'GET' && ((r as R<'http2'>).status_code ?? 0) < 300,
  ],
  ['app', 'network.protocol: redis and eastwatch.app.commands: SET', (r) => (r as R<'app'>).protocol === 'redis' && (r as R<'app'>).commands.includes('SET')],
  ['app', 'user.name: api and eastwatch.app.database: orders', (r) => (r as R<'app'>).user === 'api' && (r as R<'app'>).database === 'orders'],
  [
    'app',
    'protocol: postgresql or (dport: 6379 and not commands: SET)',
    (r) => (r as R<'app'>).protocol === 'postgresql' || (r.conn.resp_p === 6379 && !(r as R<'app'>).commands.includes('SET')),
  ],
];

const CORPUS_CASES: [AppKind, string, (r: AppRecordOut) => boolean][] = [
  [
    'tls',
    'tls.client.server_name: ssl.gstatic.com and tls.established: true',
    (r) => (r as R<'tls'>).server_name === 'ssl.gstatic.com' && (r as R<'tls'>).established,
  ],
  [
    'tls',
    'tls.version: "1.0" and tls.client.ja3: 62351d5ea3cd4f21f697965b10a9bbbe',
    (r) => tlsVersion((r as R<'tls'>).version).version === '1.0' && (r as R<'tls'>).ja3 === '62351d5ea3cd4f21f697965b10a9bbbe',
  ],
  ['ssh', 'zeek.ssh.client: SSH-2.0-* and ssh.version: 2', (r) => ((r as R<'ssh'>).client ?? '').startsWith('SSH-2.0-') && (r as R<'ssh'>).version === 2],
  [
    'ssh',
    'ssh.client: *OpenSSH_6.* and not ssh.version: 1 and not ssh.server: *',
    (r) => /OpenSSH_6\./.test((r as R<'ssh'>).client ?? '') && (r as R<'ssh'>).version !== 1 && (r as R<'ssh'>).server === null,
  ],
];

for (const backend of BACKENDS) {
  describe(`store: application records, ${backend.name} backend`, function () {
    this.timeout(120_000);
    let apps: AppRecordOut[] = [];
    let store: Store;
    let withCorpus = false;
    after(cleanUp);

    before(async function () {
      withCorpus = corpusAvailable();
      if (!withCorpus && process.env.CI === 'true') throw new Error('CI: the corpus is needed for the tls and ssh records');
      apps = await sampleApps(withCorpus ? CORPUS_APP_CAPTURES.map(corpusPath) : []);
      store = await backend.make(this, 'apps');
      const w = await store.writeApp(apps);
      assert.deepEqual(w, { written: apps.length, stale: 0, deadLettered: 0 });
      await store.refresh();
    });

    it('has every kind the captures produce', () => {
      const kinds = new Set(apps.map((r) => r.kind));
      for (const k of ['dns', 'http', 'http2', 'app'] as const) assert.ok(kinds.has(k), k);
      if (!withCorpus) {
        console.warn('      tls and ssh records not tested: corpus absent');
      } else {
        for (const k of ['tls', 'ssh'] as const) assert.ok(kinds.has(k), k);
      }
    });

    it("reads each connection's records back equal and in time order (appsOf)", async () => {
      const byUid = new Map<string, AppRecordOut[]>();
      for (const r of apps) byUid.set(r.uid, [...(byUid.get(r.uid) ?? []), r]);
      assert.ok(byUid.size > 20);
      for (const [uid, rs] of byUid) {
        const want = [...rs].sort((a, b) => a.ts - b.ts || (appRecordId(a) < appRecordId(b) ? -1 : 1));
        assert.deepStrictEqual(await store.appsOf(uid), plain(want), uid);
      }
      assert.deepEqual(await store.appsOf('no-such-uid'), []);
    });

    it('is idempotent: writing the same records again leaves one copy each', async () => {
      const again = await store.writeApp(apps);
      assert.equal(again.written, apps.length);
      await store.refresh();
      for (const k of new Set(apps.map((r) => r.kind))) {
        const got = await store.searchApp(k, { limit: 10_000 });
        assert.deepEqual(ids(got.records), ids(apps.filter((r) => r.kind === k)), k);
      }
    });

    describe("queries on each kind's fields", () => {
      for (const [kind, q, pred] of [...CASES, ...CORPUS_CASES]) {
        it(`${kind}: ${q}`, async function () {
          if (CORPUS_CASES.some((c) => c[1] === q) && !withCorpus) this.skip();
          const want = apps.filter((r) => r.kind === kind && pred(r));
          assert.ok((want.length > 0 && want.length < apps.filter((r) => r.kind === kind).length) || kind === 'tls', `${q}: ${want.length} matches is trivial`);
          const got = await store.searchApp(kind, { query: q, limit: 10_000 });
          assert.deepEqual(ids(got.records), ids(want));
          assert.equal(got.next, null);
        });
      }
      it('the connection uid as `uid` and a time range', async () => {
        const r = apps.find((x) => x.kind === 'http') as AppRecordOut;
        const got = await store.searchApp('http', { query: `uid: ${r.uid}`, limit: 10_000 });
        assert.deepEqual(ids(got.records), ids(apps.filter((x) => x.kind === 'http' && x.uid === r.uid)));
        const sorted = apps.filter((x) => x.kind === 'dns').sort((a, b) => a.ts - b.ts);
        const [from, to] = [sorted[3].ts, sorted[sorted.length - 3].ts];
        const page = await store.searchApp('dns', { from, to, limit: 10_000 });
        assert.deepEqual(ids(page.records), ids(sorted.filter((x) => x.ts >= from && x.ts < to)));
      });
      it('reports an unknown field of the kind with a suggestion and its position', async () => {
        await assert.rejects(
          store.searchApp('dns', { query: 'rcode: NOERROR and dns.question.nam: x' }),
          (e: unknown) => e instanceof QueryError && e.position === 19 && /did you mean 'dns\.question\.name'/.test(e.message),
        );
        // A connection field is not an http field.
        await assert.rejects(store.searchApp('http', { query: 'zeek.connection.state: SF' }), QueryError);
      });
    });

    it('pages through a kind with keyset pagination (@timestamp desc, then id)', async () => {
      const out: AppRecordOut[] = [];
      let after: string | undefined;
      for (let n = 0; n < 100; n++) {
        const p = await store.searchApp('http', { limit: 7, after });
        out.push(...p.records);
        if (p.next === null) break;
        after = p.next;
      }
      const want = apps.filter((r) => r.kind === 'http').sort((a, b) => b.ts - a.ts || (appRecordId(a) < appRecordId(b) ? -1 : 1));
      assert.deepEqual(out.map(appRecordId), want.map(appRecordId));
    });

    describe('the streaming writer and other kinds', () => {
      let aux: Store;
      before(async function () {
        aux = await backend.make(this, 'appaux');
      });

      it('takes connection and application records through one writer', async () => {
        const conns = (await sampleRecords()).slice(0, 40);
        const some = apps.filter((r) => conns.some((c) => c.uid === r.uid));
        const w = aux.writer();
        for (const c of conns) {
          w.add(c);
          for (const a of some.filter((x) => x.uid === c.uid)) w.addApp(a);
          await w.congestion();
        }
        const res = await w.close();
        assert.deepEqual(res, { written: conns.length + some.length, stale: 0, deadLettered: 0 });
        await aux.refresh();
        assert.equal(await aux.count({}), conns.length);
        for (const c of conns) assert.equal((await aux.appsOf(c.uid)).length, some.filter((x) => x.uid === c.uid).length);
      });

      it('keeps a kind without a spec of its own in the app catch-all, searchable by its kind', async () => {
        // A kind added to the analyzers after this store (say 'http3'): a real http record under that kind.
        const real = apps.find((r) => r.kind === 'http') as AppRecordOut;
        const other = { ...real, kind: 'http3' } as unknown as AppRecordOut;
        assert.equal((await aux.writeApp([other])).written, 1);
        await aux.refresh();
        const got = await aux.searchApp('http3' as AppKind, { query: `uid: ${real.uid} and network.protocol: http3` });
        assert.deepStrictEqual(got.records, [plain(other)]);
        assert.ok((await aux.appsOf(real.uid)).some((r) => (r.kind as string) === 'http3'));
        assert.equal((await aux.searchApp('app', { query: `uid: ${real.uid}` })).records.length, 0);
      });

      it('dead-letters a record the store refuses, with the reason', async () => {
        const real = apps.find((r) => r.kind === 'dns') as AppRecordOut;
        const bad = { ...real, conn: { ...real.conn, orig_h: 'not-an-ip' } };
        const res = await aux.writeApp([bad]);
        assert.deepEqual(res, { written: 0, stale: 0, deadLettered: 1 });
        await aux.refresh();
        const dl = await aux.deadLetters();
        assert.equal(dl[0].uid, appRecordId(bad));
        assert.match(dl[0].reason, aux.backend === 'sqlite' ? /NOT NULL constraint failed: dns_log\.src_key/ : /source\.ip.*not-an-ip/);
      });

      it('retention removes old application records too', async () => {
        const real = apps.filter((r) => r.kind === 'dns').slice(0, 4);
        const old = real.map((r) => ({ ...r, ts: r.ts - 10 * 86400 }));
        await aux.writeApp(old);
        await aux.refresh();
        const before = (await aux.searchApp('dns', { limit: 10_000 })).records.length;
        const res = await aux.retain(3, new Date('2026-01-16T08:00:00Z'));
        assert.ok(res.removedRecords >= 4);
        await aux.refresh();
        const left = (await aux.searchApp('dns', { limit: 10_000 })).records;
        assert.equal(left.length, before - old.length);
      });
    });
  });
}
