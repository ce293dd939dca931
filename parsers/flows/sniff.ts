/**
 * Format from the first non-empty unit (line or JSON array element) of the input.
 */
import { isVpcHeader, looksLikeVpcDefault, vpcLinesOf } from './vpc';
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
    // Flow log deliveries (CloudWatch Logs events and subscriptions, Firehose): by the records inside.
    if (typeof k.message === 'string' || 'logEvents' in k || 'messageType' in k || Array.isArray(k.records)) return vpcInside(t);
    return null;
  }
  if (/^H4sI[A-Za-z0-9+/]+=*$/.test(t.trim())) return vpcInside(t);
  return vpcLine(t);
}

function vpcLine(line: string): FlowFormat | null {
  const tokens = line.trim().split(/\s+/);
  return isVpcHeader(tokens) || looksLikeVpcDefault(tokens) ? 'aws-vpc' : null;
}

/** aws-vpc when the delivery's first record reads as one (a CONTROL_MESSAGE, holding none, too). */
function vpcInside(unit: string): FlowFormat | null {
  let lines: string[] | null;
  try {
    lines = vpcLinesOf(unit);
  } catch {
    return null;
  }
  if (lines === null) return null;
  return lines.length === 0 ? 'aws-vpc' : vpcLine(lines[0]);
}
