import * as assert from 'node:assert/strict';
import type { AppInput, ConnContext } from '../../parsers/record/app';
import { CappedMap } from '../../detectors/common';
import { DestNames, UID_NAMES_MAX } from '../../detectors/dest-names';
import { PairKeys } from '../../detectors/intern';
import type { Json } from '../../detectors/types';
import { rng } from '../util/rng';
import { dns } from './util';

/**
 * DestNames looks a connection's responder up by address before it builds the "client|address"
 * key (dest-names.ts): these runs hold it to the plain lookup it replaced, with caps small enough
 * that both maps evict all the time, and through saved states of this version and of older ones
 * (without the address map, or without the flag saying the address map covers the pairs).
 */
describe('detectors: DestNames', () => {
  /** The lookup as it was: the pair's key first, then the address. */
  class Plain {
    byUid = new CappedMap<string, string>(UID_NAMES_MAX);
    resolved: CappedMap<string, string>;
    anyClient: CappedMap<string, string>;
    constructor(cap: number) {
      this.resolved = new CappedMap(cap);
      this.anyClient = new CappedMap(cap);
    }
    observeApp(rec: AppInput, conn: ConnContext): void {
      if (rec.kind === 'http' && rec.host && !/^[0-9a-f:.]+$/i.test(hostOnly(rec.host))) this.byUid.set(rec.uid, hostOnly(rec.host).toLowerCase());
      else if (rec.kind === 'dns' && rec.query && rec.answers)
        for (const a of rec.answers)
          if (/^[0-9a-f:.]+$/i.test(a) && (a.includes('.') || a.includes(':'))) {
            const name = rec.query.toLowerCase().replace(/\.$/, '');
            this.resolved.set(`${conn.orig_h}|${a}`, name);
            this.anyClient.set(a, name);
          }
    }
    nameOf(r: { uid: string; orig_h: string; resp_h: string }, take: boolean): string | undefined {
      const n = this.byUid.get(r.uid);
      if (n !== undefined) {
        if (take) this.byUid.delete(r.uid);
        return n;
      }
      return this.resolved.get(`${r.orig_h}|${r.resp_h}`) ?? this.anyClient.get(r.resp_h);
    }
  }

  function hostOnly(h: string): string {
    if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
    const i = h.lastIndexOf(':');
    return i > 0 && h.indexOf(':') === i ? h.slice(0, i) : h;
  }
  const hosts = ['Api.Example.com', 'api.example.com:8080', 'WWW.example.com', '203.0.113.9', '203.0.113.9:80', '[2001:db8::1]:443', '[Host.Example.com]'];
  const cap = 6;
  const clients = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
  const addrs = Array.from({ length: 14 }, (_, i) => `203.0.113.${i + 1}`);

  for (const seed of [1, 2, 3]) {
    it(`names every connection as the plain lookup does, through evictions and saved states (seed ${seed})`, () => {
      const rand = rng(seed);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
      let names = new DestNames(cap);
      const plain = new Plain(cap);
      let found = 0;
      let oldStates = 0;
      for (let i = 0; i < 30_000; i++) {
        const op = rand();
        const client = pick(clients);
        const c: ConnContext = { uid: `C${i}`, ts: i, orig_h: client, resp_h: '10.96.0.10', resp_p: 53 };
        if (op < 0.3) {
          const answers = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(addrs));
          const rec = dns(i, `Svc${Math.floor(rand() * 5)}.Example.com.`, { answers });
          names.observeApp(rec, c);
          plain.observeApp(rec, c);
        } else if (op < 0.35) {
          const rec = { kind: 'http', uid: `H${Math.floor(rand() * 50)}`, host: pick(hosts) } as unknown as AppInput;
          names.observeApp(rec, c);
          plain.observeApp(rec, c);
        } else if (op < 0.998) {
          const r = { uid: rand() < 0.1 ? `H${Math.floor(rand() * 50)}` : `C${i}`, orig_h: pick(clients), resp_h: pick(addrs) };
          const take = rand() < 0.8;
          const want = plain.nameOf(r, take);
          assert.equal(names.nameOf(r, take), want, `connection ${JSON.stringify(r)} at op ${i}`);
          if (want !== undefined) found++;
        } else {
          // A saved state: of this version, of one without the flag, or of one without the address map.
          const s = JSON.parse(JSON.stringify(names.snapshot())) as Record<string, Json>;
          const older = rand();
          if (older < 0.6) {
            delete s.covered;
            oldStates++;
          }
          if (older < 0.3) {
            delete s.any;
            plain.anyClient.clear();
          }
          names = new DestNames(cap);
          names.restore(s);
        }
      }
      // Enough of both outcomes, and of older states, for the comparison to mean something.
      assert.ok(found > 5000, `${found} named`);
      assert.ok(oldStates > 10, `${oldStates} older states`);
    });
  }

  it('keeps the name of every connection in flight on a busy capture until its record comes', () => {
    // As on the short-session bench capture: names set as requests go out, records coming in the
    // same order after the close delay, with 30,000 named connections in flight at once (the
    // old cap of 20,000 dropped the oldest, the very names whose records came next).
    const names = new DestNames();
    const inFlight = 30_000;
    const total = 100_000;
    let found = 0;
    for (let i = 0; i < total + inFlight; i++) {
      if (i < total) {
        const c: ConnContext = { uid: `C${i}`, ts: i, orig_h: '10.244.1.10', resp_h: '203.0.113.7', resp_p: 443 };
        names.observeApp({ kind: 'http', uid: `C${i}`, host: `svc${i % 7}.example.com` } as unknown as AppInput, c);
      }
      const due = i - inFlight;
      if (due >= 0 && names.nameByUid(`C${due}`) === `svc${due % 7}.example.com`) found++;
    }
    assert.equal(found, total);
    // Taken when asked for: nothing stays behind.
    assert.equal(names.nameByUid('C0'), undefined);
  });

  it('a pair restored from a state without the address map is still found, and found again after it is set anew', () => {
    const names = new DestNames(4);
    const c: ConnContext = { uid: 'Cq', ts: 0, orig_h: '10.0.0.1', resp_h: '10.96.0.10', resp_p: 53 };
    names.observeApp(dns(0, 'api.example.com', { answers: ['203.0.113.5'] }), c);
    const s = names.snapshot() as Record<string, Json>;
    delete s.any;
    delete s.covered;
    const restored = new DestNames(4);
    restored.restore(s);
    const r = { uid: 'Cz', orig_h: '10.0.0.1', resp_h: '203.0.113.5' };
    assert.equal(restored.nameOf(r), 'api.example.com');
    // Another client never resolved it, and the address map is empty after that restore.
    assert.equal(restored.nameOf({ ...r, orig_h: '10.0.0.2' }), undefined);
    restored.observeApp(dns(1, 'www.example.com', { answers: ['203.0.113.5'] }), c);
    assert.equal(restored.nameOf(r), 'www.example.com');
    assert.equal(restored.nameOf({ ...r, orig_h: '10.0.0.2' }), 'www.example.com');
    assert.equal((restored.snapshot() as Record<string, Json>).covered, true);
  });
});

describe('detectors: PairKeys', () => {
  it('gives "text|port" as one string per pair, the same after it was cleared for being full', () => {
    const keys = new PairKeys(3);
    const a = keys.get('10.0.0.1', 443, 'tcp/443');
    assert.equal(a, '10.0.0.1|tcp/443');
    assert.equal(keys.get('10.0.0.1', 443, 'tcp/443'), a);
    assert.equal(keys.get('10.0.0.1', 80, 'tcp/80'), '10.0.0.1|tcp/80');
    assert.equal(keys.get('10.0.0.2', 443, 'tcp/443'), '10.0.0.2|tcp/443');
    // Full: the next new pair starts over, and an earlier one is made again with the same text.
    assert.equal(keys.get('10.0.0.3', 22, 'tcp/22'), '10.0.0.3|tcp/22');
    assert.equal(keys.get('10.0.0.1', 80, 'tcp/80'), '10.0.0.1|tcp/80');
    assert.equal(keys.get('10.0.0.2', 80, 'tcp/80'), '10.0.0.2|tcp/80');
  });
});
