/**
 * API keys: `ew_<id>_<secret>`, shown once when created and kept only as a SHA-256 of the secret.
 * The secret is 256 random bits, so a fast hash is enough (no password to stretch); comparison is
 * constant-time. The file is re-read when it changes, so `eastwatch keys create` on a shared data
 * directory takes effect on running servers without a restart.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

import { ROLES, type Role } from './roles';

export { ROLES, type Role };

/** A Kubernetes namespace name (RFC 1123 label): what a scope lists. */
export const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A namespace, or `cluster/namespace` for that namespace in that cluster only. */
const SCOPED_NAMESPACE = /^(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\/)?[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * What a scoped key may see; absent on a key that sees everything. A record is visible when it
 * passes every dimension given: its cluster (orchestrator.cluster.name) is one of `clusters`, and
 * at least one end is in one of `namespaces` (an entry `c/ns` counts only for records of cluster
 * c: two clusters may both have a namespace `shop` belonging to different teams).
 */
export const KeyScopeFields = z
  .object({
    namespaces: z.array(z.string().regex(SCOPED_NAMESPACE, 'a Kubernetes namespace name (RFC 1123 label), or cluster/namespace')).min(1).max(1000).optional(),
    clusters: z.array(z.string().regex(NAMESPACE, 'a cluster name (a DNS label)')).min(1).max(1000).optional(),
  })
  .strict();
export const KeyScope = KeyScopeFields.refine((s) => s.namespaces !== undefined || s.clusters !== undefined, 'a scope names namespaces, clusters or both');
export type KeyScope = z.infer<typeof KeyScope>;

/** 'namespaces a, c/b; clusters c' for messages and listings. */
export function describeScope(s: KeyScope): string {
  return [s.namespaces ? `namespaces ${s.namespaces.join(', ')}` : '', s.clusters ? `clusters ${s.clusters.join(', ')}` : ''].filter((x) => x).join('; ');
}

const KeyEntry = z.object({
  id: z.string().regex(/^[0-9a-f]{12}$/),
  name: z.string().min(1).max(200),
  role: z.enum(ROLES),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  created_at: z.string(),
  revoked_at: z.string().nullable().default(null),
  // Optional: key files written before scopes existed stay valid (every key in them unscoped).
  scope: KeyScope.nullable().default(null),
});
export type KeyEntry = z.infer<typeof KeyEntry>;
const KeyFile = z.object({ version: z.literal(1), keys: z.array(KeyEntry) });

export interface Principal {
  keyId: string;
  name: string;
  role: Role;
  /** Set on a scoped key (namespaces, clusters): every read route filters by it, the others refuse the key. */
  scope?: KeyScope;
}

const TOKEN = /^ew_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

function sha256hex(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

/** A scope that cannot be given (bad namespace name, scoped admin). */
export class KeyScopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyScopeError';
  }
}

export class KeyStore {
  private entries = new Map<string, KeyEntry>();
  private loadedMtime = -1;
  private checkedAt = 0;

  constructor(readonly file: string) {}

  static inDataDir(dataDir: string): KeyStore {
    return new KeyStore(path.join(dataDir, 'api-keys.json'));
  }

  private reload(force = false): void {
    const now = Date.now();
    if (!force && now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      this.entries.clear();
      this.loadedMtime = -1;
      return;
    }
    if (!force && st.mtimeMs === this.loadedMtime) return;
    let doc: unknown;
    try {
      doc = JSON.parse(fs.readFileSync(this.file, 'utf8'));
    } catch (e) {
      throw new Error(`${this.file}: not valid JSON: ${(e as Error).message}`);
    }
    const parsed = KeyFile.safeParse(doc);
    if (!parsed.success) throw new Error(`${this.file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    this.entries = new Map(parsed.data.keys.map((k) => [k.id, k]));
    this.loadedMtime = st.mtimeMs;
  }

  private save(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, keys: [...this.entries.values()] }, null, 2), { mode: 0o600 });
    fs.renameSync(tmp, this.file);
    this.loadedMtime = fs.statSync(this.file).mtimeMs;
  }

  /** Creates a key; the returned token is the only time the secret exists outside the caller. */
  create(name: string, role: Role, scope: KeyScope | null = null): { token: string; entry: KeyEntry } {
    if (scope !== null) {
      const parsed = KeyScope.safeParse(scope);
      if (!parsed.success) throw new KeyScopeError(`scope: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      // An admin key creates keys and reads the queue dashboard and metrics: no scope could hold it.
      if (role === 'admin') throw new KeyScopeError('an admin key cannot be namespace- or cluster-scoped (it manages keys, metrics and the queue dashboard)');
      const { namespaces, clusters } = parsed.data;
      scope = {
        ...(namespaces ? { namespaces: [...new Set(namespaces)].sort() } : {}),
        ...(clusters ? { clusters: [...new Set(clusters)].sort() } : {}),
      };
    }
    this.reload(true);
    const id = crypto.randomBytes(6).toString('hex');
    const secret = crypto.randomBytes(32).toString('base64url');
    const entry: KeyEntry = { id, name, role, hash: sha256hex(secret), created_at: new Date().toISOString(), revoked_at: null, scope };
    this.entries.set(id, entry);
    this.save();
    return { token: `ew_${id}_${secret}`, entry };
  }

  revoke(id: string): boolean {
    this.reload(true);
    const e = this.entries.get(id);
    if (!e || e.revoked_at) return false;
    e.revoked_at = new Date().toISOString();
    this.save();
    return true;
  }

  list(): KeyEntry[] {
    this.reload(true);
    return [...this.entries.values()];
  }

  /** The key's principal, or null for anything that is not a live key. */
  authenticate(token: string): Principal | null {
    const m = TOKEN.exec(token);
    if (!m) return null;
    this.reload();
    const e = this.entries.get(m[1]);
    if (!e || e.revoked_at) return null;
    const a = Buffer.from(sha256hex(m[2]), 'hex');
    const b = Buffer.from(e.hash, 'hex');
    if (!crypto.timingSafeEqual(a, b)) return null;
    return e.scope ? { keyId: e.id, name: e.name, role: e.role, scope: e.scope } : { keyId: e.id, name: e.name, role: e.role };
  }
}
