/**
 * Throughput benchmark: eastwatch analyze vs. argus, softflowd and tshark on the same captures.
 *
 *   npm run bench -- [--workloads pods,short] [--packets N] [--sessions N] [--runs N]
 *                    [--reader native|pcap-parser] [--compare-readers] [--analyzers] [--threads N]
 *                    [--timeout SECONDS] [--no-peers] [--seed N] [--baseline DIR]
 *                    [--parts file,live] [--live-seconds S] [--live-rates 5000,...,top] [--live-runs N]
 *                    [--live-buffers 2,32] [--live-packets N]
 *
 * Parts (both by default): `file`, the workloads below; `live` (bench/live.ts), the capture
 * agent's sustained packets/s on a veth fed by tcpreplay at increasing rates, with kernel drops,
 * beside the file path's packets/s on the same capture. `live` needs root, ip, tcpdump and
 * tcpreplay: without them it is skipped with the reason. It takes about
 * rates x runs x (live-seconds + ~4 s): 5 x 3 x 19 s, some 5 minutes, with the defaults.
 *
 * Two workloads, each with its own capture and table, both by default:
 *  - pods (bench/traffic.ts): pod-to-pod traffic with long transfers among it, `--packets` packets;
 *  - short (bench/traffic-short.ts): issue 16's shape, `--sessions` short sessions (85% HTTP/1.1
 *    of 1-6 exchanges, 15% DNS; 30% inside VXLAN with a stable outer source port per inner flow).
 *
 * Every tool runs as a child process pinned to one CPU (taskset -c 1), in interleaved rounds, and is measured for wall
 * time and peak RSS (/usr/bin/time -f '%e %M', else VmHWM polled from /proc). Medians are
 * printed and written to bench/out/results.json. `--analyzers` adds two more eastwatch runs: with
 * the protocol analyzers on (their cost over connection records only) and the default run
 * (analyzers and detectors, against tshark's speed). `--threads N` adds a run of `analyze --threads N`
 * on all CPUs (not pinned: it is meant to use them) and its speed over the one-thread run given all
 * CPUs too (the pinned run would flatter it: one thread's garbage collector and file reads already
 * run beside it on the other CPU); with `--analyzers` too, the same with the protocol analyzers on.
 * The unpinned one-thread run's CPU seconds over its wall time say how many CPUs it already keeps
 * busy, so how far any split of the same work over threads could go on this machine (its ceiling).
 * `--baseline DIR` adds another build of eastwatch (a checkout with `dist/` built, e.g. a
 * `git worktree` of the commit before a change) to the same rounds, so that "no slowdown" is a
 * ratio measured under the same load rather than two runs on different days.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Table from 'cli-table3';
import { TRAFFIC_VERSION, generateTraffic, type TrafficStats } from './traffic';
import { SHORT_TRAFFIC_VERSION, generateShortTraffic } from './traffic-short';
import { cannotRunLive, type LiveResult, parseLiveArgs, runLiveBench } from './live';
import { median } from './median';

// ---------------------------------------------------------------- configuration

/** Repository root: the nearest directory above this compiled file holding package.json. */
function findRepo(): string {
  let d = __dirname;
  while (!fs.existsSync(path.join(d, 'package.json')) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}
const REPO = findRepo();
const OUT_DIR = path.join(REPO, 'bench', 'out');

/**
 * The command measured for eastwatch; {FILE} is replaced by the capture path. Connection records
 * only, like the peers; `--analyzers` adds a run with the protocol analyzers on, for their cost.
 */
// Records go to a file in the run's temporary directory (the application logs are written beside
// it). The rows with `--analyzers` drop the flags that turn the analyzers (and, for the default
// run, the detectors too) off.
const ANALYZE_CMD = [
  'node',
  path.join(REPO, 'dist/src/cli/main.js'),
  'analyze',
  '{FILE}',
  '--format',
  'ndjson',
  '--out',
  '{OUT}',
  '--no-progress',
  '--no-detectors',
  '--no-analyzers',
];
const ANALYZERS_TOOL = 'eastwatch with protocol analyzers';
/** `analyze` as a user runs it: analyzers and detectors on (issue 16: at least twice tshark's speed). */
const DEFAULT_TOOL = 'eastwatch default (analyzers and detectors)';

/** softflowd exports NetFlow here; only loopback addresses are allowed on this machine. */
const SOFTFLOWD_COLLECTOR = { host: '127.0.0.1', port: 9995 };

interface Peer {
  name: string;
  binary: string;
  args: (file: string, tmp: string) => string[];
}

const PEERS: Peer[] = [
  { name: 'argus', binary: 'argus', args: (f, tmp) => ['-r', f, '-w', path.join(tmp, 'argus.out')] },
  { name: 'softflowd', binary: 'softflowd', args: (f) => ['-r', f, '-n', `${SOFTFLOWD_COLLECTOR.host}:${SOFTFLOWD_COLLECTOR.port}`, '-v', '9'] },
  { name: 'tshark', binary: 'tshark', args: (f) => ['-n', '-r', f, '-q', '-z', 'conv,tcp', '-z', 'conv,udp'] },
];

// ---------------------------------------------------------------- arguments

type Workload = 'pods' | 'short';
const WORKLOADS: Workload[] = ['pods', 'short'];

interface Args {
  workloads: Workload[];
  packets: number;
  sessions: number;
  runs: number;
  reader?: string;
  compareReaders: boolean;
  analyzers: boolean;
  /** Adds `analyze --threads N` (0: not run). */
  threads: number;
  timeoutSec: number;
  peers: boolean;
  seed: number;
  /** Root of another eastwatch checkout whose build runs in the same rounds. */
  baseline?: string;
  parts: Part[];
  /** bench/live.ts's flags, as `--live-X` here. */
  live: string[];
}

type Part = 'file' | 'live';
const PARTS: Part[] = ['file', 'live'];

function parseArgs(argv: string[]): Args {
  const a: Args = {
    workloads: [...WORKLOADS],
    packets: 1_000_000,
    sessions: 100_000,
    runs: 3,
    compareReaders: false,
    analyzers: false,
    threads: 0,
    timeoutSec: 900,
    peers: true,
    seed: 0xea57,
    parts: [...PARTS],
    live: ['--seconds', '15'],
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${k} needs a positive integer`);
      return v;
    };
    if (k === '--packets') a.packets = num();
    else if (k === '--sessions') a.sessions = num();
    else if (k === '--runs') a.runs = num();
    else if (k === '--timeout') a.timeoutSec = num();
    else if (k === '--seed') a.seed = num();
    else if (k === '--threads') a.threads = num();
    else if (k === '--reader') a.reader = argv[++i];
    else if (k === '--compare-readers') a.compareReaders = true;
    else if (k === '--analyzers') a.analyzers = true;
    else if (k === '--no-peers') a.peers = false;
    else if (k === '--baseline') {
      const dir = path.resolve(argv[++i] ?? '');
      if (!fs.existsSync(path.join(dir, 'dist/src/cli/main.js')))
        throw new Error(`--baseline: ${dir}/dist/src/cli/main.js not found (build that checkout first)`);
      a.baseline = dir;
    } else if (k === '--parts') {
      const ps = (argv[++i] ?? '').split(',').map((w) => w.trim());
      for (const p of ps) if (!PARTS.includes(p as Part)) throw new Error(`--parts: unknown part "${p}" (known: ${PARTS.join(', ')})`);
      a.parts = ps as Part[];
    } else if (/^--live-(seconds|rates|runs|buffers|packets|seed)$/.test(k)) {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      a.live.push(k.replace('--live-', '--'), v);
    } else if (k === '--workloads') {
      const ws = (argv[++i] ?? '').split(',').map((w) => w.trim());
      for (const w of ws) if (!WORKLOADS.includes(w as Workload)) throw new Error(`--workloads: unknown workload "${w}" (known: ${WORKLOADS.join(', ')})`);
      a.workloads = ws as Workload[];
    } else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

// ---------------------------------------------------------------- measurement

interface RunResult {
  ok: boolean;
  wallSec: number;
  peakRssKb: number;
  /** User plus system CPU seconds (GNU time only): steadier than wall time on a loaded machine. */
  cpuSec?: number;
  error?: string;
}

function which(bin: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

const TASKSET = which('taskset');
const GNU_TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Reads VmHWM (peak RSS, kB) of a live process; 0 once it has exited. */
function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** `pinned`: on one CPU (taskset -c 1); otherwise on all of them. */
async function measure(cmd: string[], timeoutSec: number, tmp: string, pinned = true): Promise<RunResult> {
  const timeFile = path.join(tmp, 'time.out');
  let argv = TASKSET && pinned ? [TASKSET, '-c', os.cpus().length > 1 ? '1' : '0', ...cmd] : cmd;
  if (GNU_TIME) argv = [GNU_TIME, '-f', '%e %M %U %S', '-o', timeFile, ...argv];
  const start = process.hrtime.bigint();
  let stderrTail = '';
  let polledPeak = 0;
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.on('data', (d: Buffer) => {
    stderrTail = (stderrTail + d.toString('utf8')).slice(-2000);
  });
  // Without GNU time, poll the child (taskset execs the command in place, so the pid is the tool's).
  const poll = GNU_TIME ? undefined : setInterval(() => (polledPeak = Math.max(polledPeak, vmHwm(child.pid ?? -1))), 20);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutSec * 1000);
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  if (poll) clearInterval(poll);
  const wallSec = Number(process.hrtime.bigint() - start) / 1e9;
  let peakRssKb = polledPeak;
  let cpuSec: number | undefined;
  if (GNU_TIME && fs.existsSync(timeFile)) {
    const last = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
    const m = /^([\d.]+) (\d+) ([\d.]+) ([\d.]+)$/.exec(last);
    if (m) {
      peakRssKb = Number(m[2]);
      cpuSec = Number(m[3]) + Number(m[4]);
    }
    fs.rmSync(timeFile, { force: true });
  }
  if (timedOut) return { ok: false, wallSec, peakRssKb, error: `timed out after ${timeoutSec}s` };
  if (code !== 0) return { ok: false, wallSec, peakRssKb, error: `exit code ${code}: ${firstError(stderrTail)}` };
  return { ok: true, wallSec, peakRssKb, cpuSec };
}

/** The most telling stderr line: the first mentioning an error, else the last one. */
function firstError(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return lines.find((l) => /error/i.test(l)) ?? lines[lines.length - 1] ?? '';
}

interface ToolResult {
  tool: string;
  command: string;
  runs: number;
  ok: boolean;
  skipped?: string;
  error?: string;
  medianWallSec?: number;
  packetsPerSec?: number;
  medianPeakRssMb?: number;
  medianCpuSec?: number;
  /** eastwatch packets/s divided by this tool's packets/s. */
  eastwatchSpeedRatio?: number;
  wallSec?: number[];
  peakRssMb?: number[];
  cpuSec?: number[];
}

interface ToolSpec {
  tool: string;
  cmd: string[];
  /** false: may use every CPU (the --threads run). */
  pinned?: boolean;
}

/**
 * Runs every tool `runs` times in interleaved rounds (A B C, A B C, ...), so that a change in the
 * machine's load during the benchmark falls on all tools alike instead of on whichever ran then.
 */
async function runRounds(specs: ToolSpec[], args: Args, packets: number, tmp: string): Promise<ToolResult[]> {
  const results = specs.map((s): ToolResult => ({ tool: s.tool, command: s.cmd.join(' '), runs: args.runs, ok: true, wallSec: [], peakRssMb: [], cpuSec: [] }));
  for (let i = 0; i < args.runs; i++) {
    for (let t = 0; t < specs.length; t++) {
      const res = results[t];
      if (!res.ok) continue;
      process.stderr.write(`  ${res.tool}: run ${i + 1}/${args.runs} ... `);
      const r = await measure(specs[t].cmd, args.timeoutSec, tmp, specs[t].pinned !== false);
      process.stderr.write(r.ok ? `${r.wallSec.toFixed(2)} s, ${(r.peakRssKb / 1024).toFixed(0)} MB\n` : `FAILED (${r.error})\n`);
      if (!r.ok) {
        results[t] = { tool: res.tool, command: res.command, runs: args.runs, ok: false, error: r.error };
        continue;
      }
      res.wallSec!.push(r.wallSec);
      res.peakRssMb!.push(r.peakRssKb / 1024);
      if (r.cpuSec !== undefined) res.cpuSec!.push(r.cpuSec);
    }
  }
  for (const res of results) {
    if (!res.ok) continue;
    res.medianWallSec = median(res.wallSec!);
    res.packetsPerSec = packets / res.medianWallSec;
    res.medianPeakRssMb = median(res.peakRssMb!);
    if (res.cpuSec!.length === res.wallSec!.length) res.medianCpuSec = median(res.cpuSec!);
  }
  return results;
}

function analyzeCmd(file: string, tmp: string, reader?: string, threads = 1): string[] {
  const cmd = ANALYZE_CMD.map((a) => (a === '{FILE}' ? file : a === '{OUT}' ? path.join(tmp, 'conn.ndjson') : a));
  if (reader) cmd.push('--reader', reader);
  cmd.push('--threads', String(threads));
  return cmd;
}

/** CPUs over those a run kept busy (median CPU seconds over median wall time); undefined without CPU times. */
function ceiling(r: ToolResult): number | undefined {
  if (r.medianCpuSec === undefined || r.medianWallSec === undefined || r.medianCpuSec <= 0) return undefined;
  return os.cpus().length / (r.medianCpuSec / r.medianWallSec);
}

/** The same connection-only command on another checkout's build, without flags older builds may lack. */
function baselineCmd(root: string, file: string, tmp: string): string[] {
  const main = path.join(REPO, 'dist/src/cli/main.js');
  return ANALYZE_CMD.map((a) =>
    a === '{FILE}' ? file : a === '{OUT}' ? path.join(tmp, 'conn-baseline.ndjson') : a === main ? path.join(root, 'dist/src/cli/main.js') : a,
  );
}

/** `DIR at <short commit>`, or the directory alone when it is not a git checkout. */
function baselineLabel(root: string): string {
  const r = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return r.status === 0 ? `eastwatch baseline ${r.stdout.trim()}` : `eastwatch baseline ${root}`;
}

// ---------------------------------------------------------------- main

interface WorkloadResult {
  workload: Workload;
  capture: { file: string } & TrafficStats;
  readerRatio?: number;
  analyzersCost?: number;
  /** tshark's median wall time over the default run's. */
  defaultVsTshark?: number;
  /** Speed of `--threads N` over the one-thread run, both on all CPUs. */
  threadsSpeedup?: number;
  /** The same with the protocol analyzers on (`--analyzers --threads N`). */
  threadsAnalyzersSpeedup?: number;
  /**
   * The most any split of the one-thread run's work over threads could give on this machine: the
   * CPUs over those the one-thread run keeps busy (its median CPU seconds over its median wall time).
   */
  threadsCeiling?: number;
  threadsAnalyzersCeiling?: number;
  /** This build's connection-only speed over the `--baseline` build's, in the same rounds. */
  baselineRatio?: number;
  /** The same by median CPU seconds (user + system). */
  baselineCpuRatio?: number;
  results: ToolResult[];
}

/** The workload's capture, generated once and cached under bench/out by its parameters. */
async function prepareCapture(w: Workload, args: Args): Promise<{ capture: string; stats: TrafficStats }> {
  const capture =
    w === 'pods'
      ? path.join(OUT_DIR, `pods-v${TRAFFIC_VERSION}-p${args.packets}-s${args.seed}.pcap`)
      : path.join(OUT_DIR, `short-v${SHORT_TRAFFIC_VERSION}-n${args.sessions}-s${args.seed}.pcap`);
  const statsFile = `${capture}.json`;
  let stats: TrafficStats;
  if (fs.existsSync(capture) && fs.existsSync(statsFile)) {
    stats = JSON.parse(fs.readFileSync(statsFile, 'utf8')) as TrafficStats;
    console.log(`capture (cached): ${capture}`);
  } else {
    const t0 = process.hrtime.bigint();
    console.log(w === 'pods' ? `generating ${args.packets} packets into ${capture} ...` : `generating ${args.sessions} sessions into ${capture} ...`);
    stats =
      w === 'pods'
        ? await generateTraffic(capture, { packets: args.packets, seed: args.seed })
        : await generateShortTraffic(capture, { sessions: args.sessions, seed: args.seed });
    const sec = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(
      `  generated in ${sec.toFixed(1)} s (${Math.round(stats.packets / sec)} packets/s, peak RSS of this process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB)`,
    );
    fs.writeFileSync(statsFile, `${JSON.stringify(stats, null, 1)}\n`);
  }
  console.log(
    `  ${stats.packets} packets, ${(stats.bytes / 1e6).toFixed(1)} MB, ~${stats.conversations} ${w === 'pods' ? 'connections' : 'sessions'}, ` +
      `${((100 * stats.vxlanPackets) / stats.packets).toFixed(1)}% of packets inside VXLAN, ${stats.seconds.toFixed(1)} s of traffic`,
  );
  return { capture, stats };
}

async function runWorkload(w: Workload, args: Args, tmp: string): Promise<WorkloadResult> {
  console.log(`\n== workload ${w}`);
  const { capture, stats } = await prepareCapture(w, args);
  // Read the file once so that no tool pays for the first read from disk (page cache warm-up).
  for await (const chunk of fs.createReadStream(capture, { highWaterMark: 4 << 20 })) void chunk;

  const specs: ToolSpec[] = [{ tool: 'eastwatch', cmd: analyzeCmd(capture, tmp, args.reader) }];
  const other = args.reader === 'pcap-parser' ? 'native' : 'pcap-parser';
  const readerTool = `eastwatch --reader ${other}`;
  const threadsTool = `eastwatch --threads ${args.threads} (all CPUs)`;
  const threadsAnalyzersTool = `eastwatch --threads ${args.threads} with protocol analyzers (all CPUs)`;
  const oneThreadTool = 'eastwatch one thread (all CPUs)';
  const oneThreadAnalyzersTool = 'eastwatch one thread with protocol analyzers (all CPUs)';
  if (args.compareReaders) specs.push({ tool: readerTool, cmd: analyzeCmd(capture, tmp, other) });
  if (args.analyzers) specs.push({ tool: ANALYZERS_TOOL, cmd: analyzeCmd(capture, tmp, args.reader).filter((a) => a !== '--no-analyzers') });
  if (args.analyzers)
    specs.push({ tool: DEFAULT_TOOL, cmd: analyzeCmd(capture, tmp, args.reader).filter((a) => a !== '--no-analyzers' && a !== '--no-detectors') });
  if (args.threads > 0) {
    specs.push({ tool: oneThreadTool, cmd: analyzeCmd(capture, tmp, args.reader), pinned: false });
    specs.push({ tool: threadsTool, cmd: analyzeCmd(capture, tmp, args.reader, args.threads), pinned: false });
  }
  if (args.threads > 0 && args.analyzers) {
    specs.push({ tool: oneThreadAnalyzersTool, cmd: analyzeCmd(capture, tmp, args.reader).filter((a) => a !== '--no-analyzers'), pinned: false });
    specs.push({ tool: threadsAnalyzersTool, cmd: analyzeCmd(capture, tmp, args.reader, args.threads).filter((a) => a !== '--no-analyzers'), pinned: false });
  }
  const baselineTool = args.baseline ? baselineLabel(args.baseline) : '';
  if (args.baseline) specs.push({ tool: baselineTool, cmd: baselineCmd(args.baseline, capture, tmp) });
  const skipped: ToolResult[] = [];
  if (args.peers) {
    for (const p of PEERS) {
      const bin = which(p.binary);
      if (bin) specs.push({ tool: p.name, cmd: [bin, ...p.args(capture, tmp)] });
      else skipped.push({ tool: p.name, command: '', runs: 0, ok: false, skipped: `${p.binary} not installed` });
    }
  } else {
    for (const p of PEERS) skipped.push({ tool: p.name, command: '', runs: 0, ok: false, skipped: '--no-peers' });
  }

  const results = [...(await runRounds(specs, args, stats.packets, tmp)), ...skipped];
  const east = results[0];
  const out: WorkloadResult = { workload: w, capture: { file: path.relative(REPO, capture), ...stats }, results };
  for (const r of results.slice(1)) {
    if (!r.ok || !east.ok) continue;
    if (r.tool === ANALYZERS_TOOL) out.analyzersCost = r.medianWallSec! / east.medianWallSec!;
    else if (r.tool === DEFAULT_TOOL) {
      const tshark = results.find((x) => x.tool === 'tshark');
      if (tshark?.ok) out.defaultVsTshark = tshark.medianWallSec! / r.medianWallSec!;
    } else if (r.tool === readerTool) out.readerRatio = east.packetsPerSec! / r.packetsPerSec!;
    else if (r.tool === threadsTool) {
      const one = results.find((x) => x.tool === oneThreadTool);
      if (one?.ok) out.threadsSpeedup = r.packetsPerSec! / one.packetsPerSec!;
    } else if (r.tool === threadsAnalyzersTool) {
      const one = results.find((x) => x.tool === oneThreadAnalyzersTool);
      if (one?.ok) out.threadsAnalyzersSpeedup = r.packetsPerSec! / one.packetsPerSec!;
    } else if (r.tool === oneThreadTool) out.threadsCeiling = ceiling(r);
    else if (r.tool === oneThreadAnalyzersTool) out.threadsAnalyzersCeiling = ceiling(r);
    else if (r.tool === baselineTool) {
      out.baselineRatio = east.packetsPerSec! / r.packetsPerSec!;
      if (east.medianCpuSec && r.medianCpuSec) out.baselineCpuRatio = r.medianCpuSec / east.medianCpuSec;
    } else r.eastwatchSpeedRatio = east.packetsPerSec! / r.packetsPerSec!;
  }

  const table = new Table({
    style: { head: [], border: [] },
    head: ['tool', 'median wall s', 'median CPU s', 'packets/s', 'median peak RSS MB', 'eastwatch speed / tool', 'note'],
  });
  for (const r of results) {
    table.push([
      r.tool,
      r.medianWallSec?.toFixed(2) ?? '-',
      r.medianCpuSec?.toFixed(2) ?? '-',
      r.packetsPerSec ? Math.round(r.packetsPerSec).toLocaleString('en-US') : '-',
      r.medianPeakRssMb?.toFixed(0) ?? '-',
      r.eastwatchSpeedRatio?.toFixed(2) ?? '-',
      r.skipped ? `skipped: ${r.skipped}` : r.error ? `failed: ${r.error.slice(0, 60)}` : `${r.runs} runs`,
    ]);
  }
  console.log(`workload ${w}:`);
  console.log(table.toString());
  if (out.readerRatio !== undefined) console.log(`reader ratio (${args.reader ?? 'native'} / other): ${out.readerRatio.toFixed(2)}`);
  if (out.analyzersCost !== undefined) console.log(`protocol analyzers cost: ${out.analyzersCost.toFixed(2)}x the time of connection-only analysis`);
  if (out.defaultVsTshark !== undefined) console.log(`default run (analyzers and detectors): ${out.defaultVsTshark.toFixed(2)}x tshark's speed (medians)`);
  if (out.threadsSpeedup !== undefined)
    console.log(`--threads ${args.threads}: ${out.threadsSpeedup.toFixed(2)}x the speed of one thread, both on all CPUs (medians)`);
  if (out.threadsAnalyzersSpeedup !== undefined)
    console.log(
      `--threads ${args.threads} with protocol analyzers: ${out.threadsAnalyzersSpeedup.toFixed(2)}x the speed of one thread with them, both on all CPUs (medians)`,
    );
  for (const [tool, c] of [
    [oneThreadTool, out.threadsCeiling],
    [oneThreadAnalyzersTool, out.threadsAnalyzersCeiling],
  ] as const) {
    if (c === undefined) continue;
    const r = results.find((x) => x.tool === tool) as ToolResult;
    console.log(
      `${tool} keeps ${(r.medianCpuSec! / r.medianWallSec!).toFixed(2)} of ${os.cpus().length} CPUs busy (CPU seconds over wall time): ` +
        `threads sharing out the same work can reach at most ${c.toFixed(2)}x its speed here`,
    );
  }
  if (out.baselineRatio !== undefined) {
    const cpu = out.baselineCpuRatio !== undefined ? `; by CPU seconds ${out.baselineCpuRatio.toFixed(3)}x` : '';
    console.log(`this build / ${baselineTool}: ${out.baselineRatio.toFixed(3)}x the speed by wall time${cpu} (medians, connection records only)`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-bench-'));
  console.log(`pinning: ${TASKSET ? 'taskset -c 1' : 'none (taskset not found)'}; memory: ${GNU_TIME ? '/usr/bin/time %M' : '/proc VmHWM polling'}`);
  console.log(
    `load average at start: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (${os.cpus().length} CPUs)`,
  );

  // softflowd sends NetFlow datagrams: give them a listener so nothing bounces.
  const sink = dgram.createSocket('udp4');
  sink.on('message', () => undefined);
  await new Promise<void>((resolve) => {
    sink.once('error', () => resolve());
    sink.bind(SOFTFLOWD_COLLECTOR.port, SOFTFLOWD_COLLECTOR.host, () => resolve());
  });
  const workloads: WorkloadResult[] = [];
  const t0 = Date.now();
  try {
    if (args.parts.includes('file')) for (const w of args.workloads) workloads.push(await runWorkload(w, args, tmp));
  } finally {
    sink.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(
    `load average at end: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );

  let live: LiveResult | { skipped: string } | undefined;
  if (args.parts.includes('live')) {
    const why = cannotRunLive();
    if (why !== null) {
      live = { skipped: why };
      console.log(`live capture part skipped: ${why} (npm run bench -- --parts file runs without it)`);
    } else {
      // The file part's capture (cached above) unless --live-packets names another size.
      const liveArgs = parseLiveArgs(
        args.live.includes('--packets') ? args.live : ['--packets', String(args.packets), '--seed', String(args.seed), ...args.live],
      );
      console.log(
        `\nlive capture: ${liveArgs.rates.map((r) => (r === 0 ? 'top speed' : `${r} pps`)).join(', ')}, ${liveArgs.seconds} s each, ${liveArgs.runs} runs`,
      );
      live = await runLiveBench(liveArgs);
    }
  }
  console.log(`bench took ${Math.round((Date.now() - t0) / 1000)} s`);

  const out = {
    generatedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', node: process.version, pinned: Boolean(TASKSET), loadAvg: os.loadavg() },
    runs: args.runs,
    reader: args.reader ?? 'native',
    workloads,
    live,
  };
  fs.writeFileSync(path.join(OUT_DIR, 'results.json'), `${JSON.stringify(out, null, 1)}\n`);
  console.log(`results: ${path.relative(process.cwd(), path.join(OUT_DIR, 'results.json'))}`);
  if (workloads.some((w) => !w.results[0].ok)) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 2;
});
