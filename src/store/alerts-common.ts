/**
 * What both backends do the same way with alerts: how a detector's new write meets the
 * analyst's edits and the suppressions, severity order, and the checks of a search.
 * Pure functions, so the two stores cannot drift apart.
 */
import type { Alert, Severity, Suppression } from '../../detectors/contract/alert';
import { applySuppressions } from '../../detectors/contract/suppress';
import { toInstant } from './common';
import { StoreRequestError, type AlertSearch } from './types';
import { instantSeconds } from '../query/ast';

export const SEVERITY_RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3, critical: 4 };

/**
 * The alert to store: the detector's fields from the new write, the analyst's status and note
 * from the stored copy, suppressed_by from the stored rules (detectors/contract/suppress.ts, the matching
 * the engine and the API use too) unless the caller already named a rule.
 */
export function mergeAlert(incoming: Alert, stored: Alert | null, rules: readonly Suppression[], now: Date): Alert {
  const out: Alert = { ...incoming };
  if (stored !== null) {
    out.status = stored.status;
    if (stored.note !== undefined) out.note = stored.note;
    else delete out.note;
  }
  out.suppressed_by = incoming.suppressed_by ?? applySuppressions([incoming], rules, now.getTime())[0].suppressed_by ?? null;
  return out;
}

export function validateAlert(a: Alert): void {
  if (typeof a.id !== 'string' || a.id === '') throw new StoreRequestError('an alert needs a non-empty id');
  if (!(a.severity in SEVERITY_RANK)) throw new StoreRequestError(`alert ${a.id}: unknown severity '${String(a.severity)}'`);
  if (!Number.isFinite(a.last_seen) || !Number.isFinite(a.first_seen))
    throw new StoreRequestError(`alert ${a.id}: first_seen and last_seen must be epoch seconds`);
}

export function validateSuppression(s: Suppression): void {
  if (typeof s.id !== 'string' || s.id === '') throw new StoreRequestError('a suppression needs a non-empty id');
  if (typeof s.detector !== 'string' || s.detector === '') throw new StoreRequestError(`suppression ${s.id}: detector is required`);
  if (s.expires_at !== null && Number.isNaN(Date.parse(s.expires_at)))
    throw new StoreRequestError(`suppression ${s.id}: expires_at '${s.expires_at}' is not RFC 3339`);
}

/** An alert search's bounds as epoch seconds, validated. */
export function alertBounds(req: AlertSearch, now = new Date()): { from?: number; to?: number; minRank?: number } {
  const out: { from?: number; to?: number; minRank?: number } = {};
  if (req.from !== undefined) out.from = instantSeconds(toInstant(req.from, now));
  if (req.to !== undefined) out.to = instantSeconds(toInstant(req.to, now));
  if (req.severity !== undefined) {
    if (!(req.severity in SEVERITY_RANK)) throw new StoreRequestError(`unknown severity '${req.severity}': low, medium, high or critical`);
    out.minRank = SEVERITY_RANK[req.severity];
  }
  return out;
}

/** A search's namespace entries split into bare names and `cluster/namespace` pairs. */
export function scopeEntries(entries: readonly string[]): { bare: string[]; pairs: { cluster: string; namespace: string }[] } {
  const bare: string[] = [];
  const pairs: { cluster: string; namespace: string }[] = [];
  for (const e of entries) {
    const i = e.indexOf('/');
    if (i < 0) bare.push(e);
    else pairs.push({ cluster: e.slice(0, i), namespace: e.slice(i + 1) });
  }
  return { bare, pairs };
}
