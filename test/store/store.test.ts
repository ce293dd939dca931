/**
 * One suite, run once per backend (SQLite, Elasticsearch): the same records, the same queries,
 * the same expected answers, computed here from the records themselves (an oracle in plain JS).
 * The Elasticsearch run uses a real node ($ES_URL; the root hook starts one when unset).
 */
import * as assert from 'node:assert/strict';
import { QueryError } from '../../src/query/ast';
import { ipKey } from '../../src/query/ip';
import { ElasticsearchStore } from '../../src/store/elasticsearch';
import { SqliteStore } from '../../src/store/sqlite';
import type { AppRecordOut } from '../../parsers/record/app';
import { StoreRequestError, StoreUnavailableError, type Edge, type Store, type StoreRecord } from '../../src/store/types';
import { CORPUS_APP_CAPTURES, flowTwin, plain, sampleApps, sampleRecords, shiftedDays, v6Twin, withK8s } from './fixtures';
import { corpusPath } from '../util/corpus';
import { BACKENDS, RUN, cleanUp } from './backends';

const uids = (rs: StoreRecord[]): string[] => rs.map((r) => r.uid).sort();
const key = (ip: string): Buffer => ipKey(ip) as Buffer;
const inCidr = (ip: string, lo: string, hi: string): boolean => key(ip).compare(key(lo)) >= 0 && key(ip).compare(key(hi)) <= 0;
/** network.bytes: IP bytes, as Elastic's Zeek integration has them (flow sources have no payload counts). */
const bytes = (r: StoreRecord): number => r.orig_ip_bytes + r.resp_ip_bytes;

/** Query text -> which records it must match. Every construct of the language, end to end. */
const CASES: [string, (r: StoreRecord) => boolean][] = [
  ['network.transport: udp', (r) => r.proto === 'udp'],
  ['proto: tcp and state: SF', (r) => r.proto === 'tcp' && r.conn_state === 'SF'],
  ['dport: (5432 or 6379)', (r) => r.resp_p === 5432 || r.resp_p === 6379],
  ['destination.port: 8080 or sport: 53', (r) => r.resp_p === 8080 || r.orig_p === 53],
  ['not state: REJ', (r) => r.conn_state !== 'REJ'],
  ['state != REJ and !proto: udp', (r) => r.conn_state !== 'REJ' && r.proto !== 'udp'],
  ['(state: S0 or state: SH) and not dport: 8080', (r) => (r.conn_state === 'S0' || r.conn_state === 'SH') && r.resp_p !== 8080],
  ['src: 10.244.1.0/24', (r) => inCidr(r.orig_h, '10.244.1.0', '10.244.1.255')],
  [
    'source.ip: 10.244.0.0/16 and destination.port: (5432 or 6379) and not ns: kube-system',
    (r) =>
      inCidr(r.orig_h, '10.244.0.0', '10.244.255.255') &&
      [5432, 6379].includes(r.resp_p) &&
      r.k8s?.orig.namespace !== 'kube-system' &&
      r.k8s?.resp.namespace !== 'kube-system',
  ],
  ['dst: 10.96.0.10', (r) => r.resp_h === '10.96.0.10'],
  ['ip: 10.96.0.10', (r) => r.orig_h === '10.96.0.10' || r.resp_h === '10.96.0.10'],
  ['src: fd00:10:244::/48', (r) => r.orig_h.startsWith('fd00:10:244::')],
  ['dst: fd00::/8 and vlan: *', (r) => r.resp_h.startsWith('fd00:') && r.vlan !== null],
  ['network.bytes > 1000', (r) => bytes(r) > 1000],
  ['bytes >= 94 and bytes <= 258', (r) => bytes(r) >= 94 && bytes(r) <= 258],
  ['event.duration < 1000000 and source.packets >= 2', (r) => Math.round(r.duration * 1e9) < 1e6 && r.orig_pkts >= 2],
  [
    '@timestamp >= 2026-01-15T10:00:05Z and @timestamp < 2026-01-15T10:00:10.5Z',
    (r) => r.ts >= Date.UTC(2026, 0, 15, 10, 0, 5) / 1000 && r.ts < Date.UTC(2026, 0, 15, 10, 0, 10, 500) / 1000,
  ],
  ['history: Sh*', (r) => r.history.startsWith('Sh')],
  ['history: ?r', (r) => r.history.length === 2 && r.history[1] === 'r'],
  ['history: "Sr"', (r) => r.history === 'Sr'],
  ['service: vxlan', (r) => r.service.includes('vxlan')],
  ['service: vx*', (r) => r.service.some((s) => s.startsWith('vx'))],
  ['service: * and not tunnel_parents: *', (r) => r.service.length > 0 && r.tunnel_parents.length === 0],
  ['tunnel_parents: *', (r) => r.tunnel_parents.length > 0],
  ['eastwatch.tunnel.type: vxlan', (r) => r.tunnel_type === 'vxlan'],
  [
    'ns: shop and workload: api*',
    (r) =>
      (r.k8s?.orig.namespace === 'shop' || r.k8s?.resp.namespace === 'shop') && [r.k8s?.orig.workload, r.k8s?.resp.workload].some((w) => w?.startsWith('api')),
  ],
  ['eastwatch.destination.namespace: kube-system and verdict: allowed', (r) => r.k8s?.resp.namespace === 'kube-system' && r.k8s?.policy?.verdict === 'allowed'],
  ['scope: "pod-to-service"', (r) => r.k8s?.scope === 'pod-to-service'],
  ['observed: one-way', (r) => r.observed === 'one-way'],
  ['eastwatch.observed: midstream and proto: tcp', (r) => r.observed === 'midstream' && r.proto === 'tcp'],
  ['observed: * and bytes > 0', (r) => r.observed !== undefined && bytes(r) > 0],
  ['not observed: *', (r) => r.observed === undefined],
  ['counts: reports', (r) => r.counts === 'reports'],
  ['eastwatch.counts: reports and observed: one-way', (r) => r.counts === 'reports' && r.observed === 'one-way'],
  ['not counts: * and observed: *', (r) => r.counts === undefined && r.observed !== undefined],
  ['bytes > 100 and orig_bytes: 0', (r) => bytes(r) > 100 && r.orig_bytes === 0],
  ['source.bytes > 500', (r) => r.orig_ip_bytes > 500],
  ['destination.bytes > 500 and zeek.connection.resp_bytes < 500', (r) => r.resp_ip_bytes > 500 && r.resp_bytes < 500],
  ['zeek.connection.resp_bytes > 100', (r) => r.resp_bytes > 100],
  ['local_orig: true and local_resp: false', (r) => r.local_orig && !r.local_resp],
  ['uid: C1WZE8XCyL59ECGXI7', (r) => r.uid === 'C1WZE8XCyL59ECGXI7'],
  ['source.mac: 0A-58-0A-F4-01-0B', (r) => r.orig_l2_addr === '0a:58:0a:f4:01:0b'],
  ['destination.mac: 0a:58:0a:f4:01:01', (r) => r.resp_l2_addr === '0a:58:0a:f4:01:01'],
  ['network.direction: internal and network.type: ipv6', (r) => r.local_orig && r.local_resp && r.orig_h.includes(':')],
  ['network.direction: outbound', (r) => r.local_orig && !r.local_resp],
  ['', () => true],
];

for (const backend of BACKENDS) {
  describe(`store: ${backend.name} backend`, function () {
    this.timeout(120_000);
    let records: StoreRecord[] = [];
    let store: Store;
    after(cleanUp);

    before(async function () {
      const base = await sampleRecords();
      records = [
        ...base.map(withK8s),
        ...base
          .filter((r) => r.proto === 'tcp')
          .slice(0, 12)
          .map((r, i) => ({ ...v6Twin(r, i), vlan: i % 2 === 0 ? 100 + i : null, inner_vlan: null, local_resp: i % 3 !== 0 })),
        ...base.slice(0, 24).map((r, i) => flowTwin(r, i, i % 3 === 0 ? 'midstream' : 'one-way', i % 2 === 0 ? 'reports' : undefined)),
      ];
      store = await backend.make(this, 'main');
      const w = await store.write(records);
      assert.deepEqual(w, { written: records.length, stale: 0, deadLettered: 0 });
      await store.refresh();
    });

    it('writes the sample records and reads each back equal', async () => {
      assert.equal(await store.count({}), records.length);
      for (const r of records.filter((_, i) => i % 7 === 0 || _.k8s !== undefined || _.vlan !== null)) {
        assert.deepStrictEqual(await store.get(r.uid), plain(r), r.uid);
      }
      assert.equal(await store.get('no-such-uid'), null);
      const all = await store.search({ limit: 10_000 });
      assert.deepStrictEqual(
        all.records.map(plain).sort((a, b) => a.uid.localeCompare(b.uid)),
        records.map(plain).sort((a, b) => a.uid.localeCompare(b.uid)),
      );
      assert.equal(all.next, null);
    });

    it('is idempotent by uid: writing the same records again leaves one copy each', async () => {
      const again = await store.write(records.slice(0, 50));
      assert.equal(again.written + again.stale, 50);
      await store.refresh();
      assert.equal(await store.count({}), records.length);
    });

    it('the final record replaces its interim one; an interim arriving later does not', async () => {
      const final = records[3];
      const interim = { ...final, uid: `${final.uid}i`, interim: true, duration: 0 };
      const fin = { ...final, uid: `${final.uid}i` };
      assert.equal((await store.write([interim])).written, 1);
      assert.equal((await store.write([fin])).written, 1);
      const late = await store.write([interim]);
      assert.deepEqual(late, { written: 0, stale: 1, deadLettered: 0 });
      await store.refresh();
      assert.deepStrictEqual(await store.get(fin.uid), plain(fin));
      assert.equal(await store.count({ query: `uid: ${fin.uid}` }), 1);
      // Leave the data set as it was for the other tests.
      records.push(fin);
    });

    describe('every query construct, end to end', () => {
      for (const [q, pred] of CASES) {
        it(q === '' ? '(empty query)' : q, async () => {
          const want = records.filter(pred);
          const page = await store.search({ query: q, limit: 10_000 });
          assert.deepEqual(uids(page.records), uids(want));
          assert.equal(await store.count({ query: q }), want.length);
        });
      }
      it('the matches are not trivial', () => {
        for (const [q, pred] of CASES) {
          const n = records.filter(pred).length;
          assert.ok(n > 0 && (q === '' || n < records.length), `${q}: ${n} of ${records.length}`);
        }
      });
      it('a time range beside the query, from inclusive and to exclusive', async () => {
        const sorted = [...records].sort((a, b) => a.ts - b.ts);
        const from = sorted[40].ts;
        const to = sorted[200].ts;
        const want = records.filter((r) => r.ts >= from && r.ts < to && r.proto === 'tcp');
        const got = await store.search({ query: 'proto: tcp', from, to, limit: 10_000 });
        assert.deepEqual(uids(got.records), uids(want));
        assert.equal(
          await store.count({ from: new Date(Date.UTC(2026, 0, 15, 10, 0, 5)), to: '2026-01-15T10:00:10.5Z' }),
          records.filter((r) => r.ts >= Date.UTC(2026, 0, 15, 10, 0, 5) / 1000 && r.ts < Date.UTC(2026, 0, 15, 10, 0, 10, 500) / 1000).length,
        );
      });
      it('reports query errors with their position', async () => {
        await assert.rejects(
          store.search({ query: 'proto: tcp and dprt: 80' }),
          (e: unknown) => e instanceof QueryError && e.position === 15 && /did you mean 'dport'/.test(e.message),
        );
        await assert.rejects(store.count({ query: 'src: 10.0.0.0/99' }), QueryError);
        await assert.rejects(store.search({ sort: { field: 'service' } }), StoreRequestError);
      });
    });

    describe('pagination (keyset / search_after)', () => {
      const walk = async (field: string, order: 'asc' | 'desc', limit: number, query?: string): Promise<StoreRecord[]> => {
        const out: StoreRecord[] = [];
        let after: string | undefined;
        for (let pages = 0; pages < 1000; pages++) {
          const p = await store.search({ query, sort: { field, order }, limit, after });
          out.push(...p.records);
          assert.ok(p.records.length <= limit);
          if (p.next === null) return out;
          after = p.next;
        }
        throw new Error('pagination does not end');
      };
      const byUid = (a: StoreRecord, b: StoreRecord): number => (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0);

      it('@timestamp desc in pages of 37 gives every record once, in order', async () => {
        const got = await walk('@timestamp', 'desc', 37);
        const want = [...records].sort((a, b) => b.ts - a.ts || byUid(a, b));
        assert.deepEqual(
          got.map((r) => r.uid),
          want.map((r) => r.uid),
        );
      });
      it('network.bytes asc (many ties) with a query, pages of 10', async () => {
        const got = await walk('bytes', 'asc', 10, 'proto: tcp');
        const want = records.filter((r) => r.proto === 'tcp').sort((a, b) => bytes(a) - bytes(b) || byUid(a, b));
        assert.deepEqual(
          got.map((r) => r.uid),
          want.map((r) => r.uid),
        );
      });
      it('destination.ip desc (v4 and v6 in one order), pages of 50', async () => {
        const got = await walk('dst', 'desc', 50);
        const want = [...records].sort((a, b) => key(b.resp_h).compare(key(a.resp_h)) || byUid(a, b));
        assert.deepEqual(
          got.map((r) => r.uid),
          want.map((r) => r.uid),
        );
      });
    });

    describe('aggregations', () => {
      it('top N by a field with connections and bytes', async () => {
        const tally = (keyOf: (r: StoreRecord) => string[]): { key: string; connections: number; bytes: number }[] => {
          const m = new Map<string, { key: string; connections: number; bytes: number }>();
          for (const r of records)
            for (const k of new Set(keyOf(r))) {
              const e = m.get(k) ?? { key: k, connections: 0, bytes: 0 };
              e.connections++;
              e.bytes += bytes(r);
              m.set(k, e);
            }
          return [...m.values()];
        };
        const num = (a: { key: string; connections: number }, b: { key: string; connections: number }): number =>
          b.connections - a.connections || Number(a.key) - Number(b.key);
        assert.deepEqual(
          await store.top({ field: 'dport', size: 5 }),
          tally((r) => [String(r.resp_p)])
            .sort(num)
            .slice(0, 5),
        );
        const str = (a: { key: string; connections: number }, b: { key: string; connections: number }): number =>
          b.connections - a.connections || (a.key < b.key ? -1 : 1);
        assert.deepEqual(await store.top({ field: 'state', size: 20 }), tally((r) => [r.conn_state]).sort(str));
        assert.deepEqual(await store.top({ field: 'service', size: 5 }), tally((r) => r.service).sort(str));
        const ipOrder = (a: { key: string; connections: number }, b: { key: string; connections: number }): number =>
          b.connections - a.connections || key(a.key).compare(key(b.key));
        assert.deepEqual(
          await store.top({ field: 'src', size: 8, query: 'proto: tcp' }),
          tally((r) => (r.proto === 'tcp' ? [r.orig_h] : []))
            .sort(ipOrder)
            .slice(0, 8),
        );
        assert.deepEqual(
          await store.top({ field: 'ip', size: 3 }),
          tally((r) => [r.orig_h, r.resp_h])
            .sort(ipOrder)
            .slice(0, 3),
        );
        assert.deepEqual(await store.top({ field: 'local_resp' }), tally((r) => [String(r.local_resp)]).sort(str));
      });

      it('date histogram with empty buckets between', async () => {
        const iv = 2;
        const m = new Map<number, { connections: number; bytes: number }>();
        for (const r of records) {
          const b = Math.floor(r.ts / iv) * iv * 1000;
          const e = m.get(b) ?? { connections: 0, bytes: 0 };
          e.connections++;
          e.bytes += bytes(r);
          m.set(b, e);
        }
        const keys = [...m.keys()].sort((a, b) => a - b);
        const want = [];
        for (let k = keys[0]; k <= keys[keys.length - 1]; k += iv * 1000) want.push({ start: k, ...(m.get(k) ?? { connections: 0, bytes: 0 }) });
        const h = await store.histogram({ intervalSeconds: iv });
        assert.equal(h.intervalSeconds, iv);
        assert.equal(h.widened, false);
        const got = h.buckets;
        assert.deepEqual(got, want);
        assert.ok(
          got.some((b) => b.connections === 0),
          'the sample times have gaps',
        );
      });

      it('distinct count', async () => {
        assert.equal(await store.distinct({ field: 'src' }), new Set(records.map((r) => r.orig_h)).size);
        assert.equal(
          await store.distinct({ field: 'dport', query: 'proto: tcp' }),
          new Set(records.filter((r) => r.proto === 'tcp').map((r) => r.resp_p)).size,
        );
        assert.equal(await store.distinct({ field: 'ip' }), new Set(records.flatMap((r) => [r.orig_h, r.resp_h])).size);
        assert.equal(await store.distinct({ field: 'service' }), 1);
      });

      it('edge list: source workload/ip -> destination workload/ip:port with connections and bytes', async () => {
        const m = new Map<string, Edge>();
        for (const r of records) {
          const e: Edge = {
            source: { ip: r.orig_h, namespace: r.k8s?.orig.namespace ?? null, workload: r.k8s?.orig.workload ?? null },
            destination: {
              ip: r.resp_h,
              port: r.resp_p,
              namespace: r.k8s?.resp.namespace ?? null,
              workload: r.k8s?.resp.workload ?? null,
              service: r.k8s?.resp.service ?? null,
            },
            transport: r.proto,
            connections: 0,
            bytes: 0,
          };
          const k = JSON.stringify([e.source, e.destination, e.transport]);
          const cur = m.get(k) ?? e;
          cur.connections++;
          cur.bytes += bytes(r);
          m.set(k, cur);
        }
        const list = await store.edges({ limit: 5000 });
        assert.equal(list.truncated, false);
        assert.equal(list.pairs, m.size);
        const got = list.edges;
        assert.equal(got.length, m.size);
        const norm = (es: Edge[]): string[] => es.map((e) => JSON.stringify(e)).sort();
        assert.deepEqual(norm(got), norm([...m.values()]));
        for (let i = 1; i < got.length; i++) assert.ok(got[i - 1].connections >= got[i].connections);
        const top = (await store.edges({ query: 'ns: shop', limit: 3 })).edges;
        assert.equal(top.length, 3);
        assert.deepEqual(top[0].destination, { ip: '10.96.12.34', port: 8080, namespace: 'shop', workload: 'api', service: null });
      });

      it('edge names: an external destination is named by its TLS SNI, else HTTP host, else the DNS name resolved to it', async function () {
        const named = await backend.make(this, 'names');
        // TLS records are in the corpus captures, not the samples.
        const apps = await sampleApps(CORPUS_APP_CAPTURES.map(corpusPath));
        const tls = apps.find((a) => a.kind === 'tls');
        const http = apps.find((a) => a.kind === 'http');
        const dns = apps.find((a) => a.kind === 'dns');
        assert.ok(tls && http && dns, 'the samples have tls, http and dns records');
        const model = records.find((r) => r.proto === 'tcp' && r.k8s?.orig.namespace === 'shop');
        assert.ok(model);
        // shop/frontend to four external addresses: SNI, Host (with a port), only a DNS answer, nothing.
        const to = (uid: string, ip: string, port: number): StoreRecord => ({
          ...model,
          uid,
          community_id: `1:${uid}=`,
          resp_h: ip,
          resp_p: port,
          k8s: { ...(model.k8s as NonNullable<StoreRecord['k8s']>), resp: { kind: 'external' } },
        });
        const conns = [to('Cname1', '93.184.216.34', 443), to('Cname2', '151.101.1.1', 80), to('Cname3', '140.82.112.5', 443), to('Cname4', '8.8.4.4', 443)];
        const conn = (r: StoreRecord) => ({ uid: r.uid, ts: r.ts, orig_h: r.orig_h, resp_h: r.resp_h, resp_p: r.resp_p });
        assert.equal((await named.write(conns)).written, 4);
        const w = await named.writeApp([
          { ...tls, uid: 'Cname1', ts: model.ts, conn: { ...tls.conn, ...conn(conns[0]) }, server_name: 'www.example.com' },
          { ...http, uid: 'Cname2', ts: model.ts, conn: { ...http.conn, ...conn(conns[1]) }, host: 'CDN.Example.org:80' },
          {
            ...dns,
            uid: 'Cdnsq',
            ts: model.ts,
            conn: { ...dns.conn, uid: 'Cdnsq', ts: model.ts, orig_h: model.orig_h, resp_h: '10.96.0.10', resp_p: 53 },
            query: 'api.github.com',
            answers: ['140.82.112.5'],
            TTLs: [60],
          },
        ] as AppRecordOut[]);
        assert.equal(w.written, 3);
        await named.refresh();
        const byIp = async (query?: string): Promise<Record<string, string | null>> =>
          Object.fromEntries(
            (await named.edges({ limit: 100, ...(query ? { query } : {}) })).edges
              .filter((e) => !e.destination.namespace)
              .map((e) => [e.destination.ip, e.destination.name ?? null]),
          );
        assert.deepEqual(await byIp(), {
          '93.184.216.34': 'www.example.com',
          '151.101.1.1': 'cdn.example.org',
          '140.82.112.5': 'api.github.com',
          '8.8.4.4': null,
        });
        // The edges' own query bounds the records that name them.
        assert.deepEqual(await byIp('destination.port: 443'), { '93.184.216.34': 'www.example.com', '140.82.112.5': null, '8.8.4.4': null });
      });
    });

    describe('bulk load (writer({ bulkLoad: true }))', () => {
      let bulk: Store;
      before(async function () {
        bulk = await backend.make(this, 'bulk');
      });

      it('stores everything, searchable with every index in place after close()', async () => {
        const w = bulk.writer({ bulkLoad: true });
        for (const r of records) {
          w.add(r);
          await w.congestion();
        }
        assert.deepEqual(await w.close(), { written: records.length, stale: 0, deadLettered: 0 });
        await bulk.refresh();
        assert.equal(await bulk.count({}), records.length);
        const q = 'src: 10.244.1.0/24 and dport: (5432 or 6379)';
        const want = records.filter((r) => inCidr(r.orig_h, '10.244.1.0', '10.244.1.255') && [5432, 6379].includes(r.resp_p));
        assert.deepEqual(uids((await bulk.search({ query: q, limit: 10_000 })).records), uids(want));
        if (bulk instanceof SqliteStore) {
          const names = bulk.indexNames();
          for (const ix of ['conn_ts', 'conn_src', 'conn_dst', 'conn_dport', 'conn_state', 'conn_cid', 'conn_src_ns', 'conn_dst_ns'])
            assert.ok(names.includes(ix), ix);
        }
      });

      it('a second bulk load into a store that holds records is idempotent', async () => {
        const w = bulk.writer({ bulkLoad: true });
        for (const r of records) w.add(r);
        const res = await w.close();
        assert.equal(res.written + res.stale, records.length);
        assert.equal(await bulk.count({}), records.length);
      });
    });

    describe('retention and dead letters', () => {
      let aux: Store;
      before(async function () {
        aux = await backend.make(this, 'aux');
      });

      it('deletes records older than N days (Elasticsearch: whole daily indices)', async () => {
        const base = records.slice(0, 30);
        const olds = [...base.slice(0, 10).map((r, i) => shiftedDays(r, 10, i)), ...base.slice(10, 20).map((r, i) => shiftedDays(r, 2, i))];
        const fresh = base.slice(20, 30);
        assert.equal((await aux.write([...olds, ...fresh])).written, 30);
        await aux.refresh();
        assert.equal(await aux.count({}), 30);
        const now = new Date('2026-01-16T08:00:00Z');
        const r = await aux.retain(3, now);
        assert.equal(r.cutoff.toISOString(), '2026-01-13T00:00:00.000Z');
        assert.equal(r.removedRecords, 10);
        if (aux.backend === 'elasticsearch') assert.deepEqual(r.removedIndices, [`${(aux as ElasticsearchStore).alias}-2026.01.05`]);
        await aux.refresh();
        assert.equal(await aux.count({}), 20);
        assert.equal(await aux.count({ to: '2026-01-13' }), 0);
        assert.equal((await aux.retain(3, now)).removedRecords, 0);
      });

      it('sends a record the store refuses to the dead letters with the reason; nothing is dropped', async () => {
        const bad = { ...records[1], uid: 'Cbad-address', orig_h: 'not-an-ip' };
        const good = { ...records[2], uid: 'Cgood-beside-bad' };
        const w = await aux.write([bad, good]);
        assert.deepEqual(w, { written: 1, stale: 0, deadLettered: 1 });
        await aux.refresh();
        assert.ok(await aux.get('Cgood-beside-bad'));
        assert.equal(await aux.get('Cbad-address'), null);
        const dl = await aux.deadLetters();
        assert.equal(dl.length, 1);
        assert.equal(dl[0].uid, 'Cbad-address');
        // Both backends refuse it before the database does (store/validate.ts), with the same reason.
        assert.match(dl[0].reason, /^invalid record: orig_h: "not-an-ip" is not an IP address$/);
        assert.match(dl[0].document, /not-an-ip/);
        assert.ok(Date.now() - Date.parse(dl[0].at) < 120_000);
      });
    });
  });
}

describe('store: elasticsearch backend, server unavailable', function () {
  this.timeout(60_000);
  it('init and write fail with a clear error after retrying, and nothing is reported written', async () => {
    // A port nothing listens on: bind, read the port, close.
    const net = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const s = new ElasticsearchStore({
      node: `http://127.0.0.1:${port}`,
      prefix: `ewtest-${RUN}-down`,
      maxRetries: 2,
      retryBaseMs: 20,
      requestTimeoutMs: 2000,
    });
    const t0 = Date.now();
    await assert.rejects(
      s.init(),
      (e: unknown) =>
        e instanceof StoreUnavailableError && new RegExp(`Elasticsearch at http://127.0.0.1:${port}: health check failed after 3 attempts`).test(e.message),
    );
    const rs = (await sampleRecords()).slice(0, 5);
    await assert.rejects(s.write(rs), (e: unknown) => e instanceof StoreUnavailableError && /bulk failed after 3 attempts/.test(e.message));
    await assert.rejects(s.search({ query: 'proto: tcp' }), StoreUnavailableError);
    assert.ok(Date.now() - t0 < 30_000);
    await s.close();
  });
});

describe('store: sqlite file written before observed, counts and IP-byte volumes', function () {
  this.timeout(60_000);
  it('gains the observed and counts columns and network.bytes in IP bytes when reopened', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { default: Database } = await import('better-sqlite3');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-store-old-'));
    try {
      const base = (await sampleRecords()).slice(0, 40);
      const s = new SqliteStore({ dataDir: dir });
      await s.init();
      await s.write(base);
      await s.close();
      // The file as the previous version left it: no observed or counts column, payload bytes in net_bytes.
      const db = new Database(path.join(dir, 'eastwatch.sqlite'));
      db.exec('ALTER TABLE conn DROP COLUMN observed; ALTER TABLE conn DROP COLUMN counts; UPDATE conn SET net_bytes = src_bytes + dst_bytes');
      db.pragma('user_version = 0');
      db.close();
      const again = new SqliteStore({ dataDir: dir });
      await again.init();
      const ip = (r: StoreRecord): number => r.orig_ip_bytes + r.resp_ip_bytes;
      const limit = [...base.map(ip)].sort((a, b) => a - b)[20];
      assert.equal(await again.count({ query: `bytes > ${limit}` }), base.filter((r) => ip(r) > limit).length);
      const flow = flowTwin(base[0], 1, 'one-way', 'reports');
      await again.write([flow]);
      assert.deepStrictEqual(await again.get(flow.uid), plain(flow));
      assert.deepEqual(uids((await again.search({ query: 'observed: one-way' })).records), [flow.uid]);
      assert.deepEqual(uids((await again.search({ query: 'counts: reports' })).records), [flow.uid]);
      await again.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
