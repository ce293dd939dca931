/**
 * A request body that ends in anything but its end (cut by the body watch's 408, the client gone
 * mid-body) ends the handler reading it. `req.pipe()` passes data and the end, not a failure: the
 * flows handler's parser, its backlog poll and the request itself used to wait forever, one set
 * per slowloris body the server cut (the soak's RSS growth: 400 of them held after 4 minutes,
 * bench/soak.ts). The multipart upload path had the same hole, with its temporary file open.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Request } from 'express';
import { flowBody } from '../../src/service/api/routes/flows';
import { ApiError } from '../../src/service/api/route';
import { ingestFlows } from '../../src/service/flow-ingest';
import { LocalQueue, LocalQueueJournal } from '../../src/service/queue/local';
import type { FlowJobData, FlowResult } from '../../src/service/queue';
import { receiveCapture, UploadError } from '../../src/service/uploads';
import { analyzeFile } from '../../src/analyze/pipeline';
import type { ConnRecord } from '../../parsers/record/conn';
import { type Harness, sample, startHarness } from './harness';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `p`, or a rejection naming what hung after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
    }),
  ]);
}

/** A request as the handlers see it: a readable with headers. */
function fakeRequest(headers: IncomingHttpHeaders): PassThrough & { headers: IncomingHttpHeaders } {
  return Object.assign(new PassThrough(), { headers });
}

describe('a request body cut before its end ends the handler reading it', function () {
  this.timeout(30_000);
  let dir: string;
  let journal: LocalQueueJournal;
  let queue: LocalQueue<FlowJobData, null, FlowResult>;
  // Connection records as NDJSON: that parser emits each record with its line (the VPC one holds
  // records until the body's end, so a cut body keeps none of them).
  let line = '';
  let line2 = '';
  const opts = { source: 'cut', format: 'ndjson' as const, maxLineBytes: 1 << 20, batchRecords: 1, batchBytes: 1 << 20 };

  before(async () => {
    const recs: ConnRecord[] = [];
    await analyzeFile(sample('scan.pcap'), (r) => recs.push(r));
    [line, line2] = recs.slice(0, 2).map((r) => JSON.stringify(r));
  });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-cut-body-'));
    journal = new LocalQueueJournal(dir);
    queue = new LocalQueue(journal, 'flows', { attempts: 1, backoffMs: 10, keepCompleted: 100, keepFailed: 100 });
  });
  afterEach(() => {
    journal.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [how, end] of [
    ['fails (the body watch, an aborted request)', (req: PassThrough) => req.destroy(new Error('the request body arrived at 1 bytes/s'))],
    ['closes without its end (socket gone)', (req: PassThrough) => req.destroy()],
  ] as const)
    for (const encoding of ['identity', 'gzip'])
      it(`flows (${encoding}): a body that ${how} is answered 400, the lines before the cut queued`, async () => {
        const req = fakeRequest({ 'content-type': 'text/plain', 'content-encoding': encoding });
        const body = flowBody(req as unknown as Request, 1 << 20);
        const done = ingestFlows(body, queue, { ...opts, backlog: { max: 1000, maxWaitMs: 10_000, pollMs: 50 } });
        if (encoding === 'gzip') {
          const { createGzip } = await import('node:zlib');
          const gz = createGzip();
          gz.on('data', (c: Buffer) => req.write(c));
          gz.write(`${line}\n${line2}\n`);
          await new Promise<void>((r) => gz.flush(() => r()));
        } else req.write(`${line}\n${line2}\n`);
        await sleep(200);
        end(req);
        const e = await within(
          done.then(
            () => null,
            (x: unknown) => x,
          ),
          3000,
          'ingestFlows after the request was cut',
        );
        assert.ok(e instanceof ApiError, `an ApiError, not ${String(e)}`);
        assert.equal(e.status, 400);
        assert.match(e.message, /cut off/);
        const c = await queue.counts();
        assert.equal(c.waiting + c.active + c.completed + c.delayed, 2, 'both lines before the cut were queued');
      });

  it('flows: a body that fails before the parse starts (during the first backlog count) still ends it', async () => {
    const req = fakeRequest({ 'content-type': 'text/plain' });
    const body = flowBody(req as unknown as Request, 1 << 20);
    req.destroy(new Error('gone at once'));
    const e = await within(
      ingestFlows(body, queue, { ...opts, backlog: { max: 1000, maxWaitMs: 10_000 } }).then(
        () => null,
        (x: unknown) => x,
      ),
      3000,
      'ingestFlows of a body already failed',
    );
    assert.ok(e instanceof ApiError && e.status === 400, String(e));
  });

  it('multipart upload: a body that fails mid-file is refused 400 and its temporary file removed', async () => {
    const boundary = 'xcutx';
    const req = fakeRequest({ 'content-type': `multipart/form-data; boundary=${boundary}` });
    const up = receiveCapture(req, dir, 1 << 20);
    const pcap = fs.readFileSync(sample('k8s/cluster.pcap'));
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pcap"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    req.write(pcap.subarray(0, 4000));
    await sleep(200);
    assert.equal(fs.readdirSync(dir).filter((f) => f.startsWith('.upload-')).length, 1, 'the upload is being written');
    req.destroy(new Error('client gone'));
    const e = await within(
      up.then(
        () => null,
        (x: unknown) => x,
      ),
      3000,
      'receiveCapture after the request was cut',
    );
    assert.ok(e instanceof UploadError && e.status === 400, String(e));
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.startsWith('.upload-')),
      [],
    );
  });
});

describe('trickled flow bodies cut with 408 leave nothing running (embedded, real sockets)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({
      mode: 'local',
      env: {
        EASTWATCH_BODY_IDLE_TIMEOUT_MS: '5000',
        EASTWATCH_BODY_MIN_BYTES_PER_SEC: '1000',
        EASTWATCH_BODY_RATE_WINDOW_MS: '4000',
        EASTWATCH_BODY_RATE_GRACE_MS: '1000',
      },
    });
  });
  after(async () => {
    await h?.stop();
  });

  // A flows request in progress holds a ref'd timer (its backlog poll) until its handler ends.
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('ends the handler of each of 8 slowloris flow bodies once answered 408', async () => {
    const u = new URL(h.url);
    const line = `${fs
      .readFileSync(sample('flows/vpc-default.log'), 'utf8')
      .split('\n')
      .find((l) => / OK$/.test(l))}\n`;
    await sleep(300);
    const before = timers();
    const answers = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<string>((resolve) => {
            const s = net.connect(Number(u.port), u.hostname);
            let got = '';
            let i = 0;
            let drip: NodeJS.Timeout | undefined;
            s.on('connect', () => {
              s.write(
                `POST /api/v1/flows?format=aws-vpc HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${h.keys.ingest}\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n${line}`,
              );
              drip = setInterval(() => s.write(line[i++ % line.length]), 200);
            });
            s.setEncoding('latin1');
            s.on('data', (d: string) => {
              got += d;
            });
            s.on('error', () => undefined);
            s.on('close', () => {
              clearInterval(drip);
              resolve(got);
            });
          }),
      ),
    );
    for (const a of answers) assert.match(a, /^HTTP\/1\.1 408 /, a);
    await sleep(500);
    const after = timers();
    assert.ok(after <= before + 1, `timers before ${before}, after the 408s ${after}: handlers still running`);
  });
});
