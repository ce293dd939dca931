/**
 * The layers hold: data flows parsers/ -> detectors/ -> src/, and nothing imports upward.
 * Reads every source file's relative imports (static, dynamic and require) and fails on an import
 * that crosses a layer the wrong way, on the store or the UI reaching into a detector's
 * implementation instead of the detectors' contract, and on import cycles between files or
 * between modules (a layer's second-level folder: parsers/flows, src/service, detectors).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const LAYERS = ['parsers', 'detectors', 'src'] as const;
type Layer = (typeof LAYERS)[number];
/** Which layers a file of each layer may import. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = { parsers: ['parsers'], detectors: ['parsers', 'detectors'], src: ['parsers', 'detectors', 'src'] };

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\(\s*)['"](\.{1,2}\/[^'"]*)['"]/g;

function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(rel);
      } else if (/\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(rel);
    }
  };
  for (const l of LAYERS) walk(l);
  return out.sort();
}

function resolveImport(from: string, spec: string): string | null {
  const p = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  for (const c of [`${p}.ts`, `${p}.tsx`, `${p}/index.ts`, p]) if (fs.existsSync(path.join(ROOT, c)) && fs.statSync(path.join(ROOT, c)).isFile()) return c;
  return null;
}

/** Relative imports of every file, resolved to repository paths (unresolvable ones as given). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files) {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      // package.json is read at run time from the compiled tree (dist/), not a source module.
      if (m[1].endsWith('/package.json')) continue;
      deps.push(resolveImport(f, m[1]) ?? `?${m[1]}`);
    }
    g.set(f, deps);
  }
  return g;
}

const layerOf = (f: string): string => f.split('/')[0];
const moduleOf = (f: string): string => {
  const parts = f.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0];
};

/** Strongly connected components with more than one node (Tarjan), each sorted. */
function cycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('layering: parsers -> detectors -> src, no cycles', () => {
  const files = sourceFiles();
  const graph = importGraph(files);

  it('finds the source tree', () => {
    for (const l of LAYERS)
      assert.ok(
        files.some((f) => f.startsWith(`${l}/`)),
        `no files under ${l}/`,
      );
    assert.ok(files.length > 100, `only ${files.length} source files`);
  });

  it('resolves every relative import to a file', () => {
    const bad = [...graph].flatMap(([f, deps]) => deps.filter((d) => d.startsWith('?')).map((d) => `${f} imports ${d.slice(1)}`));
    assert.deepEqual(bad, []);
  });

  it('imports no layer above its own, nor anything outside the three layers', () => {
    const bad: string[] = [];
    for (const [f, deps] of graph) {
      const from = layerOf(f) as Layer;
      for (const d of deps) {
        if (d.startsWith('?')) continue;
        const to = layerOf(d);
        if (!(MAY_IMPORT[from] as readonly string[]).includes(to)) bad.push(`${f} -> ${d}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('keeps the record contract (parsers/record) at the bottom', () => {
    const bad = [...graph]
      .filter(([f]) => f.startsWith('parsers/record/'))
      .flatMap(([f, deps]) => deps.filter((d) => !d.startsWith('parsers/record/')).map((d) => `${f} -> ${d}`));
    assert.deepEqual(bad, []);
  });

  it('lets the store and the UI see only the detectors contract', () => {
    const bad = [...graph]
      .filter(([f]) => f.startsWith('src/store/') || f.startsWith('src/ui/'))
      .flatMap(([f, deps]) => deps.filter((d) => d.startsWith('detectors/') && !d.startsWith('detectors/contract/')).map((d) => `${f} -> ${d}`));
    assert.deepEqual(bad, []);
  });

  it('has no import cycle between files', () => {
    const g = new Map([...graph].map(([f, deps]) => [f, new Set(deps.filter((d) => !d.startsWith('?')))]));
    assert.deepEqual(cycles(g), []);
  });

  it('has no import cycle between modules', () => {
    const g = new Map<string, Set<string>>();
    for (const [f, deps] of graph) {
      const m = moduleOf(f);
      const s = g.get(m) ?? new Set<string>();
      for (const d of deps) if (!d.startsWith('?') && moduleOf(d) !== m) s.add(moduleOf(d));
      g.set(m, s);
    }
    assert.deepEqual(cycles(g), []);
  });

  it('catches an upward import and a cycle when one is planted', () => {
    // The checks above pass on the tree; this proves they can fail.
    const planted = new Map([
      ['parsers/a.ts', new Set(['src/b.ts'])],
      ['src/b.ts', new Set(['parsers/a.ts'])],
    ]);
    assert.deepEqual(cycles(planted), [['parsers/a.ts', 'src/b.ts']]);
    assert.ok(!(MAY_IMPORT.parsers as readonly string[]).includes(layerOf('src/b.ts')));
  });
});
