/** Reading inventory and policy files (JSON as kubectl writes it, or YAML manifests, several documents allowed). */
import * as fs from 'node:fs';
import { InventoryStore, type AddInventoryOptions } from './inventory';
import { InventoryError, parseObjects, type NetworkPolicyObject } from './schema';

/** Parses a file's text: JSON when it looks like JSON, else YAML (possibly several documents). */
export function parseK8sText(text: string, source: string): unknown {
  const t = text.trimStart();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new InventoryError(`${source}: not valid JSON: ${(e as Error).message}`, -1, '(document)');
    }
  }
  try {
    // yaml loads only for YAML input: JSON inventories (kubectl's -o json) and every command
    // that never reads one do not pay for its modules.
    const { parseAllDocuments } = require('yaml') as typeof import('yaml');
    const docs: unknown[] = [];
    for (const d of parseAllDocuments(text)) {
      if (d.errors.length) throw d.errors[0];
      const v: unknown = d.toJS();
      if (v !== null && v !== undefined) docs.push(v);
    }
    return docs.length === 1 ? docs[0] : docs;
  } catch (e) {
    throw new InventoryError(`${source}: not valid JSON or YAML: ${(e as Error).message}`, -1, '(document)');
  }
}

export function readK8sFile(file: string): unknown {
  return parseK8sText(fs.readFileSync(file, 'utf8'), file);
}

/** Loads inventory files into a (new or given) store, in order. */
export function loadInventoryFiles(files: readonly string[], store = new InventoryStore(), opts: AddInventoryOptions = {}): InventoryStore {
  for (const f of files) store.addDocument(readK8sFile(f), f, opts);
  return store;
}

/** The NetworkPolicy objects of policy files (other objects in them, e.g. a whole inventory, are skipped). */
export function loadPolicyFiles(files: readonly string[]): NetworkPolicyObject[] {
  const out: NetworkPolicyObject[] = [];
  for (const f of files) {
    for (const o of parseObjects(readK8sFile(f), f).objects) if (o.kind === 'NetworkPolicy') out.push(o);
  }
  return out;
}
