/**
 * The flows queue's backlog is counted once for all requests in flight, not once per request:
 * bodies that trickle in (slow senders, a slowloris) used to poll the queue every 250 ms each, and
 * 20 of them took 5% of the server's CPU in the soak (bench/soak.ts). The admission control they
 * serve still holds for each request.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { BacklogError, ingestFlows } from '../../src/service/flow-ingest';
import { LocalQueue, LocalQueueJournal } from '../../src/service/queue/local';
import type { FlowJobData, FlowResult } from '../../src/service/queue';
import type { JobState } from '../../src/service/queue/types';
import { sample } from './harness';

/** The real local queue, counting how often its backlog is read. */
class CountedQueue extends LocalQueue<FlowJobData, null, FlowResult> {
  reads = 0;
  override async counts(): Promise<Record<JobState, number>> {
    this.reads++;
    return super.counts();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('flow ingestion: one backlog count for all requests in flight', function () {
  this.timeout(30_000);
  let dir: string;
  let journal: LocalQueueJournal;
  let lines: string[];
  const opts = { attempts: 1, backoffMs: 10, keepCompleted: 100, keepFailed: 100 };
  const base = { maxLineBytes: 1 << 20, batchRecords: 2, batchBytes: 1 << 20 };

  before(async () => {
    const recs: ConnRecord[] = [];
    await analyzeFile(sample('scan.pcap'), (r) => recs.push(r));
    lines = recs.slice(0, 12).map((r) => JSON.stringify(r));
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-backlog-count-'));
    journal = new LocalQueueJournal(dir);
  });
  afterEach(() => {
    journal.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A body that sends one line every `everyMs`, as a slow sender does. */
  const trickle = (ls: string[], everyMs: number): PassThrough => {
    const body = new PassThrough();
    void (async () => {
      for (const l of ls) {
        body.write(`${l}\n`);
        await sleep(everyMs);
      }
      body.end();
    })();
    return body;
  };

  it('reads the count about once per poll period whatever the number of slow bodies', async () => {
    const q = new CountedQueue(journal, 'flows', opts);
    const requests = 10;
    const pollMs = 100;
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: requests }, (_, i) =>
        ingestFlows(trickle(lines, 100), q, { ...base, source: `slow-${i}`, format: 'ndjson', backlog: { max: 1000, maxWaitMs: 10_000, pollMs } }),
      ),
    );
    const elapsed = performance.now() - t0;
    // Every record of every body queued, in jobs of two.
    assert.deepEqual(
      results.map((r) => r.summary.records),
      Array(requests).fill(lines.length),
    );
    assert.equal((await q.counts()).waiting, (requests * lines.length) / 2);
    // Per request that was ~1 + elapsed/pollMs reads each (about 130 here); shared, about one per period.
    const periods = Math.ceil(elapsed / pollMs);
    assert.ok(q.reads <= periods + 3, `${q.reads} backlog reads in ${periods} poll periods for ${requests} requests`);
  });

  it('still holds every request at a full backlog and answers it with BacklogError', async () => {
    const q = new CountedQueue(journal, 'flows', opts);
    for (let i = 0; i < 3; i++) await q.add({ source: 'filler', records: [] });
    const settle = await Promise.allSettled(
      Array.from({ length: 4 }, (_, i) =>
        ingestFlows(trickle(lines, 20), q, { ...base, source: `held-${i}`, format: 'ndjson', backlog: { max: 3, maxWaitMs: 300, pollMs: 50 } }),
      ),
    );
    for (const s of settle) {
      assert.equal(s.status, 'rejected');
      assert.ok(s.reason instanceof BacklogError, String(s.reason));
      // Nothing read past the full queue: no line was taken.
      assert.equal((s.reason as BacklogError).taken?.records, 0);
    }
    assert.equal((await q.counts()).waiting, 3);
  });
});
