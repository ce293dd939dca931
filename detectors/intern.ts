/**
 * One string per distinct value among the detectors' bounded maps, where many entries hold the
 * same text in copies of their own. Bounded: cleared when full (a later copy is as good).
 */
export class Interner {
  private readonly kept = new Map<string, string>();
  constructor(private readonly max: number) {}

  get(s: string): string {
    const k = this.kept.get(s);
    if (k !== undefined) return k;
    if (this.kept.size >= this.max) this.kept.clear();
    this.kept.set(s, s);
    return s;
  }
}

/**
 * DNS names: each DNS record brings its own copy of the name it asked for, and the maps from
 * (client, answer) to that name held one copy per entry: on the 10M-packet bench capture some
 * 145k copies of a few hundred service names, about 6 MB of the run's live heap.
 */
const names = new Interner(50_000);

export function internName(s: string): string {
  return names.get(s);
}

/**
 * "client|answer" keys of a DNS record's answers: the new-edge detector's DestNames and the beacon
 * detector each keep one per answer, built from the same record one after the other. Recent keys
 * only: the second detector finds the first one's string, and each map entry shares it.
 */
const answerKeys = new Interner(4096);

export function answerKey(client: string, answer: string): string {
  return answerKeys.get(`${client}|${answer}`);
}

/**
 * "text|number" keys found by their two parts, so that a key already made is not built and hashed
 * again for each record (the parts come from the records: addresses as one cached string each,
 * ports as numbers). Bounded: cleared when `max` keys are held (a later copy is as good).
 */
export class PairKeys {
  private readonly byText = new Map<string, Map<number, string>>();
  private count = 0;
  constructor(private readonly max: number) {}

  /** The key `${a}|${bText}`, where bText is the text of b. */
  get(a: string, b: number, bText: string): string {
    let m = this.byText.get(a);
    let k = m?.get(b);
    if (k !== undefined) return k;
    if (this.count >= this.max) {
      this.byText.clear();
      this.count = 0;
      m = undefined;
    }
    if (m === undefined) {
      m = new Map();
      this.byText.set(a, m);
    }
    k = `${a}|${bText}`;
    m.set(b, k);
    this.count++;
    return k;
  }
}
