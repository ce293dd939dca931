/**
 * Command-line glue for the Kubernetes features: building the resolver from --inventory and
 * --policies files, and `eastwatch policy what-if`.
 */
import * as fs from 'node:fs';
import { analyzeFile } from '../analyze/pipeline';
import { CaptureError } from '../../parsers/capture/types';
import type { ConnRecord } from '../../parsers/record/conn';
import { InventoryStore } from './inventory';
import { loadInventoryFiles, loadPolicyFiles } from './load';
import { PolicyError, PolicySet } from './policy';
import { K8sResolver } from './resolver';
import { InventoryError } from './schema';
import { WhatIf, applyProposal, renderWhatIf } from './whatif';

export interface K8sCliOptions {
  inventory?: string[];
  policies?: string[];
  localNets?: string[];
}

/**
 * The resolver for `analyze`, or null when no inventory was given. --policies objects are
 * added to the inventory's NetworkPolicies (same namespace/name: replaced), as in what-if. Throws InventoryError/PolicyError (and fs errors) with a message fit for the user.
 */
export function buildResolver(o: K8sCliOptions): K8sResolver | null {
  if (!o.inventory?.length && !o.policies?.length) return null;
  const store = loadInventoryFiles(o.inventory ?? [], new InventoryStore());
  const policies = o.policies?.length ? new PolicySet(applyProposal(store.networkPolicies(), loadPolicyFiles(o.policies))) : 'inventory';
  return new K8sResolver(store, { localNets: o.localNets, policies });
}

/** A user-facing message for errors from loading inventories and policies, or null for unexpected ones. */
export function k8sLoadError(e: unknown): string | null {
  if (e instanceof InventoryError || e instanceof PolicyError) return e.message;
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return (e as Error).message;
  return null;
}

export interface WhatIfCliOptions {
  inventory: string[];
  policies: string[];
  localNets?: string[];
  json?: boolean;
  out?: string;
  /** Evaluate the proposed policies alone instead of applying them on top of the inventory's. */
  replace?: boolean;
}

/** `eastwatch policy what-if`: exit 0 ok, 1 unreadable input. */
export async function runWhatIf(captures: string[], o: WhatIfCliOptions): Promise<number> {
  let resolver: K8sResolver;
  let proposed: PolicySet;
  let current: PolicySet;
  try {
    const store = loadInventoryFiles(o.inventory);
    const files = loadPolicyFiles(o.policies);
    proposed = new PolicySet(o.replace ? files : applyProposal(store.networkPolicies(), files));
    current = new PolicySet(store.networkPolicies());
    resolver = new K8sResolver(store, { localNets: o.localNets, policies: null });
  } catch (e) {
    const msg = k8sLoadError(e);
    if (msg === null) throw e;
    process.stderr.write(`eastwatch: ${msg}\n`);
    return 1;
  }
  const w = new WhatIf(resolver, proposed, current.size ? current : null);
  const exit = await analyzeCaptures(captures, (r) => w.add(r));
  const rep = w.report();
  const text = o.json ? `${JSON.stringify(rep, null, 1)}\n` : renderWhatIf(rep);
  if (o.out) fs.writeFileSync(o.out, text);
  else process.stdout.write(text);
  return exit;
}

/**
 * Analyses each capture into `onRecord`, saying on stderr what went wrong with any of them (the
 * records before a fault are kept); 1 when one failed, else 0.
 */
export async function analyzeCaptures(captures: readonly string[], onRecord: (r: ConnRecord) => void): Promise<number> {
  let exit = 0;
  for (const f of captures) {
    try {
      const res = await analyzeFile(f, onRecord);
      if (res.error) {
        process.stderr.write(`eastwatch: ${res.error.message}; ${res.packets} packets before it were analysed\n`);
        exit = 1;
      }
    } catch (e) {
      if (!(e instanceof CaptureError) && k8sLoadError(e) === null) throw e;
      process.stderr.write(`eastwatch: ${(e as Error).message}\n`);
      exit = 1;
    }
  }
  return exit;
}
