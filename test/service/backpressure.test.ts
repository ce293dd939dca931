/**
 * Flow ingestion waits for the workers: with the flows queue full, reading a request's body
 * stops, and after the configured wait the request is answered 503 with Retry-After, the lines
 * before it queued and nothing more, and the answer says how many lines were read and where to resume. Redis holds a bounded backlog, whatever clients send.
 */
import { strict as assert } from 'node:assert';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { requireElasticsearch, sample, startHarness, type Harness } from './harness';

describe('flow ingestion backpressure (Redis, no worker running)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async function () {
    requireElasticsearch(this);
    h = await startHarness({
      mode: 'redis+es',
      workers: false,
      env: { EASTWATCH_FLOW_BATCH_RECORDS: '100', EASTWATCH_FLOW_BACKLOG_BATCHES: '3', EASTWATCH_FLOW_BACKLOG_WAIT_MS: '1000' },
    });
  });
  after(async () => {
    await h?.stop();
  });

  it('stops at the backlog limit and answers 503 with Retry-After', async () => {
    const recs: ConnRecord[] = [];
    await analyzeFile(sample('scan.pcap'), (r) => recs.push(r));
    // 32 copies (new uids): about 5 MB, read in chunks of 64 KiB, so the gate has many chances to stop it.
    const lines: string[] = [];
    for (let k = 0; k < 32; k++) for (const r of recs) lines.push(JSON.stringify({ ...r, uid: `${r.uid}k${k}` }));
    const body = lines.join('\n');
    const r = await h.call('POST', '/api/v1/flows?format=ndjson', { key: h.keys.ingest, body });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.headers.get('retry-after'), '30');
    assert.match(r.json.error, /the flows queue has \d+ batches waiting/);
    // The body is cut at a line boundary and the answer says which lines were taken: the client resends the rest only.
    assert.ok(r.json.linesRead > 0 && r.json.linesRead < lines.length, JSON.stringify(r.json));
    assert.equal(r.json.resumeAtLine, r.json.linesRead + 1);
    assert.equal(r.json.records, r.json.linesRead, 'one record per ndjson line, every line before the cut queued');
    assert.equal(r.json.rejected, 0);
    assert.match(r.json.error, new RegExp(`send the rest again from line ${r.json.resumeAtLine}`));
    let queued = 0;
    for (const id of r.json.jobs as string[]) queued += ((await h.running.runtime.queues.flows.get(id))?.data.records.length as number) ?? 0;
    assert.equal(queued, r.json.linesRead, 'the queued jobs hold exactly the lines read');
    const counts = await h.running.runtime.queues.flows.counts();
    // The limit (3), plus what was in flight when it was seen: up to 4 batches being queued and the
    // rest of the 64 KiB chunk being parsed (about one batch of these records).
    assert.ok(counts.waiting >= 3 && counts.waiting <= 3 + 4 + 2, JSON.stringify(counts));
    assert.ok(counts.waiting * 100 < lines.length / 4, 'most of the body was not queued');
  });
});
