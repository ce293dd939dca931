/**
 * Suppression rules applied to alerts: a pure function, so the engine, the store and the API
 * agree on what a rule silences. A rule matches an alert of its detector ('*' for any) when every
 * field it gives for the source and the destination equals the alert's; expired rules match
 * nothing. Suppressed alerts are kept, marked with the rule's id.
 */
import type { Alert, AlertEntity, Suppression } from './alert';

function entityMatches(rule: AlertEntity | undefined, e: AlertEntity): boolean {
  if (rule === undefined) return true;
  for (const k of Object.keys(rule) as (keyof AlertEntity)[]) {
    const want = rule[k];
    if (want === undefined) continue;
    if (e[k] !== want) return false;
  }
  return true;
}

export function suppressionActive(rule: Suppression, now: number): boolean {
  if (rule.expires_at === null) return true;
  const t = Date.parse(rule.expires_at);
  return Number.isNaN(t) ? false : t > now;
}

export function suppressionMatches(rule: Suppression, a: Alert, now: number): boolean {
  return (
    (rule.detector === '*' || rule.detector === a.detector) &&
    suppressionActive(rule, now) &&
    entityMatches(rule.source, a.source) &&
    entityMatches(rule.destination, a.destination)
  );
}

/**
 * Alerts with `suppressed_by` set to the first matching active rule (rules in id order, so the
 * answer does not depend on their order), or null. `now`: epoch milliseconds (Date.now()).
 * Inputs are not modified.
 */
export function applySuppressions(alerts: readonly Alert[], rules: readonly Suppression[], now: number): Alert[] {
  const sorted = [...rules].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return alerts.map((a) => {
    const hit = sorted.find((r) => suppressionMatches(r, a, now));
    return { ...a, suppressed_by: hit ? hit.id : null };
  });
}
