/**
 * Access to ../shared/corpus (real captures with Zeek/tshark oracles).
 * Absent corpus: tests skip with a clear message, except under CI=true where absence fails.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The corpus directory: $EASTWATCH_CORPUS, else ../shared/corpus beside the repository
 * (compiled tests live at dist/test/util, or one level deeper in a per-area build).
 */
export const CORPUS_DIR =
  process.env.EASTWATCH_CORPUS ??
  [4, 5].map((up) => path.resolve(__dirname, ...Array<string>(up).fill('..'), 'shared', 'corpus')).find((d) => fs.existsSync(path.join(d, 'MANIFEST.md'))) ??
  path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'corpus');

export function corpusAvailable(): boolean {
  return fs.existsSync(path.join(CORPUS_DIR, 'MANIFEST.md'));
}

/**
 * Call at the top of a test (`function (this: Mocha.Context)`) that needs the corpus.
 * Skips when it is absent, fails under CI=true.
 */
export function requireCorpus(ctx: Mocha.Context): void {
  if (corpusAvailable()) return;
  const msg = `corpus not found at ${CORPUS_DIR} (set EASTWATCH_CORPUS or place ../shared/corpus beside the repository)`;
  if (process.env.CI === 'true') throw new Error(msg);
  console.warn(`      skipped: ${msg}`);
  ctx.skip();
}

/** Absolute path of a corpus file, e.g. corpusPath('zeek/wikipedia.pcap'). */
export function corpusPath(rel: string): string {
  return path.join(CORPUS_DIR, rel);
}

/** Every corpus file whose name matches `pattern`, sorted (absolute paths). */
export function corpusFiles(pattern: RegExp): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (pattern.test(e.name)) out.push(p);
    }
  };
  walk(CORPUS_DIR);
  return out.sort();
}
