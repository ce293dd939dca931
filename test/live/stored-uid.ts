/**
 * The uid the service stores a shipped record under: the service derives every ingested flow
 * record's uid from the ingest key's id (its namespace), the record's own uid and its ts
 * (src/service/flow-ingest.ts flowUid, namespaced as in api/routes/flows.ts), and keeps no copy
 * of the original. The expected stored uids of the records an agent wrote are therefore exactly
 * computable, and comparing them as sorted lists checks every record stored once.
 */
import { flowUid } from '../../src/service/flow-ingest';

/** The key's id is the token's public part: `ew_<id>_<secret>`. */
export function keyIdOf(token: string): string {
  const m = /^ew_([0-9a-f]{12})_/.exec(token);
  if (m === null) throw new Error(`not an eastwatch key token: ${token.slice(0, 16)}...`);
  return m[1];
}

/** Sorted stored uids of these records shipped with this ingest key. */
export function storedUids(token: string, recs: readonly { uid: string; ts: number }[]): string[] {
  const ns = `key:${keyIdOf(token)}`;
  return recs.map((r) => flowUid(ns, r.uid, r.ts)).sort();
}
