/**
 * `eastwatch analyze FILE...`: captures in, connection records out, summary on the terminal.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SingleBar } from 'cli-progress';
import { analyzeFile, analyzeStream, type AnalyzeOptions, type AnalyzeResult } from '../analyze/pipeline';
import { CaptureError, type ReaderKind } from '../../parsers/capture/types';
import { createWriter, type OutputFormat } from '../output/formats';
import { TextSink } from '../output/sink';
import { SummaryCollector } from '../output/summary';
import type { TrackerOptions } from '../../parsers/conntrack/tracker';
import type { K8sResolver } from '../k8s/resolver';
import { captureId, clusterApp, clusterConn, DEFAULT_CLUSTER } from '../k8s/cluster';
import { placeByInventory } from '../k8s/placement';
import { analyzerFactory, analyzerSelection } from '../analyze/app';
import { appLogsBeside, ZEEK_PATH } from '../output/app-formats';
import { openStoreOutput, storeErrorMessage, type StoreCliOptions, type StoreOutput } from '../store/cli';
import { buildAlertEngine, renderAlertTable, renderLearning, type DetectorCliOptions } from './detectors';
import type { DetectorEngine } from '../../detectors/engine';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import type { StoreRecord } from '../store/types';
import { youngGenerationCap } from './young-generation';

export interface AnalyzeCliOptions extends StoreCliOptions, DetectorCliOptions {
  format: OutputFormat;
  out?: string;
  reader: ReaderKind;
  localNets?: string[];
  maxConnections?: number;
  interim?: number;
  tcpTimeout?: number;
  udpTimeout?: number;
  icmpTimeout?: number;
  maxTunnelDepth?: number;
  vxlanPorts?: number[];
  genevePorts?: number[];
  verifyChecksums?: boolean;
  /** Connection key beyond the 5-tuple (off by default, as Zeek). */
  keyVlan?: boolean;
  keyTunnel?: boolean;
  summary: boolean;
  progress: boolean;
  /** Kubernetes inventories (kubectl get ... -o json) and NetworkPolicy files. */
  inventory?: string[];
  /** The cluster the captures were taken in (and --inventory describes): stored on every record (orchestrator.cluster.name). */
  cluster?: string;
  policies?: string[];
  /**
   * Protocol analyzers on the payload: all by default, these by name (`--analyzers`), none when
   * false (`--no-analyzers`): dns/http/tls records and `service`.
   */
  analyzers?: boolean | string[];
  /** `--analyze-partial`: HTTP and TLS on TCP connections seen without their SYN too. */
  analyzePartial?: boolean;
  /** Worker threads (default 1: analysis in this thread). */
  threads?: number;
}

export { addDetectorOptions } from './detectors';

export const EXIT_OK = 0;
export const EXIT_INPUT = 1;
export const EXIT_USAGE = 2;
/** The file name that means standard input. */
const STDIN = '-';

/** Only show a progress bar where it helps: an interactive terminal and a file big enough to wait for. */
const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;

export async function runAnalyze(files: string[], o: AnalyzeCliOptions): Promise<number> {
  const tracker: Partial<TrackerOptions> = {};
  if (o.localNets) tracker.localNets = o.localNets;
  if (o.maxConnections !== undefined) tracker.maxConnections = o.maxConnections;
  if (o.interim !== undefined) tracker.interimIntervalSec = o.interim;
  if (o.tcpTimeout !== undefined) tracker.tcpInactivitySec = o.tcpTimeout;
  if (o.udpTimeout !== undefined) tracker.udpInactivitySec = o.udpTimeout;
  if (o.icmpTimeout !== undefined) tracker.icmpInactivitySec = o.icmpTimeout;
  tracker.verifyChecksums = o.verifyChecksums === true;
  if (o.keyVlan) tracker.keyVlan = true;
  if (o.keyTunnel) tracker.keyTunnel = true;

  // Unreadable inputs are reported before any output is produced. "-" is standard input, read as it arrives.
  if (files.filter((f) => f === STDIN).length > 1) {
    process.stderr.write('eastwatch: standard input (-) can be read only once\n');
    return EXIT_USAGE;
  }
  for (const f of files) {
    if (f === STDIN) continue;
    try {
      const st = fs.statSync(f);
      if (!st.isFile()) throw new Error('not a regular file');
      fs.accessSync(f, fs.constants.R_OK);
    } catch (e) {
      process.stderr.write(`eastwatch: cannot read ${f}: ${(e as Error).message}\n`);
      return EXIT_INPUT;
    }
  }

  // A missing directory or an unwritable path for --out is a usage error naming the path, found
  // before any work rather than as an unhandled stream error after the capture was read.
  if (o.out) {
    const problem = outputPathProblem(o.out);
    if (problem !== null) {
      process.stderr.write(`eastwatch: cannot write --out ${o.out}: ${problem}\n`);
      return EXIT_USAGE;
    }
  }

  // Loaded with an inventory or policies only (the inventory's schemas, the policy engine): a
  // fixed cost every other run paid.
  let resolver: K8sResolver | null = null;
  if (o.inventory?.length || o.policies?.length) {
    const k8s = await import('../k8s/cli');
    try {
      resolver = k8s.buildResolver({ inventory: o.inventory, policies: o.policies, localNets: o.localNets });
    } catch (e) {
      const msg = k8s.k8sLoadError(e);
      if (msg === null) throw e;
      process.stderr.write(`eastwatch: ${msg}\n`);
      return EXIT_INPUT;
    }
  }

  // Detectors (src/cli/detectors.ts): on by default; configuration and baseline are read before any output.
  let engine: DetectorEngine | null;
  try {
    engine = await buildAlertEngine(o, resolver);
  } catch (e) {
    process.stderr.write(`eastwatch: ${(e as Error).message}\n`);
    return EXIT_INPUT;
  }

  // --store (src/store/cli.ts): records also go to the store; opened first so a dead store fails fast.
  let stored: StoreOutput | null = null;
  if (o.store) {
    try {
      stored = await openStoreOutput(o);
    } catch (e) {
      const msg = storeErrorMessage(e);
      if (msg === null) throw e;
      process.stderr.write(`eastwatch: ${msg}\n`);
      return EXIT_INPUT;
    }
  }

  const out = o.out ? fs.createWriteStream(o.out) : process.stdout;
  const sink = new TextSink(out);
  const writer = createWriter(o.format, sink);
  const summary = new SummaryCollector();

  // Application records go to their own logs beside --out (dns.log, http.log, ssl.log as Zeek
  // names them; dns.ndjson ... for ndjson), so the connection output stays one record type.
  // Without --out they are counted in the summary.
  const appCounts = new Map<string, number>();
  const appLogs = appLogsBeside(o.out, o.format);
  // Stored as an upload to that cluster is (k8s/cluster.ts): the same capture analysed for two
  // clusters is two sets of records. Only the stored copies: the output keeps the packets' uids, as Zeek's.
  const cluster = o.cluster ?? DEFAULT_CLUSTER;
  const onApp = (r: AppRecordOut): void => {
    appCounts.set(ZEEK_PATH[r.kind], (appCounts.get(ZEEK_PATH[r.kind]) ?? 0) + 1);
    appLogs?.write(r);
    // With its connection's cluster and namespaces (resolved as its connection record is), for scoped keys.
    stored?.addApp(placeByInventory(clusterApp(r, cluster), resolver, o.cluster));
    engine?.observeApp(r);
  };
  // One thread unless asked: on this project's 2-core machine the threaded path measured slower
  // than one thread with either hand-off (threads.ts): the extra threads' work (every worker
  // decoding the file, or the ring's copies; records crossing threads; a heap and its collection
  // per thread) costs more CPU than two cores give back, so the machine's cores are not yet the
  // default the issue asks for.
  const threads = o.threads ?? 1;
  // One thread only: starting a worker thread puts V8's flags back as the command line gave them,
  // in this thread too (measured: its new space then grew to 32 MB), so with threads no setting
  // made here holds and every heap has V8's own sizes.
  const young = threads > 1 ? () => {} : youngGenerationCap();
  // The threaded path makes its own per thread from the same selection (analyzeFileThreaded ignores this one).
  const selection = o.analyzers === undefined || o.analyzers === true ? true : o.analyzers;
  if (selection !== false) tracker.payload = analyzerFactory(onApp, analyzerSelection(selection, o.analyzePartial === true));
  const results: AnalyzeResult[] = [];
  let exit = EXIT_OK;

  for (const file of files) {
    const size = file === STDIN ? 0 : fs.statSync(file).size;
    // Loaded only when shown: modules not needed by a run are a fixed cost on every short analysis.
    const bar: SingleBar | null =
      o.progress && process.stderr.isTTY && size >= PROGRESS_MIN_BYTES
        ? new (await import('cli-progress')).SingleBar({
            format: `${file} [{bar}] {percentage}% | {value}/{total} MB | {eta}s left`,
            stream: process.stderr,
            hideCursor: true,
          })
        : null;
    bar?.start(Math.ceil(size / 1e6), 0);
    const aopts: AnalyzeOptions = {
      reader: o.reader,
      tracker,
      maxTunnelDepth: o.maxTunnelDepth,
      vxlanPorts: o.vxlanPorts,
      genevePorts: o.genevePorts,
      onProgress: bar ? (_c, read) => bar.update(Math.floor(read / 1e6)) : undefined,
      // A stream's records go out as its connections end, not when a 256 KiB buffer fills.
      pace: () => {
        young();
        if (file === STDIN) sink.flush();
        return stored?.congestion() ?? sink.congestion();
      },
      enrich: resolver?.enrich,
    };
    let res: AnalyzeResult;
    try {
      // The capture's id as the service gives an upload of these bytes to this cluster (record.capture):
      // re-resolution evaluates the verdicts of a capture's records, and a later upload of the
      // same bytes rewrites these records rather than adding copies. Standard input is hashed only
      // once it has been read, after its records are stored: those carry none.
      const capture = stored && file !== STDIN ? captureId(await fileSha256(file), cluster) : undefined;
      const emit = (r: ConnRecord): void => {
        summary.add(r);
        writer.write(r);
        if (stored) {
          // Stored only: the written output stays the record the analysis made (Zeek's conn.log has no source).
          const s: StoreRecord = { ...clusterConn(r, cluster), source: 'capture' };
          if (capture !== undefined) s.capture = capture;
          if (o.cluster !== undefined) s.cluster = o.cluster;
          stored.add(s);
        }
        engine?.observe(r);
      };
      if (file === STDIN) res = await analyzeStream(process.stdin, STDIN, emit, aopts);
      else if (threads > 1)
        res = await (await import('../analyze/threads')).analyzeFileThreaded(file, emit, {
          ...aopts,
          threads,
          analyzers: selection,
          analyzePartial: o.analyzePartial === true,
          onApp,
        });
      else res = await analyzeFile(file, emit, aopts);
    } catch (e) {
      bar?.stop();
      if (e instanceof CaptureError) {
        process.stderr.write(`eastwatch: ${e.message}\n`);
        exit = EXIT_INPUT;
        continue;
      }
      throw e;
    }
    bar?.update(Math.ceil(size / 1e6));
    bar?.stop();
    results.push(res);
    if (res.error) {
      process.stderr.write(`eastwatch: ${res.error.message}; ${res.packets} packets before it were analysed\n`);
      exit = EXIT_INPUT;
    }
  }
  await writer.close();
  await appLogs?.close();
  if (stored) {
    try {
      process.stderr.write(`eastwatch: ${await stored.close()}\n`);
    } catch (e) {
      const msg = storeErrorMessage(e);
      if (msg === null) throw e;
      process.stderr.write(`eastwatch: storing records failed: ${msg}\n`);
      exit = EXIT_INPUT;
    }
  }
  const alertText = engine ? await finishAlerts(engine, o) : '';
  if (o.summary) {
    let text = summary.render(results);
    if (appCounts.size > 0) {
      const where = appLogs ? ` (written beside ${o.out})` : ' (give --out to write them as logs)';
      text += `application records: ${[...appCounts].map(([k, n]) => `${k} ${n}`).join(', ')}${where}\n`;
    }
    // Keep stdout clean for records when they go there.
    (o.out ? process.stdout : process.stderr).write(text + alertText);
  } else if (alertText !== '' && o.format === 'table') {
    (o.out ? process.stdout : process.stderr).write(alertText);
  }
  return exit;
}

/** Flushes the detectors, writes --alerts and --save-baseline; returns the alerts table (empty without alerts). */
export async function finishAlerts(engine: DetectorEngine, o: DetectorCliOptions): Promise<string> {
  engine.flush();
  const alerts = engine.alerts();
  if (o.alerts) {
    const sink = new TextSink(fs.createWriteStream(o.alerts));
    for (const a of alerts) sink.write(`${JSON.stringify(a)}\n`);
    await sink.end();
  }
  if (o.saveBaseline) fs.writeFileSync(o.saveBaseline, `${JSON.stringify(engine.exportBaseline(), null, 1)}\n`);
  return renderLearning(engine.learningReport()) + (alerts.length > 0 ? renderAlertTable(alerts) : '');
}

/** The SHA-256 of a file's bytes (hex), the service's capture id. */
async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Why `file` cannot be written as an output file, or null when it can. */
export function outputPathProblem(file: string): string | null {
  const dir = path.dirname(path.resolve(file));
  try {
    if (!fs.statSync(dir).isDirectory()) return `${dir} is not a directory`;
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `directory ${dir} does not exist` : `directory ${dir} is not writable (${code ?? 'error'})`;
  }
  try {
    if (fs.statSync(file).isDirectory()) return 'it is a directory';
    fs.accessSync(file, fs.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return `not writable (${code ?? 'error'})`;
  }
  return null;
}
