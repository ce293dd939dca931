import * as assert from 'node:assert/strict';
import { CONN_MAPPING, fromEcs, toEcs } from '../../src/store/ecs';
import { flowTwin, plain, sampleRecords, v6Twin, withK8s } from './fixtures';
import type { StoreRecord } from '../../src/store/types';

/** Every leaf path of a document must be declared in the mapping (it is `dynamic: strict`). */
function leafPaths(o: unknown, prefix = ''): string[] {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return [prefix.replace(/\.$/, '')];
  return Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => (k === 'labels' ? [`${prefix}${k}`] : leafPaths(v, `${prefix}${k}.`)));
}

function mapped(path: string): boolean {
  let node = CONN_MAPPING as { properties?: Record<string, unknown> };
  for (const part of path.split('.')) {
    const next = node.properties?.[part] as { properties?: Record<string, unknown> } | undefined;
    if (next === undefined) return false;
    node = next;
  }
  return true;
}

describe('store: ECS mapping of connection records', () => {
  let records: StoreRecord[] = [];
  before(async () => {
    const base = await sampleRecords();
    records = [
      ...base.map(withK8s),
      ...base.slice(0, 5).map((r, i) => ({ ...v6Twin(r, i), vlan: 100 + i, inner_vlan: 7 })),
      ...base.slice(5, 9).map((r, i) => flowTwin(r, i, i % 2 === 0 ? 'one-way' : 'midstream')),
    ];
  });

  it('a record read back equals the record written (506 sample records, k8s and v6 variants)', () => {
    assert.ok(records.length > 500);
    for (const r of records) assert.deepStrictEqual(fromEcs(plain(toEcs(r))), plain(r), r.uid);
  });

  it('writes ECS fields with their meaning', () => {
    const r = records.find((x) => x.uid === 'C1WZE8XCyL59ECGXI7') as StoreRecord;
    const d = toEcs(r);
    assert.equal(d['@timestamp'], '2026-01-15T10:00:00.001000000Z');
    assert.equal(d.event.end, '2026-01-15T10:00:00.001400000Z');
    assert.equal(d.event.duration, 400_000);
    assert.deepEqual([d.event.kind, d.event.category, d.event.type, d.event.dataset], ['event', ['network'], ['connection'], 'eastwatch.conn']);
    // source.bytes is IP bytes (Elastic's Zeek integration: orig_ip_bytes); payload bytes in zeek.connection.
    assert.deepEqual(d.source, { ip: '10.244.1.11', port: 39782, bytes: 60, packets: 1, mac: '0A-58-0A-F4-01-0B' });
    assert.equal(d.destination.bytes, r.resp_ip_bytes);
    assert.equal(d.network.bytes, 60 + r.resp_ip_bytes);
    assert.equal(d.zeek.connection.orig_bytes, 0);
    assert.deepEqual(d.related.ip, ['10.244.1.11', '10.244.2.20']);
    assert.equal(d.network.direction, 'internal');
    assert.equal(d.network.iana_number, '6');
    assert.equal(d.zeek.connection.state, 'REJ');
    assert.equal(d.zeek.connection.orig_ip_bytes, 60);
    const k = toEcs(records.find((x) => x.k8s?.resp.namespace === 'kube-system') as StoreRecord);
    assert.equal(k.eastwatch.destination?.workload, 'coredns');
    assert.equal(k.eastwatch.policy?.allowed_by[0], 'shop/allow-dns');
  });

  it('IP bytes where a flow source has no payload counts; observed and counts as eastwatch.observed/counts', () => {
    const base = records.find((x) => x.uid === 'C1WZE8XCyL59ECGXI7') as StoreRecord;
    const r = flowTwin({ ...base, orig_ip_bytes: 23_000_000, orig_pkts: 15_800 }, 99, 'one-way', 'reports');
    const d = toEcs(r);
    assert.equal(d.eastwatch.observed, 'one-way');
    assert.equal(d.eastwatch.counts, 'reports');
    assert.equal(toEcs(base).eastwatch.counts, undefined);
    assert.equal(d.source.bytes, 23_000_000);
    assert.equal(d.network.bytes, 23_000_000);
    assert.equal(d.zeek.connection.orig_bytes, 0);
    assert.equal(toEcs(base).eastwatch.observed, undefined);
    assert.deepStrictEqual(fromEcs(plain(d)), plain(r));
  });

  it('documents stored before source.bytes held IP bytes read back with their payload bytes', () => {
    const r = records.find((x) => x.orig_bytes > 0 && x.resp_bytes > 0) as StoreRecord;
    const old = plain(toEcs(r));
    old.source.bytes = r.orig_bytes;
    old.destination.bytes = r.resp_bytes;
    delete old.zeek.connection.orig_bytes;
    delete old.zeek.connection.resp_bytes;
    assert.deepStrictEqual(fromEcs(old), plain(r));
  });

  it('every field written is in the explicit mapping', () => {
    const paths = new Set([...records, flowTwin(records[0], 98, 'midstream', 'reports')].flatMap((r) => leafPaths(toEcs(r))));
    for (const p of paths) assert.ok(mapped(p), `unmapped field ${p}`);
    assert.ok(paths.has('network.vlan.id') && paths.has('eastwatch.source.labels') && paths.has('zeek.connection.tunnel_parents'));
    assert.ok(paths.has('eastwatch.observed') && paths.has('eastwatch.counts') && paths.has('zeek.connection.orig_bytes'));
  });
});
