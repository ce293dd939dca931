/**
 * One string per distinct DNS name among the detectors' bounded maps. Each DNS record brings its
 * own copy of the name it asked for, and the maps from (client, answer) to that name held one copy
 * per entry: on the 10M-packet bench capture some 145k copies of a few hundred service names, about
 * 6 MB of a run's live heap. Bounded like the maps themselves (cleared when full: a later copy is
 * as good).
 */
const NAMES_MAX = 50_000;
const names = new Map<string, string>();

export function internName(s: string): string {
  const kept = names.get(s);
  if (kept !== undefined) return kept;
  if (names.size >= NAMES_MAX) names.clear();
  names.set(s, s);
  return s;
}
