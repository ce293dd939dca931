/**
 * Format from the first non-empty unit (line or JSON array element) of the input.
 */
import { isVpcHeader, looksLikeVpcDefault } from './vpc';
import type { FlowFormat } from './types';

/** The format a first unit belongs to, or null when it matches none. */
export function sniffFormat(first: string): FlowFormat | null {
  const t = first.trimStart();
  if (t.startsWith('#')) return 'zeek-tsv';
  if (t.startsWith('{')) {
    let o: unknown;
    try {
      o = JSON.parse(t);
    } catch {
      return null;
    }
    if (typeof o !== 'object' || o === null) return null;
    const k = o as Record<string, unknown>;
    if ('id.orig_h' in k) return 'zeek-json';
    if ('orig_h' in k && 'uid' in k) return 'ndjson';
    if ('flow' in k || 'IP' in k || 'verdict' in k || ('time' in k && 'Type' in k) || 'node_name' in k) return 'hubble';
    return null;
  }
  const tokens = t.trim().split(/\s+/);
  if (isVpcHeader(tokens) || looksLikeVpcDefault(tokens)) return 'aws-vpc';
  return null;
}
