/**
 * Upload order does not matter, and captures are per cluster, on the embedded default and on
 * Redis + Elasticsearch: a capture stored before its cluster's inventory is resolved again in the
 * background when the inventory arrives (a job with progress) and ends with the same identities
 * and verdicts as the same capture uploaded after its inventory; the same bytes uploaded to two
 * clusters are two captures with records of their own, resolved against their own inventories,
 * and deleting or re-analysing one leaves the other alone.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

for (const mode of ['local', 'redis+es'] as Mode[]) {
  describe(`inventory after its records, and captures per cluster (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(180_000);
    let h: Harness;
    const inventory = fs.readFileSync(sample('k8s/inventory.json'), 'utf8');
    const pcap = fs.readFileSync(sample('k8s/cluster.pcap'));
    const ids: Record<string, string> = {};

    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      // Detectors on: a capture stored before its inventory owes the policy violations the inventory reveals.
      h = await startHarness({ mode, detectors: true });
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
    const upload = async (cluster: string): Promise<any> => {
      const up = await h.call('POST', `/api/v1/captures?name=cluster.pcap&cluster=${cluster}`, { body: pcap });
      assert.equal(up.status, 202, up.text);
      assert.equal(up.json.created, true, `a new capture in cluster ${cluster}: ${up.text}`);
      ids[cluster] = up.json.capture.id;
      return finished(up.json.capture.id);
    };
    const uploadInventory = async (cluster: string, text = inventory): Promise<any> => {
      const r = await h.call('POST', `/api/v1/inventory?source=test&cluster=${cluster}`, {
        key: h.keys.ingest,
        body: text,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 201, r.text);
      return r.json;
    };
    /** Polls the snapshot's re-resolution until it has finished; the progress seen on the way too. */
    const resolution = async (id: number): Promise<{ job: any; seen: any[] }> => {
      const seen: any[] = [];
      const until = Date.now() + 60_000;
      for (;;) {
        const r = await h.call('GET', `/api/v1/inventory/${id}/resolution`, { key: h.keys.ingest });
        assert.equal(r.status, 200, r.text);
        if (r.json.progress) seen.push(r.json.progress);
        if (r.json.state === 'completed' || r.json.state === 'failed') {
          await h.running.runtime.store.refresh();
          return { job: r.json, seen };
        }
        assert.ok(Date.now() < until, `resolution ${id} still ${r.json.state} after 60 s`);
        await new Promise((res) => setTimeout(res, 100));
      }
    };
    /** The records of a cluster by their packets' uid (the cluster's qualifier taken off), with their identity. */
    const identities = async (cluster: string): Promise<Map<string, unknown>> => {
      const r = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`cluster:${cluster}`)}&limit=1000`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.next ?? null, null, 'one page holds them all');
      const out = new Map<string, unknown>();
      for (const rec of r.json.records) {
        assert.ok(rec.uid.endsWith(`-${cluster}`), `uid ${rec.uid} of cluster ${cluster}`);
        out.set(rec.uid.slice(0, -cluster.length - 1), rec.k8s ?? null);
      }
      return out;
    };

    /** A cluster's policy-violation alerts, their uids without the cluster's qualifier, in the order of what they name. */
    const policyAlerts = async (cluster: string): Promise<any[]> => {
      const r = await h.call('GET', '/api/v1/alerts?detector=policy-violation&limit=1000');
      assert.equal(r.status, 200, r.text);
      const named = (a: any): string => JSON.stringify([a.source, a.destination, a.title]);
      return r.json.alerts
        .filter((a: any) => a.cluster === cluster)
        .map((a: any) => ({
          ...a,
          evidence: {
            ...a.evidence,
            uids: a.evidence.uids.map((u: string) => {
              assert.ok(u.endsWith(`-${cluster}`), `alert ${a.id}: uid ${u} of cluster ${cluster}`);
              return u.slice(0, -cluster.length - 1);
            }),
          },
        }))
        .sort((a: any, b: any) => (named(a) < named(b) ? -1 : 1));
    };

    it('resolves a capture stored before its inventory in the background, as if uploaded after it', async () => {
      const late = await upload('late');
      assert.ok(late.result.records > 0);
      assert.equal(await count('cluster:late and ns:shop'), 0, 'no inventory yet: no names');
      assert.deepEqual(await policyAlerts('late'), [], 'no inventory yet: no policy to violate');

      const inv = await uploadInventory('late');
      assert.equal(inv.resolution.job, String(inv.id));
      assert.equal(inv.resolution.from, null, 'it holds NetworkPolicies: every record of the cluster may change');
      const { job, seen } = await resolution(inv.id);
      assert.equal(job.state, 'completed', JSON.stringify(job));
      assert.equal(job.cluster, 'late');
      assert.equal(job.result.scanned, late.result.records);
      assert.equal(job.result.updated, late.result.records, 'every record got an identity it lacked');
      assert.ok(seen.length > 0 && seen.every((p) => p.scanned <= p.total));
      assert.ok((await count('cluster:late and ns:shop')) > 0, 'named now');
      // The connections its NetworkPolicies deny are policy violations now, of the capture that holds them.
      const raised = await policyAlerts('late');
      assert.ok(raised.length > 0, 'policy violations raised by the re-resolution');
      assert.equal(job.result.alerts, raised.length);
      assert.equal(
        raised.reduce((n: number, a: any) => n + a.count, 0),
        await count('cluster:late and verdict:denied'),
        'one alert count per denied connection',
      );
      const listed = await h.call('GET', '/api/v1/inventory/resolutions');
      assert.equal(listed.status, 200, listed.text);
      assert.ok(listed.json.resolutions.some((r: { id: string; state: string }) => r.id === String(inv.id) && r.state === 'completed'));

      // The other order: the inventory first, then the same bytes.
      await uploadInventory('early');
      const early = await upload('early');
      assert.equal(early.result.records, late.result.records);
      const a = await identities('late');
      const b = await identities('early');
      assert.equal(a.size, late.result.records);
      assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), 'the same connections');
      let pods = 0;
      let verdicts = 0;
      for (const [uid, k8s] of a) {
        assert.deepEqual(k8s, b.get(uid), `connection ${uid}: the same identity and verdict in either order`);
        const k = k8s as { orig: { kind: string }; policy?: unknown };
        if (k.orig.kind === 'pod') pods++;
        if (k.policy) verdicts++;
      }
      assert.ok(pods > 0 && verdicts > 0, `workloads (${pods}) and verdicts (${verdicts}) compared, not only empty identities`);
      assert.equal(await count('cluster:late and verdict:denied'), await count('cluster:early and verdict:denied'));
      // The capture job of `early` raised the same alerts for its own cluster: the same workloads
      // in two clusters are two alerts (ids scoped to the cluster), and `late`'s are still there.
      const direct = await policyAlerts('early');
      assert.equal(direct.length, raised.length);
      assert.deepEqual(await policyAlerts('late'), raised, "the other cluster's alerts untouched");
      const lateIds = new Set(raised.map((a: any) => a.id));
      assert.equal(direct.filter((a: any) => lateIds.has(a.id)).length, 0, 'no alert id shared by the two clusters');
      const all = await h.call('GET', '/api/v1/alerts?detector=policy-violation&limit=1000');
      assert.equal(all.json.alerts.length, 2 * raised.length, 'two alerts per violation, one per cluster');
      for (let i = 0; i < direct.length; i++) {
        const { evidence: de, cluster: dc, id: di, ...d } = direct[i];
        const { evidence: re, cluster: rc, id: ri, ...r } = raised[i];
        assert.equal(rc, 'late');
        assert.equal(dc, 'early');
        assert.notEqual(di, ri);
        assert.deepEqual(r, d, `alert ${di}: the same in either order`);
        assert.deepEqual(re.figures, de.figures);
        assert.deepEqual([...re.uids].sort(), [...de.uids].sort());
      }
    });

    it('resolving again changes nothing that is already right', async () => {
      const inv = await uploadInventory('late');
      const { job } = await resolution(inv.id);
      assert.equal(job.state, 'completed', JSON.stringify(job));
      assert.ok(job.result.scanned > 0);
      assert.equal(job.result.updated, 0);
      assert.equal(job.result.alerts, 0, 'no alert rewritten when nothing changed');
    });

    it('leaves records outside the snapshot time range alone', async () => {
      // Without NetworkPolicies, and every object created a year after the capture: none of its records can change.
      const doc = JSON.parse(inventory) as { items: { kind: string; metadata: { creationTimestamp?: string } }[] };
      doc.items = doc.items.filter((o) => o.kind !== 'NetworkPolicy');
      for (const o of doc.items) o.metadata.creationTimestamp = '2027-06-01T00:00:00Z';
      await upload('later');
      const inv = await uploadInventory('later', JSON.stringify(doc));
      assert.equal(inv.resolution.from, Date.parse('2027-06-01T00:00:00Z') / 1000);
      const { job } = await resolution(inv.id);
      assert.equal(job.state, 'completed', JSON.stringify(job));
      assert.equal(job.result.scanned, 0);
      assert.equal(await count('cluster:later and ns:shop'), 0);
    });

    it('keeps the same bytes in two clusters as two captures, each deleted and re-analysed alone', async () => {
      const n = await count('cluster:late');
      assert.ok(n > 0);
      assert.equal(await count('cluster:early'), n);
      assert.notEqual(ids.late, ids.early);
      assert.match(ids.late, /^[0-9a-f]{64}-late$/);
      // The default cluster keeps the bare SHA-256 and the packets' uids.
      const plain = await upload('default');
      assert.match(ids.default, /^[0-9a-f]{64}$/);
      assert.equal(ids.late, `${ids.default}-late`);
      assert.equal(await count(`capture:${ids.default}`), plain.result.records);
      const one = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${ids.default}`)}&limit=1`);
      assert.match(one.json.records[0].uid, /^C[A-Za-z0-9]+$/);

      // Packets of a cluster's connection come from its own capture file.
      const rec = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('cluster:early')}&limit=1`);
      const pc = await fetch(`${h.url}/api/v1/connections/${rec.json.records[0].uid}/pcap`, { headers: { authorization: `Bearer ${h.keys.analyst}` } });
      assert.equal(pc.status, 200, await pc.clone().text());
      assert.ok((await pc.arrayBuffer()).byteLength > 24);

      const re = await h.call('POST', `/api/v1/captures/${ids.early}/reanalyze`);
      assert.equal(re.status, 202, re.text);
      const again = await finished(ids.early);
      assert.equal(again.result.replaced.records, n, 'its own records replaced');
      assert.equal(await count('cluster:early'), n);
      assert.equal(await count('cluster:late'), n, 'the other cluster untouched');

      const del = await h.call('DELETE', `/api/v1/captures/${ids.late}`);
      assert.equal(del.status, 200, del.text);
      assert.equal(del.json.records, n);
      assert.equal(del.json.fileRemoved, true);
      await h.running.runtime.store.refresh();
      assert.equal(await count('cluster:late'), 0);
      assert.equal(await count('cluster:early'), n, 'the other cluster keeps its records');
      assert.equal(await count(`capture:${ids.default}`), plain.result.records);
      const still = await h.call('POST', `/api/v1/captures/${ids.early}/reanalyze`);
      assert.equal(still.status, 202, `its file is still kept: ${still.text}`);
      await finished(ids.early);
      assert.equal((await h.call('GET', `/api/v1/captures/${ids.late}`)).status, 404);
    });
  });
}
