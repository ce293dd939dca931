/**
 * The detectors' names, and the parsing of a list of them. Apart from their configuration schema
 * (zod) and the detectors themselves, so that the command line can offer and check them without
 * loading either for a run with --no-detectors.
 */
export const DETECTOR_NAMES = [
  'new-edge',
  'policy-violation',
  'scan',
  'beacon',
  'dns-tunnel',
  'exfiltration',
  'sensitive-destination',
  'lateral-admin',
  'long-connection',
] as const;

export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** Parses a comma-separated list of detector names; throws naming the unknown one. */
export function parseDetectorList(list: string): DetectorName[] {
  const out: DetectorName[] = [];
  for (const raw of list.split(',')) {
    const n = raw.trim();
    if (n === '') continue;
    if (!(DETECTOR_NAMES as readonly string[]).includes(n)) throw new Error(`unknown detector "${n}" (known: ${DETECTOR_NAMES.join(', ')})`);
    if (!out.includes(n as DetectorName)) out.push(n as DetectorName);
  }
  return out;
}
