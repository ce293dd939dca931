/**
 * Shipping records to a real eastwatch service (embedded SQLite, in-process queue) through the
 * spool: records made while the service is away are kept on disk and delivered once it is up,
 * also by a new agent process over the same spool (a restart), and records sent before the
 * service restarts are not sent again after it. Counted on the service: the flow source's record
 * count (every record posted, duplicates included) and the stored connections by uid. The service
 * stores a flow record under a uid it derives from the ingest key, the record's uid and its ts
 * (stored-uid.ts): the stored uids must be exactly those of the records sent, each once.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeFile } from '../../src/analyze/pipeline';
import { flowsEndpoint, Shipper } from '../../src/capture/shipper';
import { ndjsonLine } from '../../src/output/formats';
import type { ConnRecord } from '../../parsers/record/conn';
import { corpusPath, requireCorpus } from '../util/corpus';
import { type Harness, startHarness } from '../service/harness';
import { storedUids } from './stored-uid';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function records(rel: string): Promise<ConnRecord[]> {
  const out: ConnRecord[] = [];
  await analyzeFile(corpusPath(rel), (r) => out.push(r));
  return out;
}

/** uid and ts as the service reads them: from the ndjson line the shipper sends. */
const asSent = (recs: ConnRecord[]): { uid: string; ts: number }[] => recs.map((r) => JSON.parse(ndjsonLine(r)) as { uid: string; ts: number });

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const SOURCE = 'agent-test';

async function serviceView(h: Harness): Promise<{ posted: number; uids: string[] }> {
  const src = await h.call('GET', '/api/v1/flows/sources', { key: h.keys.ingest });
  assert.equal(src.status, 200, src.text);
  const mine = (src.json.sources as { source: string; records: number }[]).find((s) => s.source === SOURCE);
  const conns = await h.call('GET', '/api/v1/connections?limit=1000');
  assert.equal(conns.status, 200, conns.text);
  return { posted: mine?.records ?? 0, uids: (conns.json.records as { uid: string }[]).map((r) => r.uid).sort() };
}

describe('shipping records to the service through the spool', function () {
  this.timeout(120_000);
  let spool = '';
  let h: Harness | null = null;
  before(function () {
    requireCorpus(this);
    spool = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-spool-'));
  });
  after(async () => {
    await h?.stop();
    if (spool !== '') fs.rmSync(spool, { recursive: true, force: true });
  });

  it('names the flows endpoint from a base URL or the endpoint itself', () => {
    assert.equal(flowsEndpoint('http://a:8080', 's'), 'http://a:8080/api/v1/flows?format=ndjson&wait=true&source=s');
    assert.equal(flowsEndpoint('http://a:8080/base/', 's'), 'http://a:8080/base/api/v1/flows?format=ndjson&wait=true&source=s');
    assert.equal(flowsEndpoint('https://a/api/v1/flows', 's'), 'https://a/api/v1/flows?format=ndjson&wait=true&source=s');
  });

  it('spools while the service is away, delivers after it comes up and the agent restarts, never twice', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await records('zeek/wikipedia.pcap');
    const second = await records('zeek/pop3/pop3.pcap');
    const third = await records('zeek/http/http-post-large.pcap');
    const opts = { url, key: 'not-yet', spoolDir: spool, source: SOURCE, minBackoffMs: 20, maxBackoffMs: 200, batchRecords: 10, flushMs: 20 };

    // 1. No service: every record is spooled, none shipped; the agent stops with them on disk.
    const a = new Shipper(opts);
    a.open();
    for (const r of first) a.add(r);
    await until(() => a.stats.failedPosts >= 2, 10_000, 'failed posts');
    await a.close(100);
    assert.equal(a.stats.shipped, 0);
    assert.equal(a.stats.spooled, first.length);
    assert.ok(a.stats.spoolBytes > 0);

    // 2. The service comes up; a new agent on the same spool sends what the first left, then its own.
    h = await startHarness({ mode: 'local', env: { EASTWATCH_PORT: String(port) } });
    const b = new Shipper({ ...opts, key: h.keys.ingest });
    b.open();
    assert.equal(b.stats.spoolBytes, a.stats.spoolBytes, 'the restarted agent finds the spool the first left');
    for (const r of second) b.add(r);
    await b.close(60_000);
    assert.equal(b.stats.shipped, first.length + second.length);
    assert.equal(b.stats.spoolBytes, 0);
    let view = await serviceView(h);
    assert.equal(view.posted, first.length + second.length, 'each record posted once');
    assert.deepEqual(view.uids, storedUids(h.keys.ingest, asSent([...first, ...second])));

    // 3. Another restart of the agent with nothing new: nothing is sent again.
    const c = new Shipper({ ...opts, key: h.keys.ingest });
    c.open();
    await c.close(2_000);
    assert.equal(c.stats.posts, 0);
    view = await serviceView(h);
    assert.equal(view.posted, first.length + second.length);

    // 4. The service goes away while an agent runs and comes back (fresh store): only what was
    //    made meanwhile arrives there.
    const d = new Shipper({ ...opts, key: h.keys.ingest });
    d.open();
    await h.stop();
    h = null;
    for (const r of third) d.add(r);
    await until(() => d.stats.failedPosts >= 1, 10_000, 'a failed post while the service is down');
    h = await startHarness({ mode: 'local', env: { EASTWATCH_PORT: String(port) } });
    // The new service has keys of its own: the agent restarts with one of them.
    const e = new Shipper({ ...opts, key: h.keys.ingest });
    await d.close(100);
    e.open();
    await e.close(60_000);
    assert.equal(e.stats.shipped, third.length);
    view = await serviceView(h);
    assert.equal(view.posted, third.length);
    assert.deepEqual(view.uids, storedUids(h.keys.ingest, asSent(third)));
  });
});
