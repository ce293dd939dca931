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
/** Distinct Host headers remembered (then forgotten all at once: a later one is worked out again). */
const HOST_NAMES_MAX = 4096;
/**
 * Connections whose TLS server name or HTTP Host waits for their record. The map holds every named
 * connection in flight, from its first request to its record (after the close delay), and at its
 * cap it drops the oldest: the very names whose records come next. At 20,000, on the
 * short-session bench capture (5,000 sessions a second, 21,446 named connections in flight at
 * most), 64,915 of the 84,915 names were dropped before their record came. This is ten times the
 * old cap, about 29 bytes an entry beside the uid and the name, which the connection holds anyway.
 */
export const UID_NAMES_MAX = 200_000;

export class DestNames {
  /** uid -> TLS server name or HTTP Host, until the connection's record arrives. */
  private readonly byUid = new CappedMap<string, string>(UID_NAMES_MAX);
  /** "client|address" -> the name the client resolved to that address. */
  private readonly resolved: CappedMap<string, string>;
  /**
   * address -> the name any client last resolved to it (for a client that did not look it up itself: a new replica).
   *
   * Every "client|address" key in `resolved` has its address here: both maps have one cap and each
   * answer is set in `resolved` first, then here, so no more distinct addresses than pairs are set
   * after any pair, and an address goes only after the pairs set with it have. A connection's
   * responder that is not here is in no key of `resolved` either, and its "client|address" key is
   * not built (a string made, flattened and hashed per connection record; 139k of 159k on the
   * short-session bench, none of them found). The argument holds for the pairs set since the maps
   * were restored from a state this class saved with `covered`; see `uncovered`.
   */
  private readonly anyClient: CappedMap<string, string>;
  /**
   * The pairs of `resolved` the argument above does not hold for (restored from a state saved
   * without the flag: older versions, whose state may lack the address map or have it incomplete),
   * until each is set again or evicted; null when there are none.
   */
  private uncovered: Set<string> | null = null;
  /**
   * HTTP Host header -> the name it gives (null: an address), for the recent distinct headers:
   * every request of a connection brings its own copy of the same header (297k requests on the
   * short-session bench), and cutting the port off and lowercasing each made two strings per
   * request (29 MB allocated over the run). The entries of `byUid` then share one string per name.
   */
  private readonly hostNames = new Map<string, string | null>();

  constructor(cap = 100_000) {
    this.resolved = new CappedMap(cap, (k) => this.cover(k));
    this.anyClient = new CappedMap(cap);
  }

  private cover(k: string): void {
    if (this.uncovered === null) return;
    this.uncovered.delete(k);
    if (this.uncovered.size === 0) this.uncovered = null;
  }

  observeApp(rec: AppInput, conn: ConnContext): void {
    if (rec.kind === 'tls' && rec.server_name) this.byUid.set(rec.uid, rec.server_name.toLowerCase());
    else if (rec.kind === 'http') {
      if (!rec.host) return;
      let name = this.hostNames.get(rec.host);
      if (name === undefined) {
        const host = hostOnly(rec.host);
        name = ADDRESS.test(host) ? null : host.toLowerCase();
        if (this.hostNames.size >= HOST_NAMES_MAX) this.hostNames.clear();
        this.hostNames.set(rec.host, name);
      }
      if (name !== null) this.byUid.set(rec.uid, name);
    } else if (rec.kind === 'dns' && rec.query && rec.answers) {
      for (const a of rec.answers)
        if (ADDRESS.test(a) && (a.includes('.') || a.includes(':'))) {
          const name = internName(rec.query.toLowerCase().replace(/\.$/, ''));
          const k = answerKey(conn.orig_h, a);
          this.resolved.set(k, name);
          this.cover(k);
          this.anyClient.set(a, name);
        }
    }
  }

  /** The name the connection's client used for its responder, if any (the uid's entry is consumed when `take`). */
  nameOf(r: Pick<ConnRecord, 'uid' | 'orig_h' | 'resp_h'>, take = true): string | undefined {
    return this.nameByUid(r.uid, take) ?? this.resolvedName(r);
  }

  /**
   * The TLS server name or HTTP Host of the connection, if any (consumed when `take`). With
   * `resolvedName`, nameOf in two steps: the second changes nothing, so a caller that will not use
   * the name skips it.
   */
  nameByUid(uid: string, take = true): string | undefined {
    const n = this.byUid.get(uid);
    if (n !== undefined && take) this.byUid.delete(uid);
    return n;
  }

  /** The name the client (else any client) resolved the responder's address from. */
  resolvedName(r: Pick<ConnRecord, 'orig_h' | 'resp_h'>): string | undefined {
    const any = this.anyClient.get(r.resp_h);
    if (any === undefined && this.uncovered === null) return undefined;
    return this.resolved.get(`${r.orig_h}|${r.resp_h}`) ?? any;
  }

  snapshot(): Json {
    return {
      uid: [...this.byUid.entries()],
      resolved: [...this.resolved.entries()],
      any: [...this.anyClient.entries()],
      covered: this.uncovered === null,
    };
  }

  restore(s: Json): void {
    const o = (s ?? { uid: [], resolved: [] }) as {
      uid: [string, string][];
      resolved: [string, string][];
      any?: [string, string][];
      covered?: boolean;
    };
    this.byUid.clear();
    for (const [k, v] of o.uid) this.byUid.set(k, v);
    this.uncovered = null;
    this.resolved.clear();
    for (const [k, v] of o.resolved) this.resolved.set(k, v);
    if (o.covered !== true && this.resolved.size > 0) this.uncovered = new Set(this.resolved.map.keys());
    this.anyClient.clear();
    for (const [k, v] of o.any ?? []) this.anyClient.set(k, v);
  }
}

function hostOnly(h: string): string {
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const i = h.lastIndexOf(':');
  return i > 0 && h.indexOf(':') === i ? h.slice(0, i) : h;
}
