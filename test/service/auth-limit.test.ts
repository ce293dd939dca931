/**
 * The per-address bound on failed authentications (src/service/api/auth-limit.ts): past it, an
 * address's requests without a valid key are answered 429 before the API's middleware runs, and
 * requests with a valid key from the same address still pass.
 */
import * as assert from 'node:assert/strict';
import type * as http from 'node:http';
import * as net from 'node:net';
import { AuthFailureLimit } from '../../src/service/api/auth-limit';
import { type Harness, startHarness } from './harness';

const from = (remoteAddress: string): http.IncomingMessage => ({ socket: { remoteAddress } }) as unknown as http.IncomingMessage;

describe('failed-authentication limit per address', () => {
  describe('counting (AuthFailureLimit, fake clock)', () => {
    it('blocks an address at its limit until the minute ends, and counts others apart', () => {
      let now = 1_000_000;
      const l = new AuthFailureLimit(3, 60_000, 100, () => now);
      const a = from('10.0.0.1');
      for (let i = 0; i < 2; i++) l.failed(a);
      assert.equal(l.blocked(a), false);
      l.failed(a);
      assert.equal(l.blocked(a), true);
      assert.equal(l.blocked(from('10.0.0.2')), false);
      now += 20_000;
      assert.equal(l.retryAfterSeconds(), 40);
      assert.equal(l.blocked(a), true);
      now += 40_000;
      assert.equal(l.blocked(a), false, 'a new window starts from nothing');
    });

    it('counts an IPv6 client by its /56, an IPv4-mapped address as its IPv4 one', () => {
      const l = new AuthFailureLimit(2, 60_000, 100, () => 0);
      l.failed(from('2001:db8:1:100::1'));
      l.failed(from('2001:db8:1:1ff::2'));
      assert.equal(l.blocked(from('2001:db8:1:1aa::3')), true, 'same /56');
      assert.equal(l.blocked(from('2001:db8:1:200::1')), false, 'another /56');
      l.failed(from('::ffff:192.0.2.7'));
      l.failed(from('192.0.2.7'));
      assert.equal(l.blocked(from('192.0.2.7')), true);
    });

    it('holds at most maxAddresses counters: a flood from many addresses cannot grow it', () => {
      const l = new AuthFailureLimit(1, 60_000, 10, () => 0);
      for (let i = 0; i < 1000; i++) l.failed(from(`10.1.${i >> 8}.${i & 255}`));
      const blocked = Array.from({ length: 1000 }, (_, i) => l.blocked(from(`10.1.${i >> 8}.${i & 255}`))).filter(Boolean).length;
      assert.equal(blocked, 10);
    });
  });

  describe('in the service (embedded, real sockets)', function () {
    this.timeout(30_000);
    let h: Harness;
    before(async () => {
      h = await startHarness({ mode: 'local', env: { EASTWATCH_AUTH_FAILURES_PER_MINUTE: '5' } });
    });
    after(async () => {
      await h?.stop();
    });

    it('answers 401 up to the limit, then 429 without the middleware chain; a valid key and /healthz still pass', async () => {
      const forged = 'ew_000000000000_forged';
      for (let i = 0; i < 5; i++) assert.equal((await h.call('GET', '/api/v1/connections?q=dport:22', { key: forged })).status, 401, `request ${i + 1}`);
      const r = await h.call('GET', '/api/v1/connections?q=dport:22', { key: forged });
      assert.equal(r.status, 429);
      assert.match(r.json.error, /more than 5 requests from this address were refused for want of a valid API key/);
      const retry = Number(r.headers.get('retry-after'));
      assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
      // Answered before the app: helmet's headers are not on it.
      assert.equal(r.headers.get('content-security-policy'), null);
      assert.equal((await h.call('GET', '/api/v1/whoami', { key: null })).status, 429, 'no key at all');
      assert.equal((await h.call('GET', '/metrics', { key: forged })).status, 429);
      const ok = await h.call('GET', '/api/v1/whoami', { key: h.keys.analyst });
      assert.equal(ok.status, 200);
      assert.equal(ok.json.key.role, 'analyst');
      assert.equal((await h.call('GET', '/healthz', { key: null })).status, 200);
    });

    it('closes the connection of a refused request whose body is still arriving', async () => {
      const u = new URL(h.url);
      const text = await new Promise<string>((resolve) => {
        const s = net.connect(Number(u.port), u.hostname);
        let got = '';
        s.setEncoding('utf8');
        s.on('data', (c: string) => {
          got += c;
        });
        s.on('error', () => undefined);
        s.on('close', () => resolve(got));
        s.on('connect', () =>
          s.write(`POST /api/v1/flows HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ew_000000000000_forged\r\nContent-Length: 100000\r\n\r\n{"ts":1}\n`),
        );
        setTimeout(() => s.destroy(), 5000).unref();
      });
      assert.match(text, /^HTTP\/1\.1 429 /, text);
      assert.match(text, /^connection: close/im);
    });
  });
});
