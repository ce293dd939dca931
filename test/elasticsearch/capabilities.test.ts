/**
 * What the module-less in-JVM Elasticsearch 8.19 (scripts/es.sh) can and cannot do, asserted on real
 * responses. The "missing" cases pin the exact failure, so that a version bump or an added jar that
 * changes the picture shows up here rather than in the store's code.
 */
import * as assert from 'node:assert/strict';
import { at, es, type EsResponse, type Json, ndjson, requireEs } from './es-client';

const P = `ew-estest-${process.pid}`;
const IDX = `${P}-conn-2024.01.15`;
/** Tests that change documents use this copy, so that IDX stays as seeded for the read-only ones. */
const MUT = `${P}-mut`;

interface ConnDoc {
  [key: string]: Json;
}

function conn(uid: string, ts: string, origH: string, respH: string, respP: number, proto: string, service: string, bytes: number, notes: Json[]): ConnDoc {
  return { uid, ts, id: { orig_h: origH, orig_p: 40000, resp_h: respH, resp_p: respP }, proto, service, orig_bytes: bytes, history: 'ShADadFf', notes };
}

const DOCS: ConnDoc[] = [
  conn('C1', '2024-01-15T10:00:01Z', '10.244.1.5', '10.96.0.10', 53, 'udp', 'dns', 60, [{ kind: 'dns', score: 0.1 }]),
  conn('C2', '2024-01-15T10:00:30Z', '10.244.2.7', '10.244.1.5', 8080, 'tcp', 'http', 1200, [
    { kind: 'slow', score: 0.9 },
    { kind: 'http', score: 0.2 },
  ]),
  conn('C3', '2024-01-15T10:01:10Z', '192.168.1.20', '10.244.3.9', 443, 'tcp', 'ssl', 5000, []),
  conn('C4', '2024-01-15T10:02:45Z', '10.245.0.1', '10.244.0.1', 443, 'tcp', 'ssl', 300, [{ kind: 'slow', score: 0.5 }]),
  conn('C5', '2024-01-15T10:03:00Z', '10.244.255.254', 'fd00::53', 53, 'udp', 'dns', 80, []),
];

const MAPPING: Json = {
  properties: {
    uid: { type: 'keyword' },
    ts: { type: 'date' },
    id: { properties: { orig_h: { type: 'ip' }, orig_p: { type: 'integer' }, resp_h: { type: 'ip' }, resp_p: { type: 'integer' } } },
    proto: { type: 'keyword' },
    service: { type: 'keyword' },
    orig_bytes: { type: 'long' },
    history: { type: 'text' },
    notes: { type: 'nested', properties: { kind: { type: 'keyword' }, score: { type: 'float' } } },
  },
};

function ok(r: EsResponse, what: string): Json {
  assert.ok(r.status >= 200 && r.status < 300, `${what}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
  return r.body;
}

function ids(body: Json): string[] {
  const hits = at(body, 'hits.hits');
  assert.ok(Array.isArray(hits), `no hits in ${JSON.stringify(body).slice(0, 300)}`);
  return hits.map((h) => String(at(h, '_id')));
}

async function search(index: string, query: Json, extra: { [k: string]: Json } = {}): Promise<Json> {
  return ok(await es('POST', `/${index}/_search`, { size: 100, _source: false, sort: [{ uid: 'asc' }], query, ...extra }), 'search');
}

/** Error text of a failed request, whatever shape ES gave it. */
function reason(r: EsResponse): string {
  return JSON.stringify(r.body);
}

describe('elasticsearch test node (in-JVM 8.19, no modules)', function () {
  this.timeout(60_000);

  before(async function () {
    await requireEs(this);
    await es('DELETE', `/${P}-*`);
    await es('DELETE', `/_index_template/${P}-tpl`);
    await es('DELETE', `/_component_template/${P}-base`);
    ok(await es('PUT', `/_component_template/${P}-base`, { template: { settings: { number_of_shards: 1, number_of_replicas: 0 } } }), 'component template');
    ok(
      await es('PUT', `/_index_template/${P}-tpl`, {
        index_patterns: [`${P}-conn-*`],
        priority: 500,
        composed_of: [`${P}-base`],
        template: { mappings: MAPPING, aliases: { [`${P}-conn`]: {} } },
      }),
      'index template',
    );
    const bulk = ndjson(DOCS.flatMap((d) => [{ index: { _index: IDX, _id: d.uid } }, d]));
    const r = ok(await es('POST', '/_bulk?refresh=true', bulk), 'bulk');
    assert.equal(at(r, 'errors'), false);
    ok(await es('PUT', `/${MUT}`, { settings: { number_of_shards: 1, number_of_replicas: 0 }, mappings: MAPPING }), 'mut index');
    const seeded = ok(await es('POST', '/_bulk?refresh=true', ndjson(DOCS.flatMap((d) => [{ index: { _index: MUT, _id: d.uid } }, d]))), 'bulk mut');
    assert.equal(at(seeded, 'errors'), false);
  });

  after(async () => {
    // Runs even when `before` skipped; the node may be absent then.
    try {
      await es('DELETE', `/${P}-*`);
      await es('DELETE', `/_index_template/${P}-tpl`);
      await es('DELETE', `/_component_template/${P}-base`);
    } catch {
      /* nothing to clean */
    }
  });

  it('is one 8.19 node with only the netty4 classpath plugin and no modules', async () => {
    const health = ok(await es('GET', '/_cluster/health'), 'health');
    assert.equal(at(health, 'number_of_nodes'), 1);
    const nodes = ok(await es('GET', '/_nodes/plugins'), 'nodes');
    const node = Object.values((at(nodes, 'nodes') ?? {}) as { [id: string]: Json })[0];
    assert.match(String(at(node, 'version')), /^8\.19\.\d+$/);
    assert.deepEqual(at(node, 'modules'), []);
    assert.deepEqual(
      (at(node, 'plugins') as Json[]).map((p) => at(p, 'name')),
      ['org.elasticsearch.transport.netty4.Netty4Plugin'],
    );
  });

  it('creates the index from the composable + component template, with the explicit mapping and alias', async () => {
    // The index name has dots, so step into it before using dotted paths.
    const m = ok(await es('GET', `/${IDX}/_mapping`), 'mapping') as { [k: string]: Json };
    const mine = m[IDX];
    assert.equal(at(mine, 'mappings.properties.id.properties.orig_h.type'), 'ip');
    assert.equal(at(mine, 'mappings.properties.notes.type'), 'nested');
    assert.equal(at(mine, 'mappings.properties.orig_bytes.type'), 'long');
    const s = ok(await es('GET', `/${IDX}/_settings`), 'settings') as { [k: string]: Json };
    assert.equal(at(s[IDX], 'settings.index.number_of_replicas'), '0');
    const a = ok(await es('GET', `/_alias/${P}-conn`), 'alias');
    assert.deepEqual(Object.keys(a as object), [IDX]);
  });

  it('accepts the core field types', async () => {
    const props: Json = {
      k: { type: 'keyword' },
      ip: { type: 'ip' },
      l: { type: 'long' },
      i: { type: 'integer' },
      d: { type: 'double' },
      hf: { type: 'half_float' },
      ts: { type: 'date' },
      tn: { type: 'date_nanos' },
      b: { type: 'boolean' },
      t: { type: 'text' },
      n: { type: 'nested', properties: { x: { type: 'keyword' } } },
      o: { properties: { y: { type: 'long' } } },
      f: { type: 'flattened' },
      ipr: { type: 'ip_range' },
      g: { type: 'geo_point' },
      bin: { type: 'binary' },
      dv: { type: 'dense_vector', dims: 3 },
      al: { type: 'alias', path: 'l' },
      c: { type: 'completion' },
    };
    ok(await es('PUT', `/${P}-types`, { mappings: { properties: props } }), 'create');
    const m = ok(await es('GET', `/${P}-types/_mapping`), 'mapping');
    assert.equal(at(m, `${P}-types.mappings.properties.ipr.type`), 'ip_range');
    assert.equal(at(m, `${P}-types.mappings.properties.tn.type`), 'date_nanos');
  });

  it('writes to best_compression (zstd, native) and logsdb indices', async () => {
    // Guards the native zstd setup: without it the shard fails on its first refresh (HTTP 500).
    ok(await es('PUT', `/${P}-zstd`, { settings: { 'index.codec': 'best_compression', number_of_replicas: 0 } }), 'zstd index');
    ok(await es('PUT', `/${P}-logsdb`, { settings: { 'index.mode': 'logsdb', number_of_replicas: 0 } }), 'logsdb index');
    const bulk = ndjson([
      { index: { _index: `${P}-zstd` } },
      { m: 'hello' },
      { index: { _index: `${P}-logsdb` } },
      { '@timestamp': '2024-01-15T10:00:00Z', 'host.name': 'node-1', message: 'hello' },
    ]);
    const r = ok(await es('POST', '/_bulk?refresh=true', bulk), 'bulk');
    assert.equal(at(r, 'errors'), false, JSON.stringify(r).slice(0, 400));
    assert.equal(at(ok(await es('GET', `/${P}-zstd,${P}-logsdb/_count`), 'count'), 'count'), 2);
  });

  it('rejects field types that live in modules or x-pack', async () => {
    const missing = [
      'scaled_float',
      'unsigned_long',
      'wildcard',
      'constant_keyword',
      'match_only_text',
      'version',
      'geo_shape',
      'join',
      'search_as_you_type',
      'token_count',
      'rank_feature',
      'histogram',
      'murmur3',
      'percolator',
    ];
    for (const type of missing) {
      const r = await es('PUT', `/${P}-bad`, { mappings: { properties: { f: { type } } } });
      assert.equal(r.status, 400, type);
      assert.match(reason(r), new RegExp(`The mapper type \\[${type}\\] declared on field \\[f\\] does not exist`), type);
    }
  });

  it('term query on keyword', async () => {
    assert.deepEqual(ids(await search(`${P}-conn`, { term: { service: 'ssl' } })), ['C3', 'C4']);
  });

  it('CIDR on an ip field: term/terms take 10.244.0.0/16 (IPv4 and IPv6); range takes bounds, not CIDR', async () => {
    assert.deepEqual(ids(await search(`${P}-conn`, { term: { 'id.orig_h': '10.244.0.0/16' } })), ['C1', 'C2', 'C5']);
    assert.deepEqual(ids(await search(`${P}-conn`, { terms: { 'id.resp_h': ['10.244.0.0/16', 'fd00::/8'] } })), ['C2', 'C3', 'C4', 'C5']);
    assert.deepEqual(ids(await search(`${P}-conn`, { range: { 'id.orig_h': { gte: '10.244.0.0', lte: '10.244.255.255' } } })), ['C1', 'C2', 'C5']);
    const r = await es('POST', `/${P}-conn/_search`, { query: { range: { 'id.orig_h': { gte: '10.244.0.0/16' } } } });
    assert.equal(r.status, 400);
    assert.match(reason(r), /'10\.244\.0\.0\/16' is not an IP string literal/);
  });

  it('nested query matches kind and score in the same nested object', async () => {
    const q: Json = { nested: { path: 'notes', query: { bool: { must: [{ term: { 'notes.kind': 'slow' } }, { range: { 'notes.score': { gte: 0.8 } } }] } } } };
    assert.deepEqual(ids(await search(`${P}-conn`, q)), ['C2']);
  });

  it('aggregations: terms, date_histogram, ip_range mask, nested, cardinality, sum, composite, top_hits', async () => {
    const body = ok(
      await es('POST', `/${P}-conn/_search?size=0`, {
        aggs: {
          svc: { terms: { field: 'service', order: { _key: 'asc' } } },
          per_min: { date_histogram: { field: 'ts', fixed_interval: '1m' } },
          pods: { ip_range: { field: 'id.orig_h', ranges: [{ mask: '10.244.0.0/16' }] } },
          notes: { nested: { path: 'notes' }, aggs: { kind: { terms: { field: 'notes.kind' } } } },
          peers: { cardinality: { field: 'id.resp_h' } },
          bytes: { sum: { field: 'orig_bytes' } },
          by_proto: { composite: { sources: [{ p: { terms: { field: 'proto' } } }] } },
          biggest: { top_hits: { size: 1, sort: [{ orig_bytes: 'desc' }], _source: ['uid'] } },
        },
      }),
      'aggs',
    );
    const buckets = (path: string): Json[] => at(body, `aggregations.${path}.buckets`) as Json[];
    assert.deepEqual(
      buckets('svc').map((b) => [at(b, 'key'), at(b, 'doc_count')]),
      [
        ['dns', 2],
        ['http', 1],
        ['ssl', 2],
      ],
    );
    assert.deepEqual(
      buckets('per_min').map((b) => [at(b, 'key_as_string'), at(b, 'doc_count')]),
      [
        ['2024-01-15T10:00:00.000Z', 2],
        ['2024-01-15T10:01:00.000Z', 1],
        ['2024-01-15T10:02:00.000Z', 1],
        ['2024-01-15T10:03:00.000Z', 1],
      ],
    );
    assert.equal(at(body, 'aggregations.pods.buckets.0.doc_count'), 3);
    assert.equal(at(body, 'aggregations.pods.buckets.0.to'), '10.245.0.0');
    assert.equal(at(body, 'aggregations.notes.doc_count'), 4);
    assert.deepEqual(
      buckets('notes.kind').map((b) => [at(b, 'key'), at(b, 'doc_count')]),
      [
        ['slow', 2],
        ['dns', 1],
        ['http', 1],
      ],
    );
    assert.equal(at(body, 'aggregations.peers.value'), 5);
    assert.equal(at(body, 'aggregations.bytes.value'), 6640);
    assert.deepEqual(
      buckets('by_proto').map((b) => [at(b, 'key.p'), at(b, 'doc_count')]),
      [
        ['tcp', 3],
        ['udp', 2],
      ],
    );
    assert.equal(at(body, 'aggregations.biggest.hits.hits.0._id'), 'C3');
  });

  it('search_after pagination over a point in time visits every document once, in sort order', async () => {
    const pit = ok(await es('POST', `/${P}-conn/_pit?keep_alive=1m`), 'pit');
    const seen: string[] = [];
    let after: Json | undefined;
    for (let page = 0; page < 10; page++) {
      const req: { [k: string]: Json } = {
        size: 2,
        _source: false,
        pit: { id: at(pit, 'id') as string, keep_alive: '1m' },
        sort: [{ ts: 'asc' }, { uid: 'asc' }],
      };
      if (after !== undefined) req.search_after = after;
      const body = ok(await es('POST', '/_search', req), 'page');
      const hits = at(body, 'hits.hits') as Json[];
      if (hits.length === 0) break;
      seen.push(...hits.map((h) => String(at(h, '_id'))));
      after = at(hits[hits.length - 1], 'sort');
    }
    assert.deepEqual(seen, ['C1', 'C2', 'C3', 'C4', 'C5']);
    ok(await es('DELETE', '/_pit', { id: at(pit, 'id') as string }), 'close pit');
  });

  it('scroll still works', async () => {
    const first = ok(await es('POST', `/${P}-conn/_search?scroll=1m`, { size: 3, sort: ['_doc'], _source: false }), 'scroll');
    const next = ok(await es('POST', '/_search/scroll', { scroll: '1m', scroll_id: at(first, '_scroll_id') as string }), 'scroll 2');
    assert.equal(ids(first).length + ids(next).length, 5);
  });

  it('aliases: add/remove, filtered alias, write index; rollover on an alias', async () => {
    ok(
      await es('POST', '/_aliases', {
        actions: [
          { add: { index: MUT, alias: `${P}-tcp`, filter: { term: { proto: 'tcp' } } } },
          { add: { index: MUT, alias: `${P}-w`, is_write_index: true } },
        ],
      }),
      'aliases',
    );
    assert.equal(at(ok(await es('GET', `/${P}-tcp/_count`), 'count'), 'count'), 3);
    ok(await es('PUT', `/${P}-w/_doc/C6?refresh=true`, { uid: 'C6', proto: 'icmp' }), 'write through alias');
    assert.equal(at(ok(await es('GET', `/${MUT}/_doc/C6`), 'get'), 'found'), true);
    ok(await es('POST', '/_aliases', { actions: [{ remove: { index: MUT, alias: `${P}-tcp` } }] }), 'remove');
    assert.equal((await es('GET', `/_alias/${P}-tcp`)).status, 404);

    ok(await es('PUT', `/${P}-r-000001`, { aliases: { [`${P}-r`]: { is_write_index: true } } }), 'rollover base');
    const ro = ok(await es('POST', `/${P}-r/_rollover`, { conditions: { max_docs: 0 } }), 'rollover');
    assert.equal(at(ro, 'new_index'), `${P}-r-000002`);
    assert.equal(at(ro, 'rolled_over'), true);
  });

  it('document update (partial doc), delete, optimistic concurrency and create conflicts work', async () => {
    const u = ok(await es('POST', `/${MUT}/_update/C5?refresh=true`, { doc: { service: 'dns-over-udp' } }), 'update');
    assert.equal(at(u, 'result'), 'updated');
    const bad = await es('PUT', `/${MUT}/_doc/C5?if_seq_no=0&if_primary_term=1`, { uid: 'C5' });
    assert.equal(bad.status, 409);
    const dup = await es('PUT', `/${MUT}/_create/C1`, { uid: 'C1' });
    assert.equal(dup.status, 409);
    assert.equal(at(ok(await es('DELETE', `/${MUT}/_doc/C5?refresh=true`), 'delete'), 'result'), 'deleted');
  });

  it('delete-by-query workaround: search ids + _bulk delete', async () => {
    const hits = ids(await search(MUT, { term: { proto: 'udp' } }));
    assert.deepEqual(hits, ['C1']); // C5 (udp) was deleted above
    const del = ok(await es('POST', '/_bulk?refresh=true', ndjson(hits.map((id) => ({ delete: { _index: MUT, _id: id } })))), 'bulk delete');
    assert.equal(at(del, 'errors'), false);
    assert.equal(at(ok(await es('GET', `/${MUT}/_count?q=proto:udp`), 'count'), 'count'), 0);
  });

  it('data streams: writing through a data_stream template creates .ds- backing indices and rollover works, but the _data_stream API is absent', async () => {
    const ds = `${P}-logs`;
    ok(
      await es('PUT', `/_index_template/${P}-ds`, {
        index_patterns: [`${ds}*`],
        data_stream: {},
        priority: 600,
        template: { settings: { number_of_replicas: 0 } },
      }),
      'ds template',
    );
    try {
      const w = ok(await es('POST', `/${ds}/_doc?refresh=true`, { '@timestamp': '2024-01-15T10:00:00Z', m: 1 }), 'write');
      assert.match(String(at(w, '_index')), new RegExp(`^\\.ds-${ds}-\\d{4}\\.\\d{2}\\.\\d{2}-000001$`));
      const ro = ok(await es('POST', `/${ds}/_rollover`), 'rollover');
      assert.match(String(at(ro, 'new_index')), /-000002$/);
      const get = await es('GET', `/_data_stream/${ds}`);
      assert.equal(get.status, 405);
    } finally {
      // Without the data-streams module a data stream cannot be deleted; the backing indices can't either
      // (they are a stream's write index), so the stream stays until the node's data dir is wiped.
      await es('DELETE', `/_index_template/${P}-ds`);
    }
  });

  it('APIs from modules are absent: _delete_by_query, _update_by_query, _reindex, search templates, GET /', async () => {
    const dbq = await es('POST', `/${P}-conn/_delete_by_query`, { query: { match_all: {} } });
    assert.equal(dbq.status, 400);
    assert.match(reason(dbq), /no handler found for uri \[\/[^\]]*_delete_by_query\]/);
    const ubq = await es('POST', `/${P}-conn/_update_by_query`, { query: { match_all: {} } });
    assert.match(reason(ubq), /no handler found/);
    const tpl = await es('POST', `/${P}-conn/_search/template`, { source: { query: { match_all: {} } } });
    assert.match(reason(tpl), /no handler found/);
    // _reindex, GET / and HEAD / are swallowed by other routes (/{index}) and answer 405.
    assert.equal((await es('POST', '/_reindex', { source: { index: IDX }, dest: { index: `${P}-copy` } })).status, 405);
    assert.equal((await es('GET', '/')).status, 405);
    assert.equal((await es('HEAD', '/')).status, 405);
  });

  it('scripts are absent (no Painless): scripted update, runtime fields', async () => {
    const u = await es('POST', `/${MUT}/_update/C2`, { script: { source: 'ctx._source.orig_bytes += 1' } });
    assert.equal(u.status, 400);
    assert.match(reason(u), /script_lang not supported \[painless\]/);
    const rt = await es('POST', `/${P}-conn/_search`, { runtime_mappings: { x: { type: 'long', script: 'emit(1)' } }, aggs: { a: { sum: { field: 'x' } } } });
    assert.match(reason(rt), /script_lang not supported \[painless\]/);
  });

  it('ingest processors are absent (the pipeline API exists, its processors do not)', async () => {
    const r = await es('PUT', `/_ingest/pipeline/${P}-p`, { processors: [{ set: { field: 'x', value: 'y' } }] });
    assert.equal(r.status, 400);
    assert.match(reason(r), /No processor type exists with name \[set\]/);
  });

  it('aggregations from modules/x-pack are absent; core pipeline aggs are present', async () => {
    for (const [name, agg] of [
      ['auto_date_histogram', { auto_date_histogram: { field: 'ts' } }],
      ['adjacency_matrix', { adjacency_matrix: { filters: { a: { term: { proto: 'tcp' } } } } }],
      ['matrix_stats', { matrix_stats: { fields: ['orig_bytes'] } }],
      ['multi_terms', { multi_terms: { terms: [{ field: 'proto' }, { field: 'service' }] } }],
      ['top_metrics', { top_metrics: { metrics: { field: 'orig_bytes' }, sort: { ts: 'desc' } } }],
      ['string_stats', { string_stats: { field: 'service' } }],
      ['boxplot', { boxplot: { field: 'orig_bytes' } }],
    ] as [string, Json][]) {
      const r = await es('POST', `/${P}-conn/_search?size=0`, { aggs: { x: agg } });
      assert.equal(r.status, 400, name);
      assert.match(reason(r), new RegExp(`Unknown aggregation type \\[${name}\\]`), name);
    }
    const hist = { date_histogram: { field: 'ts', fixed_interval: '1m' } };
    for (const name of ['derivative', 'moving_fn', 'bucket_sort', 'bucket_selector']) {
      const r = await es('POST', `/${P}-conn/_search?size=0`, { aggs: { h: { ...hist, aggs: { p: { [name]: { buckets_path: '_count' } } } } } });
      assert.match(reason(r), new RegExp(`Unknown aggregation type \\[${name}\\]`), name);
    }
    const okAggs = ok(
      await es('POST', `/${P}-conn/_search?size=0`, {
        aggs: {
          h: { ...hist, aggs: { cs: { cumulative_sum: { buckets_path: '_count' } } } },
          st: { stats_bucket: { buckets_path: 'h>_count' } },
          sig: { significant_terms: { field: 'service' } },
          rare: { rare_terms: { field: 'service' } },
          pct: { percentiles: { field: 'orig_bytes', percents: [50] } },
        },
      }),
      'core aggs',
    );
    assert.equal(at(okAggs, 'aggregations.h.buckets.3.cs.value'), 5);
    assert.equal(at(okAggs, 'aggregations.st.count'), 4);
  });

  it('deletes indices, including by wildcard (action.destructive_requires_name=false on this node)', async () => {
    ok(await es('PUT', `/${P}-gone-1`), 'create 1');
    ok(await es('PUT', `/${P}-gone-2`), 'create 2');
    ok(await es('DELETE', `/${P}-gone-1`), 'delete one');
    assert.equal((await es('GET', `/${P}-gone-1`)).status, 404);
    ok(await es('DELETE', `/${P}-gone-*`), 'delete wildcard');
    assert.equal((await es('GET', `/${P}-gone-2`)).status, 404);
  });
});
