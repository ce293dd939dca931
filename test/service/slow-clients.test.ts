/**
 * Slow and silent clients against a real server, over raw sockets: a body trickled in is
 * answered 408 and closed within the rate window, a body that stops is cut after the idle
 * timeout, a socket that sends nothing is closed after the headers timeout, and a steady slow
 * upload of a real capture still succeeds.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { type Harness, sample, startHarness } from './harness';

interface Outcome {
  /** What the server sent (status line, headers, body), '' when nothing. */
  text: string;
  /** ms from connect until the server closed the connection. */
  closedAfter: number;
}

/**
 * Connects, lets `drive` write, and resolves once the server closes, or once `done` says the
 * answer is complete (a kept-alive connection), or after `limitMs` (then closedAfter is Infinity).
 */
function exchange(url: string, drive: (s: net.Socket) => void, limitMs: number, done?: (text: string) => boolean): Promise<Outcome> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(Number(u.port), u.hostname);
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => {
      text += c;
      if (done?.(text)) s.destroy();
    });
    s.on('error', () => undefined);
    const give = setTimeout(() => {
      s.destroy();
      resolve({ text, closedAfter: Number.POSITIVE_INFINITY });
    }, limitMs);
    s.on('close', () => {
      clearTimeout(give);
      resolve({ text, closedAfter: Date.now() - t0 });
    });
    s.on('connect', () => drive(s));
  });
}

function head(h: Harness, length: number): string {
  return [
    'POST /api/v1/captures?name=slow.pcap HTTP/1.1',
    `Host: ${new URL(h.url).host}`,
    `Authorization: Bearer ${h.keys.ingest}`,
    'Content-Type: application/octet-stream',
    `Content-Length: ${length}`,
    '',
    '',
  ].join('\r\n');
}

/** Writes `bytes` in chunks of `chunk` every `everyMs` while the socket is open. */
function trickle(s: net.Socket, bytes: Buffer, chunk: number, everyMs: number): void {
  let at = 0;
  const timer = setInterval(() => {
    if (s.destroyed || at >= bytes.length) {
      clearInterval(timer);
      return;
    }
    s.write(bytes.subarray(at, at + chunk));
    at += chunk;
  }, everyMs);
  s.on('close', () => clearInterval(timer));
}

describe('slow and silent clients (embedded, real sockets)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({
      mode: 'local',
      env: {
        EASTWATCH_HEADERS_TIMEOUT_MS: '1000',
        EASTWATCH_BODY_IDLE_TIMEOUT_MS: '1500',
        EASTWATCH_BODY_MIN_BYTES_PER_SEC: '1000',
        EASTWATCH_BODY_RATE_WINDOW_MS: '2000',
      },
    });
  });
  after(async () => {
    await h?.stop();
  });

  it('answers 408 to a body trickled at 1 byte every 300 ms and closes within the rate window', async () => {
    const pcap = fs.readFileSync(sample('k8s/cluster.pcap'));
    const r = await exchange(
      h.url,
      (s) => {
        s.write(head(h, pcap.length));
        // Fast enough never to be idle for 1.5 s, far under 1000 bytes/s.
        trickle(s, pcap, 1, 300);
      },
      10_000,
    );
    assert.match(r.text, /^HTTP\/1\.1 408 /, r.text);
    assert.match(r.text, /bytes\/s over 2 s, under the minimum of 1000/);
    // The window is 2 s, checked every 500 ms; connecting and the headers take a little.
    assert.ok(r.closedAfter >= 1900 && r.closedAfter < 4000, `closed after ${r.closedAfter} ms`);
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(
      fs.readdirSync(h.running.runtime.uploadsDir).filter((f) => f.startsWith('.upload-')),
      [],
      'the temporary file of the refused upload is removed',
    );
  });

  it('answers 408 to a body that stops arriving, after the body idle timeout', async () => {
    const pcap = fs.readFileSync(sample('k8s/cluster.pcap'));
    const r = await exchange(
      h.url,
      (s) => {
        s.write(head(h, pcap.length));
        s.write(pcap.subarray(0, 4000));
      },
      10_000,
    );
    assert.match(r.text, /^HTTP\/1\.1 408 /, r.text);
    assert.match(r.text, /no part of the request body arrived for 1\.5 s/);
    assert.ok(r.closedAfter >= 1400 && r.closedAfter < 3500, `closed after ${r.closedAfter} ms`);
  });

  it('closes a socket that connects and sends nothing after the headers timeout', async () => {
    const r = await exchange(h.url, () => undefined, 10_000);
    assert.ok(r.closedAfter >= 900 && r.closedAfter < 2000, `closed after ${r.closedAfter} ms`);
    assert.match(r.text, /^HTTP\/1\.1 408 /);
  });

  it('closes a socket whose headers trickle in past the headers timeout', async () => {
    const r = await exchange(h.url, (s) => trickle(s, Buffer.from(head(h, 10)), 1, 100), 10_000);
    assert.ok(r.closedAfter >= 900 && r.closedAfter < 2000, `closed after ${r.closedAfter} ms`);
  });

  it('keeps the connection of a refused request without a body (401 then 200 on one socket), closes one whose body is still arriving', async () => {
    const host = `Host: ${new URL(h.url).host}`;
    // Two requests written at once on one socket: the second is answered only if the first's refusal kept the connection.
    const both = await exchange(
      h.url,
      (s) => s.write(`GET /api/v1/connections?q=dport:22 HTTP/1.1\r\n${host}\r\n\r\nGET /healthz HTTP/1.1\r\n${host}\r\n\r\n`),
      10_000,
      (text) => /HTTP\/1\.1 200 [\s\S]*\{"status":"ok"\}$/.test(text),
    );
    assert.match(both.text, /^HTTP\/1\.1 401 /, both.text);
    assert.doesNotMatch(both.text.slice(0, both.text.indexOf('\r\n\r\n')), /^connection: close/im);
    assert.match(both.text, /HTTP\/1\.1 200 [\s\S]*\{"status":"ok"\}$/, both.text);
    // A bad key on an upload whose body has not all arrived: answered and closed, not read on.
    const upload = await exchange(
      h.url,
      (s) => s.write(`POST /api/v1/flows HTTP/1.1\r\n${host}\r\nAuthorization: Bearer ew_000000000000_forged\r\nContent-Length: 100000\r\n\r\n{"ts":1}\n`),
      10_000,
    );
    assert.match(upload.text, /^HTTP\/1\.1 401 /, upload.text);
    assert.match(upload.text, /^connection: close/im);
    assert.ok(Number.isFinite(upload.closedAfter), 'the server closed the connection');
  });

  it('takes a steady slow upload (4 kB/s, longer than the window and the timeouts) to the end', async () => {
    const pcap = fs.readFileSync(sample('k8s/cluster.pcap'));
    const t0 = Date.now();
    const r = await exchange(
      h.url,
      (s) => {
        s.write(head(h, pcap.length));
        trickle(s, pcap, 400, 100);
      },
      20_000,
      (text) => /\r\n\r\n\{.*\}$/s.test(text),
    );
    const took = Date.now() - t0;
    assert.ok(took >= 2500, `the upload took ${took} ms: it should have been slower than the rate window`);
    assert.match(r.text, /^HTTP\/1\.1 202 /, r.text);
    const body = JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)) as { capture: { id: string } };
    assert.match(body.capture.id, /\S/);
  });
});

describe('a trickled body is cut after the rate grace, not after a whole window (embedded, real sockets)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({
      mode: 'local',
      env: {
        EASTWATCH_BODY_IDLE_TIMEOUT_MS: '5000',
        EASTWATCH_BODY_MIN_BYTES_PER_SEC: '1000',
        EASTWATCH_BODY_RATE_WINDOW_MS: '8000',
        EASTWATCH_BODY_RATE_GRACE_MS: '1500',
      },
    });
  });
  after(async () => {
    await h?.stop();
  });

  it('answers 408 to 1 byte every 300 ms once the grace has passed, measured over the time so far', async () => {
    const pcap = fs.readFileSync(sample('k8s/cluster.pcap'));
    const r = await exchange(
      h.url,
      (s) => {
        s.write(head(h, pcap.length));
        trickle(s, pcap, 1, 300);
      },
      15_000,
    );
    assert.match(r.text, /^HTTP\/1\.1 408 /, r.text);
    assert.match(r.text, /bytes\/s over 1\.5 s, under the minimum of 1000/);
    // Checked every 375 ms from 1.5 s on: long before the 8 s window.
    assert.ok(r.closedAfter >= 1400 && r.closedAfter < 3500, `closed after ${r.closedAfter} ms`);
  });

  it('still takes a steady upload at 4 kB/s that lasts past the grace', async () => {
    const pcap = fs.readFileSync(sample('k8s/cluster.pcap'));
    const t0 = Date.now();
    const r = await exchange(
      h.url,
      (s) => {
        s.write(head(h, pcap.length));
        trickle(s, pcap, 400, 100);
      },
      20_000,
      (text) => /\r\n\r\n\{.*\}$/s.test(text),
    );
    assert.ok(Date.now() - t0 >= 2500, 'the upload lasted past the grace');
    assert.match(r.text, /^HTTP\/1\.1 202 /, r.text);
  });
});
