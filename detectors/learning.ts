/**
 * A learning window in data time: it opens with the first record a detector sees and lasts
 * `seconds`; what is seen inside it is normal. A baseline (file or store history) replaces it.
 */
export class LearningWindow {
  start: number | null = null;
  constructor(public seconds: number) {}

  /**
   * True while `ts` is inside the window (the first call opens it). A closed window (0 s: a
   * baseline replaced it) learns nothing, not even a record older than the first one seen:
   * records arrive in end order (a flow source emits a connection when it ends), so the first
   * record seen is not the oldest.
   */
  learning(ts: number): boolean {
    if (this.start === null) this.start = ts;
    return this.seconds > 0 && ts < this.start + this.seconds;
  }
}
