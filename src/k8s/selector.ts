/** Kubernetes label selectors (matchLabels AND matchExpressions; an empty selector selects everything). */
import type { LabelSelector } from './schema';

export function selectorMatches(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  if (sel.matchLabels) {
    for (const k in sel.matchLabels) if (labels[k] !== sel.matchLabels[k]) return false;
  }
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(labels[e.key])) return false;
        break;
      case 'NotIn':
        // A missing key satisfies NotIn (k8s.io/apimachinery labels.Requirement.Matches).
        if (has && (e.values ?? []).includes(labels[e.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}
