/**
 * Cluster names over HTTP, on the embedded default and on Redis + Elasticsearch: inventories,
 * captures and flows carry one; two clusters reusing the same pod addresses resolve
 * independently (each against its own inventory); a cluster without an inventory gets no names
 * although its addresses are another cluster's pods; records carry the cluster
 * (orchestrator.cluster.name, cluster:NAME) and the ClusterIP's service name
 * (eastwatch.destination.service, svc:NAME); bad names are refused.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

for (const mode of ['local', 'redis+es'] as Mode[]) {
  describe(`clusters (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(180_000);
    let h: Harness;
    const inventory = fs.readFileSync(sample('k8s/inventory.json'), 'utf8');
    // The same pod addresses in another cluster, where the namespace is called `store`.
    const westInventory = inventory.replace(/"shop"/g, '"store"');
    assert.notEqual(westInventory, inventory);

    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode });
    });
    after(async () => {
      await h?.stop();
    });

    const finished = async (id: string): Promise<any> => {
      const events = await readEvents(`${h.url}/api/v1/captures/${id}/events`, h.keys.analyst);
      const done = events[events.length - 1];
      assert.equal(done.data.state, 'completed', JSON.stringify(done.data));
      await h.running.runtime.store.refresh();
      return done.data;
    };
    const count = async (q: string): Promise<number> => {
      const r = await h.call('GET', `/api/v1/aggregations/count?q=${encodeURIComponent(q)}`);
      assert.equal(r.status, 200, r.text);
      return r.json.count;
    };
    const upload = async (file: string, cluster: string): Promise<any> => {
      const up = await h.call('POST', `/api/v1/captures?name=${encodeURIComponent(file)}&cluster=${cluster}`, { body: fs.readFileSync(sample(file)) });
      assert.equal(up.status, 202, up.text);
      assert.equal(up.json.capture.cluster, cluster);
      return finished(up.json.capture.id);
    };

    it('keeps inventories per cluster and lists them with their cluster', async () => {
      for (const [cluster, text] of [
        ['east', inventory],
        ['west', westInventory],
      ]) {
        const r = await h.call('POST', `/api/v1/inventory?source=test&cluster=${cluster}`, {
          key: h.keys.ingest,
          body: text,
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(r.status, 201, r.text);
        assert.equal(r.json.cluster, cluster);
      }
      const list = await h.call('GET', '/api/v1/inventory');
      assert.deepEqual(
        list.json.snapshots.map((s: { cluster: string }) => s.cluster),
        ['east', 'west'],
      );
    });

    it('refuses cluster names that are not DNS labels', async () => {
      for (const bad of ['East', '-east', 'a_b', 'x'.repeat(64), '']) {
        const inv = await h.call('POST', `/api/v1/inventory?cluster=${encodeURIComponent(bad)}`, {
          key: h.keys.ingest,
          body: inventory,
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(inv.status, 400, `${bad}: ${inv.text}`);
        assert.match(inv.text, /cluster/);
        const cap = await h.call('POST', `/api/v1/captures?name=x.pcap&cluster=${encodeURIComponent(bad)}`, { body: fs.readFileSync(sample('scan.pcap')) });
        assert.equal(cap.status, 400, `${bad}: ${cap.text}`);
        const fl = await h.call('POST', `/api/v1/flows?format=ndjson&cluster=${encodeURIComponent(bad)}`, { key: h.keys.ingest, body: '{}\n' });
        assert.equal(fl.status, 400, `${bad}: ${fl.text}`);
      }
      assert.equal((await h.call('GET', '/api/v1/inventory')).json.snapshots.length, 2, 'nothing kept from a refused upload');
    });

    it("resolves each capture against its own cluster's inventory only", async () => {
      const west = await upload('pod-traffic.pcap', 'west');
      const east = await upload('k8s/cluster.pcap', 'east');
      // scan.pcap's targets are pods of east (10.244.2.20): a cluster with no inventory names none of them.
      const north = await upload('scan.pcap', 'north');
      assert.equal(await count('cluster:west'), west.result.records);
      assert.equal(await count('cluster:east'), east.result.records);
      assert.equal(await count('orchestrator.cluster.name:north'), north.result.records);
      assert.equal(await count('not cluster:*'), 0, 'every record carries its cluster');

      assert.ok((await count('cluster:west and ns:store')) > 0, 'west named after its own inventory');
      assert.equal(await count('cluster:west and ns:shop'), 0, "never after east's");
      assert.ok((await count('cluster:east and ns:shop')) > 0);
      assert.equal(await count('cluster:east and ns:store'), 0);
      assert.ok((await count('ip:10.244.2.20 and cluster:north')) > 0, 'north reuses the addresses');
      assert.equal(await count('cluster:north and eastwatch.source.kind:*'), 0, 'and gets no identities');
    });

    it('names the service of a ClusterIP or endpoint destination on the record, searchable', async () => {
      const n = await count('cluster:west and eastwatch.destination.service:api and destination.ip:10.96.12.34');
      assert.ok(n > 0);
      // Straight to a backend pod: the pod, and the service it is an endpoint of on that port.
      const direct = await count('cluster:west and eastwatch.destination.kind:pod and eastwatch.destination.service:api');
      assert.ok(direct > 0);
      assert.equal(await count('cluster:west and svc:api'), (await count('cluster:west and destination.ip:10.96.12.34')) + direct);
      const r = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('cluster:west and destination.ip:10.96.12.34')}&limit=1`);
      assert.equal(r.status, 200, r.text);
      const rec = r.json.records[0];
      assert.equal(rec.cluster, 'west');
      assert.deepEqual(rec.k8s.resp, { kind: 'service', namespace: 'store', service: 'api' });
      // Both clusters have a service shop/api (store/api in west); the cluster aggregates like any field.
      const top = await h.call('GET', `/api/v1/aggregations/top?field=cluster&q=${encodeURIComponent('svc:api')}`);
      assert.equal(top.status, 200, top.text);
      assert.deepEqual(top.json.buckets.map((b: { key: string; connections: number }) => [b.key, b.connections]).sort(), [
        ['east', await count('cluster:east and svc:api')],
        ['west', await count('cluster:west and svc:api')],
      ]);
    });

    it('re-assigns a capture to another cluster on re-analysis', async () => {
      const list = await h.call('GET', '/api/v1/captures');
      const north = list.json.captures.find((c: { cluster: string }) => c.cluster === 'north');
      assert.ok(north);
      const re = await h.call('POST', `/api/v1/captures/${north.id}/reanalyze?cluster=east`);
      assert.equal(re.status, 202, re.text);
      assert.equal(re.json.cluster, 'east');
      const done = await finished(north.id);
      assert.equal(await count('cluster:north'), 0);
      assert.equal(await count(`cluster:east and capture:${north.id}`), done.result.records);
      assert.ok((await count(`capture:${north.id} and ns:shop`)) > 0, "named after east's inventory now");
    });

    it("resolves flows against the flow source's cluster", async () => {
      const line = JSON.stringify({
        ts: 1_768_471_300,
        uid: 'x',
        orig_h: '10.244.1.10',
        orig_p: 40000,
        resp_h: '10.96.12.34',
        resp_p: 8080,
        proto: 'tcp',
        duration: 1,
        orig_bytes: 10,
        resp_bytes: 20,
        conn_state: 'SF',
        orig_pkts: 2,
        resp_pkts: 2,
        orig_ip_bytes: 90,
        resp_ip_bytes: 100,
      });
      for (const cluster of ['east', 'west']) {
        const r = await h.call('POST', `/api/v1/flows?format=ndjson&wait=true&source=t-${cluster}&cluster=${cluster}`, {
          key: h.keys.ingest,
          body: `${line}\n`,
        });
        assert.equal(r.status, 202, r.text);
        assert.equal(r.json.stored.written, 1, r.text);
      }
      await h.running.runtime.store.refresh();
      const q = 'source.port:40000 and destination.ip:10.96.12.34';
      assert.equal(await count(q), 2, 'the same 5-tuple in two clusters is two connections');
      const r = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(q)}&limit=10`);
      assert.equal(r.status, 200, r.text);
      const got = r.json.records.map((x: any) => [x.cluster, x.k8s.orig.namespace, x.k8s.resp.service]).sort();
      assert.deepEqual(got, [
        ['east', 'shop', 'api'],
        ['west', 'store', 'api'],
      ]);
    });
  });
}
