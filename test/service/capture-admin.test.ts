/**
 * Re-analysis and deletion of stored captures over HTTP, on the embedded default and on Redis +
 * Elasticsearch, with the detectors on: a capture uploaded before the inventory is named after
 * a re-analysis with the same uids (one copy each); a re-analysis keeps the analyst's status on
 * the alerts raised again; a deletion removes the capture's records, application records,
 * alerts, file and job and nothing of another capture; roles and states are enforced.
 */
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readEvents, requireElasticsearch, sample, startHarness, type Harness, type Mode } from './harness';

const sha = (f: string): string => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

for (const mode of ['local', 'redis+es'] as Mode[]) {
  describe(`capture re-analysis and deletion (${mode === 'local' ? 'embedded' : 'Redis + Elasticsearch'})`, function () {
    this.timeout(180_000);
    let h: Harness;
    const cluster = sample('k8s/cluster.pcap');
    const scan = sample('scan.pcap');
    const CL = sha(cluster);
    const SC = sha(scan);

    before(async function () {
      if (mode === 'redis+es') requireElasticsearch(this);
      h = await startHarness({ mode, detectors: true });
    });
    after(async () => {
      await h?.stop();
    });

    const finished = async (id: string): Promise<any> => {
      const events = await readEvents(`${h.url}/api/v1/captures/${id}/events`, h.keys.analyst);
      const done = events[events.length - 1];
      assert.equal(done.event, 'done');
      assert.equal(done.data.state, 'completed', JSON.stringify(done.data));
      await h.running.runtime.store.refresh();
      return done.data;
    };
    const uidsOf = async (id: string): Promise<string[]> => {
      const r = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${id}`)}&limit=1000&sort=uid&order=asc`);
      assert.equal(r.status, 200, r.text);
      return r.json.records.map((x: { uid: string }) => x.uid);
    };
    const count = async (q: string): Promise<number> => {
      const r = await h.call('GET', `/api/v1/aggregations/count?q=${encodeURIComponent(q)}`);
      assert.equal(r.status, 200, r.text);
      return r.json.count;
    };
    const alerts = async (): Promise<{ id: string; status: string; evidence: { uids: string[] } }[]> => {
      const r = await h.call('GET', '/api/v1/alerts?limit=1000&suppressed=true');
      assert.equal(r.status, 200, r.text);
      return r.json.alerts;
    };

    let clusterUids: string[] = [];
    let scanUids: string[] = [];
    it('analyses two captures uploaded before any inventory', async () => {
      for (const [name, f] of [
        ['cluster.pcap', cluster],
        ['scan.pcap', scan],
      ]) {
        const up = await h.call('POST', `/api/v1/captures?name=${name}`, { body: fs.readFileSync(f) });
        assert.equal(up.status, 202, up.text);
        const done = await finished(up.json.capture.id);
        assert.equal(done.reanalysis, null);
      }
      clusterUids = await uidsOf(CL);
      scanUids = await uidsOf(SC);
      assert.equal(clusterUids.length, 13);
      assert.ok(scanUids.length > 50, `scan.pcap: ${scanUids.length} connections`);
      assert.equal(await count('ns:shop'), 0, 'no inventory yet: no names');
      assert.ok(
        (await alerts()).some((a) => a.evidence.uids.some((u) => scanUids.includes(u))),
        'the scan raised an alert',
      );
    });

    it('refuses other roles, malformed and unknown ids', async () => {
      assert.equal((await h.call('POST', `/api/v1/captures/${CL}/reanalyze`, { key: h.keys.ingest })).status, 403);
      assert.equal((await h.call('DELETE', `/api/v1/captures/${CL}`, { key: h.keys.ingest })).status, 403);
      assert.equal((await h.call('POST', '/api/v1/captures/xyz/reanalyze')).status, 400);
      const unknown = 'f'.repeat(64);
      const r = await h.call('DELETE', `/api/v1/captures/${unknown}`);
      assert.equal(r.status, 404);
      assert.match(r.json.error, /no capture f{64}/);
      assert.equal((await h.call('POST', `/api/v1/captures/${unknown}/reanalyze`)).status, 404);
    });

    it('names the records of a capture re-analysed after the inventory arrived, same uids, one copy each', async () => {
      const inv = await h.call('POST', '/api/v1/inventory?source=test', {
        key: h.keys.ingest,
        body: fs.readFileSync(sample('k8s/inventory.json'), 'utf8'),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(inv.status, 201, inv.text);
      const re = await h.call('POST', `/api/v1/captures/${CL}/reanalyze`);
      assert.equal(re.status, 202, re.text);
      assert.equal(re.json.id, CL);
      assert.ok(['waiting', 'active', 'completed'].includes(re.json.state), re.json.state);
      assert.deepEqual({ count: re.json.reanalysis.count, by: re.json.reanalysis.requestedBy }, { count: 1, by: 'test-analyst' });
      const done = await finished(CL);
      assert.equal(done.result.records, 13);
      assert.deepEqual(done.result.replaced.records, 13);
      assert.deepEqual(await uidsOf(CL), clusterUids);
      assert.equal(await count(''), clusterUids.length + scanUids.length);
      assert.ok((await count('ns:shop')) > 0, 'named after the re-analysis');
      const one = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('ns:shop')}&limit=1`);
      assert.equal(one.json.records[0].capture, CL);
    });

    it("keeps the analyst's status on alerts raised again, and removes those the re-analysis no longer raises", async () => {
      type A = { id: string; status: string; destination: { ip?: string; port?: number; namespace?: string }; evidence: { uids: string[] } };
      const ofScan = async (): Promise<A[]> => ((await alerts()) as A[]).filter((a) => a.evidence.uids.some((u) => scanUids.includes(u)));
      const mine = await ofScan();
      // The vertical scan (one address, many ports) is about a port, not a workload: the inventory does not change it.
      const byPort = mine.find((a) => a.destination.ip === undefined && a.destination.port !== undefined);
      assert.ok(byPort, JSON.stringify(mine));
      const acked = await h.call('PATCH', `/api/v1/alerts/${byPort.id}`, { body: { status: 'acknowledged', note: 'known scanner' } });
      assert.equal(acked.status, 200, acked.text);
      const re = await h.call('POST', `/api/v1/captures/${SC}/reanalyze`);
      assert.equal(re.status, 202, re.text);
      const done = await finished(SC);
      assert.equal(done.reanalysis.count, 1);
      assert.equal(done.result.replaced.records, scanUids.length);
      assert.deepEqual(await uidsOf(SC), scanUids);
      const again = await ofScan();
      assert.equal(done.result.alerts, again.length);
      assert.equal(again.find((a) => a.id === byPort.id)?.status, 'acknowledged');
      // The horizontal scan's target is a pod now: its alert has a new identity, and the old one is gone.
      const gone = mine.filter((a) => !again.some((b) => b.id === a.id));
      assert.ok(gone.length >= 1, 'an alert raised before the inventory is not raised again');
      assert.equal(done.result.replaced.alertsRemoved, gone.length);
      for (const g of gone) assert.equal((await h.call('GET', `/api/v1/alerts/${g.id}`)).status, 404);
      assert.ok(
        again.some((a) => a.destination.ip === '10.244.2.20' && a.destination.namespace === 'shop'),
        JSON.stringify(again.map((a) => a.destination)),
      );
    });

    it("deletes a capture's records, alerts, file and job, and nothing of the other capture", async () => {
      const before = await alerts();
      const mine = before.filter((a) => a.evidence.uids.some((u) => scanUids.includes(u)));
      const file = fs.readdirSync(path.join(h.dataDir, 'uploads')).filter((f) => f.startsWith(SC));
      assert.equal(file.length, 1);
      const del = await h.call('DELETE', `/api/v1/captures/${SC}`);
      assert.equal(del.status, 200, del.text);
      assert.deepEqual(del.json, { id: SC, records: scanUids.length, appRecords: 0, alertsRemoved: mine.length, alertsKept: 0, fileRemoved: true });
      await h.running.runtime.store.refresh();
      assert.equal(await count(`capture:${SC}`), 0);
      assert.deepEqual(await uidsOf(CL), clusterUids);
      assert.deepEqual(
        (await alerts()).map((a) => a.id).sort(),
        before
          .filter((a) => !mine.includes(a))
          .map((a) => a.id)
          .sort(),
      );
      assert.equal(fs.readdirSync(path.join(h.dataDir, 'uploads')).filter((f) => f.startsWith(SC)).length, 0);
      assert.equal((await h.call('GET', `/api/v1/captures/${SC}`)).status, 404);
      assert.equal((await h.call('DELETE', `/api/v1/captures/${SC}`)).status, 404);
      assert.equal((await h.call('GET', `/api/v1/captures`)).json.captures.length, 1);
      // The same bytes are a new upload now.
      const up = await h.call('POST', '/api/v1/captures?name=scan.pcap', { body: fs.readFileSync(scan) });
      assert.equal(up.status, 202);
      assert.equal(up.json.created, true);
      await finished(SC);
      assert.deepEqual(await uidsOf(SC), scanUids);
    });

    it('deletes the application records of a capture too', async () => {
      const dns = await h.call('GET', `/api/v1/dns?limit=1000`);
      assert.equal(dns.status, 200, dns.text);
      const ofCluster = dns.json.records.filter((r: { uid: string }) => clusterUids.includes(r.uid)).length;
      assert.ok(ofCluster > 0, 'cluster.pcap has DNS');
      const del = await h.call('DELETE', `/api/v1/captures/${CL}`);
      assert.equal(del.status, 200, del.text);
      assert.equal(del.json.records, 13);
      assert.ok(del.json.appRecords >= ofCluster, JSON.stringify(del.json));
      await h.running.runtime.store.refresh();
      const after = await h.call('GET', `/api/v1/dns?limit=1000`);
      assert.equal(after.json.records.filter((r: { uid: string }) => clusterUids.includes(r.uid)).length, 0);
      assert.equal(await count(''), scanUids.length);
    });

    it('triages many alerts at once, bounded, by analysts only', async () => {
      const open = (await alerts()).filter((a) => a.status !== 'closed');
      assert.ok(open.length >= 2, JSON.stringify(open));
      const ids = open.map((a) => a.id);
      assert.equal((await h.call('PATCH', '/api/v1/alerts', { key: h.keys.ingest, body: { ids, status: 'closed' } })).status, 403);
      const tooMany = await h.call('PATCH', '/api/v1/alerts', { body: { ids: Array.from({ length: 1001 }, (_, i) => `a${i}`), status: 'closed' } });
      assert.equal(tooMany.status, 400);
      assert.match(tooMany.json.error, /ids/);
      assert.equal((await h.call('PATCH', '/api/v1/alerts', { body: { ids } })).status, 400, 'neither status nor note');
      const r = await h.call('PATCH', '/api/v1/alerts', { body: { ids: [...ids, 'not-an-alert'], status: 'closed', note: 'bulk' } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual({ updated: [...r.json.updated].sort(), missing: r.json.missing }, { updated: [...ids].sort(), missing: ['not-an-alert'] });
      const closed = await h.call('GET', '/api/v1/alerts?status=closed&limit=1000&suppressed=true');
      assert.deepEqual(closed.json.alerts.map((a: { id: string }) => a.id).sort(), [...ids].sort());
      for (const a of closed.json.alerts) assert.equal(a.note, 'bulk');
    });
  });
}
