/**
 * Names of external destinations as the client knew them: the DNS answers it received (client
 * address and answer address -> the name it asked for), the TLS server name and the HTTP Host of
 * a connection (by uid, until its record arrives). Detectors key external destinations by that
 * name, so the second address of a SaaS name (DNS round robin, a CDN) is the same destination.
 * Bounded: the oldest entries go first.
 */
import type { AppInput, ConnContext } from '../parsers/record/app';
import type { ConnRecord } from '../parsers/record/conn';
import { CappedMap } from './common';
import { answerKey, internName } from './intern';
import type { Json } from './types';

const ADDRESS = /^[0-9a-f:.]+$/i;

export class DestNames {
  /** uid -> TLS server name or HTTP Host, until the connection's record arrives. */
  private readonly byUid = new CappedMap<string, string>(20_000);
  /** "client|address" -> the name the client resolved to that address. */
  private readonly resolved: CappedMap<string, string>;
  /** address -> the name any client last resolved to it (for a client that did not look it up itself: a new replica). */
  private readonly anyClient: CappedMap<string, string>;

  constructor(cap = 100_000) {
    this.resolved = new CappedMap(cap);
    this.anyClient = new CappedMap(cap);
  }

  observeApp(rec: AppInput, conn: ConnContext): void {
    if (rec.kind === 'tls' && rec.server_name) this.byUid.set(rec.uid, rec.server_name.toLowerCase());
    else if (rec.kind === 'http' && rec.host && !ADDRESS.test(hostOnly(rec.host))) this.byUid.set(rec.uid, hostOnly(rec.host).toLowerCase());
    else if (rec.kind === 'dns' && rec.query && rec.answers) {
      for (const a of rec.answers)
        if (ADDRESS.test(a) && (a.includes('.') || a.includes(':'))) {
          const name = internName(rec.query.toLowerCase().replace(/\.$/, ''));
          this.resolved.set(answerKey(conn.orig_h, a), name);
          this.anyClient.set(a, name);
        }
    }
  }

  /** The name the connection's client used for its responder, if any (the uid's entry is consumed when `take`). */
  nameOf(r: Pick<ConnRecord, 'uid' | 'orig_h' | 'resp_h'>, take = true): string | undefined {
    const n = this.byUid.get(r.uid);
    if (n !== undefined) {
      if (take) this.byUid.delete(r.uid);
      return n;
    }
    return this.resolved.get(`${r.orig_h}|${r.resp_h}`) ?? this.anyClient.get(r.resp_h);
  }

  snapshot(): Json {
    return { uid: [...this.byUid.entries()], resolved: [...this.resolved.entries()], any: [...this.anyClient.entries()] };
  }

  restore(s: Json): void {
    const o = (s ?? { uid: [], resolved: [] }) as { uid: [string, string][]; resolved: [string, string][]; any?: [string, string][] };
    this.byUid.clear();
    for (const [k, v] of o.uid) this.byUid.set(k, v);
    this.resolved.clear();
    for (const [k, v] of o.resolved) this.resolved.set(k, v);
    this.anyClient.clear();
    for (const [k, v] of o.any ?? []) this.anyClient.set(k, v);
  }
}

function hostOnly(h: string): string {
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const i = h.lastIndexOf(':');
  return i > 0 && h.indexOf(':') === i ? h.slice(0, i) : h;
}
