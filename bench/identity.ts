/**
 * Output identity between two builds: this checkout's `analyze` and another build's (`--baseline
 * DIR`, a checkout with dist/ built, e.g. a `git worktree` of the commit before a change) on every
 * capture of the corpus and of samples/, in four modes. Each run writes into a directory of its own;
 * every file it wrote (the conn log and the dns, http ... logs beside it, a Zeek log's #open and
 * #close times left out) and what it printed (the summary and the alerts, with its directory's
 * path replaced) are hashed with its exit code, and the two builds' hashes are compared. A change
 * meant to keep the output (a speed-up, a refactor) shows "identical"; the differences are listed
 * by capture and mode otherwise, and the exit code is 1.
 *
 *   npm run bench:identity -- --baseline DIR [--corpus DIR] [--files F,...] [--jobs N] [--modes a,b]
 *
 * The corpus defaults to ../shared/corpus (or $EASTWATCH_CORPUS); `--files` adds captures (the
 * bench's, say). Jobs default to the machine's CPUs: every run is a process of its own.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..');

/** The modes: what each one adds to `analyze FILE` (OUT: the run's directory). */
const MODES: Record<string, string[]> = {
  ndjson: ['-f', 'ndjson', '-o', 'OUT/conn.ndjson', '--no-detectors'],
  'zeek-checksums': ['-f', 'zeek', '-o', 'OUT/conn.log', '--verify-checksums', '--no-detectors'],
  'zeek-json-conn-only': ['-f', 'zeek-json', '-o', 'OUT/conn.json', '--no-analyzers', '--no-detectors'],
  // The default run: analyzers and detectors, the alerts in what it prints.
  default: ['-f', 'ndjson', '-o', 'OUT/conn.ndjson'],
};

/** A Zeek log's #open and #close lines, up to their time. */
const ZEEK_TIMES = /^(#(?:open|close)\t)[^\n]*/gm;

const CAPTURE = /\.(pcap|pcapng|cap|trace|dump)(\.gz)?$/i;

interface Args {
  baseline: string;
  corpus: string;
  files: string[];
  jobs: number;
  modes: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    baseline: '',
    corpus: process.env.EASTWATCH_CORPUS ?? path.resolve(REPO, '..', 'shared', 'corpus'),
    files: [],
    jobs: os.availableParallelism(),
    modes: Object.keys(MODES),
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--baseline') a.baseline = path.resolve(v());
    else if (k === '--corpus') a.corpus = path.resolve(v());
    else if (k === '--files')
      a.files.push(
        ...v()
          .split(',')
          .map((f) => path.resolve(f)),
      );
    else if (k === '--jobs') a.jobs = Math.max(1, Number.parseInt(v(), 10) || 1);
    else if (k === '--modes') a.modes = v().split(',');
    else throw new Error(`unknown option ${k}`);
  }
  if (a.baseline === '') throw new Error('--baseline DIR is required (a checkout with dist/ built)');
  for (const m of a.modes) if (MODES[m] === undefined) throw new Error(`unknown mode ${m} (${Object.keys(MODES).join(', ')})`);
  return a;
}

/** Capture files under `dir`, sorted (none when it does not exist). */
function captures(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && CAPTURE.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

interface Job {
  build: string;
  file: string;
  mode: string;
}

/** Runs one job in a fresh directory and returns its hash. */
function runJob(job: Job, tmp: string, n: number): Promise<string> {
  const dir = path.join(tmp, String(n));
  fs.mkdirSync(dir);
  const args = [path.join(job.build, 'dist/src/cli/main.js'), 'analyze', job.file, ...MODES[job.mode].map((a) => a.replace('OUT', dir))];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const h = createHash('sha256');
      h.update(`exit ${code}\n`);
      h.update(Buffer.concat(chunks).toString('utf8').split(dir).join('OUT'));
      for (const f of fs.readdirSync(dir).sort()) {
        h.update(`\n--- ${f}\n`);
        // Zeek logs say when they were written (#open, #close): the one part of a run that differs by itself.
        const bytes = fs.readFileSync(path.join(dir, f));
        h.update(f.endsWith('.log') ? bytes.toString('latin1').replace(ZEEK_TIMES, '$1') : bytes);
      }
      fs.rmSync(dir, { recursive: true, force: true });
      resolve(h.digest('hex'));
    });
  });
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  for (const b of [REPO, a.baseline])
    if (!fs.existsSync(path.join(b, 'dist/src/cli/main.js'))) throw new Error(`${b}: no dist/src/cli/main.js (build it first)`);
  const corpus = captures(a.corpus);
  if (corpus.length === 0) console.log(`note: no captures under ${a.corpus}; samples and --files only`);
  const files = [...corpus, ...captures(path.join(REPO, 'samples')), ...a.files];
  const jobs: Job[] = [];
  for (const file of files) for (const mode of a.modes) for (const build of [a.baseline, REPO]) jobs.push({ build, file, mode });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-identity-'));
  const hashes = new Map<string, string>();
  const started = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      if (n >= jobs.length) return;
      const j = jobs[n];
      hashes.set(`${j.build}\0${j.file}\0${j.mode}`, await runJob(j, tmp, n));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(a.jobs, jobs.length) }, worker));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const differ: string[] = [];
  for (const file of files)
    for (const mode of a.modes) if (hashes.get(`${a.baseline}\0${file}\0${mode}`) !== hashes.get(`${REPO}\0${file}\0${mode}`)) differ.push(`${mode}\t${file}`);
  const runs = files.length * a.modes.length;
  console.log(
    `${files.length} captures x ${a.modes.length} modes (${a.modes.join(', ')}): ${runs - differ.length}/${runs} identical to ${a.baseline} ` +
      `(${((Date.now() - started) / 1000).toFixed(0)} s, ${a.jobs} jobs)`,
  );
  for (const d of differ) console.log(`differs: ${d}`);
  process.exitCode = differ.length === 0 ? 0 : 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 2;
});
