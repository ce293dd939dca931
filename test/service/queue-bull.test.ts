/**
 * The Bull queue's view of a job, on a real Redis: a job read while it runs and seen finished by
 * the state read that follows is reported with its result, not as completed with none.
 */
import { strict as assert } from 'node:assert';
import { BullQueue } from '../../src/service/queue/bull';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('Bull queue: job state and result read together (Redis)', function () {
  this.timeout(60_000);
  let q: BullQueue<{ n: number }, null, { doubled: number }>;

  before(async () => {
    q = new BullQueue('stale-read', {
      redisUrl: REDIS_URL,
      // A prefix of its own per run: nothing of another run's jobs is read.
      prefix: `ew-test-${process.pid}-${Date.now()}`,
      lockMs: 30_000,
      stalledIntervalMs: 30_000,
      attempts: 1,
      backoffMs: 100,
      keepCompleted: 100,
      keepFailed: 100,
    });
  });

  after(async () => {
    await q?.bull.obliterate({ force: true });
    await q?.bull.close();
  });

  it('reports the result of a job that finished between the read of its fields and of its state', async () => {
    let release: () => void = () => {};
    const running = new Promise<void>((r) => {
      release = r;
    });
    let started: () => void = () => {};
    const isRunning = new Promise<void>((r) => {
      started = r;
    });
    q.process(1, async (ctx) => {
      started();
      await running;
      return { doubled: ctx.data.n * 2 };
    });
    const { id } = await q.add({ n: 21 }, { jobId: 'j1' });
    await isRunning;
    // The fields as a poll reads them while the job runs: no result yet.
    const stale = await q.bull.getJob(id);
    assert.ok(stale);
    assert.equal(stale.returnvalue, null);
    release();
    for (let i = 0; i < 200 && (await stale.getState()) !== 'completed'; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(await stale.getState(), 'completed');

    // The poll's next step reads the state: completed. The answer carries the result with it.
    const getJob = q.bull.getJob.bind(q.bull);
    let calls = 0;
    q.bull.getJob = async (jobId) => (calls++ === 0 ? stale : getJob(jobId));
    try {
      const info = await q.get(id);
      assert.ok(info);
      assert.equal(info.state, 'completed');
      assert.deepEqual(info.result, { doubled: 42 });
      assert.ok(info.finishedAt !== null && info.finishedAt > 0);
    } finally {
      q.bull.getJob = getJob;
    }
    // A job read after it finished.
    const fresh = await q.get(id);
    assert.deepEqual(fresh?.result, { doubled: 42 });
  });
});
