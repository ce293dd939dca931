/**
 * A learning window in data time: it opens with the first record a detector sees and lasts
 * `seconds`; what is seen inside it is normal. A baseline (file or store history) replaces it.
 */
export class LearningWindow {
  start: number | null = null;
  constructor(public seconds: number) {}

  /** True while `ts` is inside the window (the first call opens it). */
  learning(ts: number): boolean {
    if (this.start === null) this.start = ts;
    return ts < this.start + this.seconds;
  }
}
