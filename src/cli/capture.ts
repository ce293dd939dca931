/**
 * `eastwatch capture --interface IF [--filter BPF]`: live analysis of an interface. tcpdump
 * (src/capture/tcpdump.ts) captures; its pcap stream goes through the pipeline `analyze` runs
 * (decoder, tracker, protocol analyzers, Kubernetes identity, detectors), with the wall clock
 * ending idle connections, so each record is written as its connection ends. SIGINT/SIGTERM stop
 * tcpdump, which flushes what it holds; the open connections are then written, then the
 * counters: packets seen, dropped by the kernel (tcpdump's statistics), records written, and
 * with --to the records shipped to the service and the spool's size.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { analyzeStream, type AnalyzeResult } from '../analyze/pipeline';
import { analyzerFactory } from '../analyze/app';
import type { MetricsServer } from '../capture/agent-http';
import type { PacketRing } from '../capture/ring';
import type { Shipper, ShipperStats } from '../capture/shipper';
import type { TcpdumpExit, TcpdumpProcess, TcpdumpStats } from '../capture/tcpdump';
import { clusterOption } from '../k8s/cluster';
import type { K8sResolver } from '../k8s/resolver';
import { appLogsBeside, ZEEK_PATH } from '../output/app-formats';
import { createWriter, OUTPUT_FORMATS, type OutputFormat } from '../output/formats';
import { TextSink } from '../output/sink';
import { SummaryCollector } from '../output/summary';
import { CaptureError } from '../../parsers/capture/types';
import type { TrackerOptions } from '../../parsers/conntrack/tracker';
import type { AppRecordOut } from '../../parsers/record/app';
import type { ConnRecord } from '../../parsers/record/conn';
import type { DetectorEngine } from '../../detectors/engine';
import { addDetectorOptions, buildAlertEngine, type DetectorCliOptions } from './detectors';
import { EXIT_INPUT, EXIT_OK, EXIT_USAGE, finishAlerts } from './analyze';

export interface CaptureCliOptions extends DetectorCliOptions {
  interface: string;
  filter?: string;
  tcpdump?: string;
  snaplen?: number;
  /** Kernel capture buffer in MiB (tcpdump -B). */
  bufferSize?: number;
  format: OutputFormat;
  out?: string;
  localNets?: string[];
  maxConnections?: number;
  interim?: number;
  tcpTimeout?: number;
  udpTimeout?: number;
  icmpTimeout?: number;
  analyzers?: boolean;
  analyzePartial?: boolean;
  inventory?: string[];
  policies?: string[];
  /** The service to ship records to (src/capture/shipper.ts), its API key, the spool, the source name. */
  to?: string;
  key?: string;
  spool?: string;
  source?: string;
  /** The cluster this host captures in: sent with --to so the service resolves against that inventory. */
  cluster?: string;
  /** This agent's name in the service's agents registry: the service fetches shipped connections' pcaps from its ring. */
  agentName?: string;
  /** Seconds between counter lines on stderr; 0 (default) prints them only at the end. */
  stats?: number;
  /** Serve the counters as Prometheus /metrics on this port (bearer token from the file or $EASTWATCH_METRICS_TOKEN). */
  metricsPort?: number;
  metricsHost?: string;
  metricsTokenFile?: string;
  summary: boolean;
  /** The packet ring (src/capture/ring.ts): its directory, total bytes, segment bytes, age bound in seconds. */
  ring?: string;
  ringSize?: number;
  ringSegment?: number;
  ringAge?: number;
}

/** Counters of one capture run, as printed at the end and every --stats seconds. */
export interface CaptureCounters {
  packetsSeen: number;
  recordsWritten: number;
  liveConnections: number;
  kernel: TcpdumpStats | null;
  shipper: ShipperStats | null;
}

export function formatCounters(c: CaptureCounters): string {
  const k = c.kernel;
  const kernel = k
    ? `, tcpdump captured ${k.captured}, received by filter ${k.receivedByFilter}, dropped by kernel ${k.droppedByKernel}` +
      (k.droppedByInterface !== null ? `, dropped by interface ${k.droppedByInterface}` : '')
    : '';
  const s = c.shipper;
  const shipped = s ? `, records shipped ${s.shipped}, spool ${s.spoolBytes} bytes${s.lastError ? ` (${s.lastError})` : ''}` : '';
  return `packets seen ${c.packetsSeen}, records written ${c.recordsWritten}, open connections ${c.liveConnections}${kernel}${shipped}`;
}

/**
 * Packets reach us through tcpdump's buffer and a pipe: the tracker's clock trails the wall clock
 * by this much so that no packet arrives older than the clock (which would end connections early).
 */
const CLOCK_SLACK_SEC = 2;
const CLOCK_TICK_MS = 500;
/** After SIGINT/SIGTERM, how long tcpdump gets to flush and exit before it is killed. */
const STOP_GRACE_MS = 5000;
/** At the end, how long the records still spooled get to reach the service before the agent exits. */
const SHIP_DRAIN_MS = 10_000;
const DEFAULT_SPOOL = './eastwatch-spool';
/**
 * The kernel buffer between the interface and tcpdump. tcpdump's own default (2 MiB) fills in a
 * fraction of a second when the pipeline pauses (a garbage collection, a busy core) at a few
 * thousand packets/s, and the kernel drops what does not fit (bench/live.ts shows it).
 */
const DEFAULT_BUFFER_MIB = 32;
const DEFAULT_RING_BYTES = 1024 * 1024 * 1024;

export async function runCapture(o: CaptureCliOptions): Promise<number> {
  // Packets a host sends are captured before the NIC fills their checksums in (offload): never verify them live.
  const tracker: Partial<TrackerOptions> = { verifyChecksums: false };
  if (o.localNets) tracker.localNets = o.localNets;
  if (o.maxConnections !== undefined) tracker.maxConnections = o.maxConnections;
  if (o.interim !== undefined) tracker.interimIntervalSec = o.interim;
  if (o.tcpTimeout !== undefined) tracker.tcpInactivitySec = o.tcpTimeout;
  if (o.udpTimeout !== undefined) tracker.udpInactivitySec = o.udpTimeout;
  if (o.icmpTimeout !== undefined) tracker.icmpInactivitySec = o.icmpTimeout;
  // Loaded when a capture runs: the agent's server, ring, shipper and tcpdump are no cost of the other commands.
  const [agent, rings, shipping, tcpdump, k8s] = await Promise.all([
    import('../capture/agent-http'),
    import('../capture/ring'),
    import('../capture/shipper'),
    import('../capture/tcpdump'),
    import('../k8s/cli'),
  ]);

  let resolver: K8sResolver | null;
  let engine: DetectorEngine | null;
  try {
    resolver = k8s.buildResolver({ inventory: o.inventory, policies: o.policies, localNets: o.localNets });
    engine = await buildAlertEngine(o, resolver);
  } catch (e) {
    const msg = k8s.k8sLoadError(e) ?? (e as Error).message;
    process.stderr.write(`eastwatch: ${msg}\n`);
    return EXIT_INPUT;
  }

  let token: string | null = null;
  if (o.metricsPort !== undefined) {
    try {
      token = agent.metricsToken(o.metricsTokenFile, process.env.EASTWATCH_METRICS_TOKEN, (f) => fs.readFileSync(f, 'utf8'));
    } catch (e) {
      process.stderr.write(`eastwatch: cannot read --metrics-token-file ${o.metricsTokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return EXIT_USAGE;
    }
    if (token === null || token.length < agent.MIN_TOKEN_LENGTH) {
      process.stderr.write(
        `eastwatch: --metrics-port needs a bearer token of at least ${agent.MIN_TOKEN_LENGTH} characters: --metrics-token-file FILE or $EASTWATCH_METRICS_TOKEN\n`,
      );
      return EXIT_USAGE;
    }
  }

  if (o.agentName !== undefined) {
    if (!shipping.AGENT_NAME.test(o.agentName)) {
      process.stderr.write(`eastwatch: --agent-name ${JSON.stringify(o.agentName)}: letters, digits, . _ - (at most 63, starting with a letter or digit)\n`);
      return EXIT_USAGE;
    }
    // The name is only worth sending when the service can fetch the packets: shipped, ringed and served.
    const missing = [o.to === undefined ? '--to' : null, o.ring === undefined ? '--ring' : null, o.metricsPort === undefined ? '--metrics-port' : null].filter(
      (x) => x !== null,
    );
    if (missing.length > 0) {
      process.stderr.write(`eastwatch: --agent-name lets the service fetch pcaps from this agent's ring: it needs ${missing.join(', ')}\n`);
      return EXIT_USAGE;
    }
  }

  let shipper: Shipper | null = null;
  if (o.to !== undefined) {
    const key = o.key ?? process.env.EASTWATCH_KEY;
    if (key === undefined || key === '') {
      process.stderr.write('eastwatch: --to needs an API key with the ingest role: --key KEY or $EASTWATCH_KEY\n');
      return EXIT_USAGE;
    }
    try {
      shipper = new shipping.Shipper({
        url: o.to,
        key,
        spoolDir: o.spool ?? DEFAULT_SPOOL,
        source: o.source ?? `${os.hostname()}:${o.interface}`,
        cluster: o.cluster,
        agent: o.agentName,
        log: (m) => process.stderr.write(`eastwatch: ${m}\n`),
      });
      shipper.open();
    } catch (e) {
      process.stderr.write(`eastwatch: cannot ship to ${o.to}: ${(e as Error).message}\n`);
      return EXIT_USAGE;
    }
  }

  let ring: PacketRing | null = null;
  if (o.ring !== undefined) {
    const maxBytes = o.ringSize ?? DEFAULT_RING_BYTES;
    try {
      ring = new rings.PacketRing({ dir: o.ring, maxBytes, segmentBytes: o.ringSegment ?? rings.defaultSegmentBytes(maxBytes), maxAgeSec: o.ringAge });
    } catch (e) {
      await shipper?.close(0);
      process.stderr.write(`eastwatch: --ring ${o.ring}: ${(e as Error).message}\n`);
      return EXIT_USAGE;
    }
  }

  let td: TcpdumpProcess;
  try {
    td = new tcpdump.TcpdumpProcess({
      interface: o.interface,
      filter: o.filter,
      tcpdump: o.tcpdump,
      snaplen: o.snaplen,
      bufferKiB: (o.bufferSize ?? DEFAULT_BUFFER_MIB) * 1024,
    });
  } catch (e) {
    await shipper?.close(0);
    ring?.close();
    if (!(e instanceof tcpdump.CaptureSetupError)) throw e;
    process.stderr.write(`eastwatch: ${e.message}\n`);
    return EXIT_INPUT;
  }

  // SIGINT/SIGTERM: tcpdump writes what it holds and exits, its stream ends, the pipeline flushes
  // the open connections. A second signal, or tcpdump not stopping in time, kills it.
  let signals = 0;
  let grace: NodeJS.Timeout | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`eastwatch: ${sig}: stopping the capture, writing the open connections\n`);
      td.stop();
      grace = setTimeout(() => td.kill(), STOP_GRACE_MS);
      grace.unref();
    } else {
      td.kill();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // No output at all until tcpdump captures: a refused filter or interface is only an error message.
  try {
    process.stderr.write(`eastwatch: capturing on ${await td.ready}\n`);
  } catch (e) {
    const exit = await td.exited;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stderr.write(`eastwatch: ${exit.error ?? (e as Error).message}\n`);
    await shipper?.close(0);
    ring?.close();
    return signals > 0 && exit.error === null ? EXIT_OK : EXIT_INPUT;
  }

  // Shipping to a service, records go to stdout only when asked for with --out.
  const out = o.out ? fs.createWriteStream(o.out) : shipper ? fs.createWriteStream(os.devNull) : process.stdout;
  const sink = new TextSink(out);
  const writer = createWriter(o.format, sink);
  const summary = new SummaryCollector();
  const appCounts = new Map<string, number>();
  const appLogs = appLogsBeside(o.out, o.format);
  const onApp = (r: AppRecordOut): void => {
    appCounts.set(ZEEK_PATH[r.kind], (appCounts.get(ZEEK_PATH[r.kind]) ?? 0) + 1);
    appLogs?.write(r);
    engine?.observeApp(r);
  };
  if (o.analyzers !== false) tracker.payload = analyzerFactory(onApp, o.analyzePartial ? { analyzePartial: true } : {});

  let records = 0;
  let lastStats = Date.now();
  const counters = (res: AnalyzeResult | null): CaptureCounters => ({
    packetsSeen: res?.packets ?? 0,
    recordsWritten: records,
    liveConnections: res?.tracker.live ?? 0,
    kernel: td.stats(),
    shipper: shipper?.stats ?? null,
  });

  let res: AnalyzeResult | null = null;
  // The latest figures the pipeline reported (every clock tick), for /metrics between ticks.
  let lastTick: AnalyzeResult | null = null;
  let metricsServer: MetricsServer | null = null;
  if (o.metricsPort !== undefined && token !== null) {
    // prom-client loads only for an agent that serves metrics (it costs every other command's startup).
    const { AgentMetrics } = await import('../capture/metrics');
    const metrics = new AgentMetrics(
      () => counters(res ?? lastTick),
      () => td.requestStats(),
    );
    try {
      metricsServer = await agent.serveAgent(metrics, o.metricsHost ?? '127.0.0.1', o.metricsPort, token, o.ring);
      process.stderr.write(`eastwatch: metrics on ${metricsServer.url}/metrics\n`);
      if (o.ring !== undefined) process.stderr.write(`eastwatch: connection pcaps on ${metricsServer.url}/connections/UID/pcap\n`);
    } catch (e) {
      td.stop();
      await td.exited;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await shipper?.close(0);
      ring?.close();
      process.stderr.write(`eastwatch: cannot serve metrics on ${o.metricsHost ?? '127.0.0.1'}:${o.metricsPort}: ${(e as Error).message}\n`);
      return EXIT_USAGE;
    }
  }
  let captureError: CaptureError | null = null;
  try {
    res = await analyzeStream(
      td.stdout,
      `tcpdump -i ${o.interface}`,
      (r: ConnRecord) => {
        records++;
        summary.add(r);
        writer.write(r);
        // Shipped records say where they came from (the service's NDJSON ingestion keeps `agent`,
        // parsers/flows/ndjson.ts); the agent's own output stays what `analyze` writes.
        shipper?.add({ ...r, source: 'agent' });
        engine?.observe(r);
      },
      {
        tracker,
        enrich: resolver?.enrich,
        onPacket: ring
          ? (p, uids, n) => {
              try {
                (ring as PacketRing).write(p, uids, n);
              } catch (e) {
                // A full or vanished disk ends the ring, not the analysis.
                process.stderr.write(`eastwatch: the packet ring stopped: ${(e as Error).message}\n`);
                ring = null;
              }
            }
          : undefined,
        // Records go out as their connections end, not when a 256 KiB buffer fills.
        pace: () => {
          sink.flush();
          return sink.congestion();
        },
        liveClock: {
          slackSec: CLOCK_SLACK_SEC,
          everyMs: CLOCK_TICK_MS,
          onTick: (r) => {
            lastTick = r;
            sink.flush();
            try {
              ring?.tick();
            } catch (e) {
              process.stderr.write(`eastwatch: the packet ring stopped: ${(e as Error).message}\n`);
              ring = null;
            }
            if (o.stats && Date.now() - lastStats >= o.stats * 1000) {
              lastStats = Date.now();
              process.stderr.write(`eastwatch: ${formatCounters(counters(r))}\n`);
              // The kernel's figures arrive a moment later; the next line shows them.
              td.requestStats();
            }
          },
        },
      },
    );
  } catch (e) {
    if (!(e instanceof CaptureError)) throw e;
    captureError = e;
  }
  if (res?.error) captureError = res.error;
  // The stream ended: tcpdump exited or is about to (its stdout closes first). Unless we asked it
  // to, that is a failure to report, so it is not asked now, only killed if it lingers.
  // A stream we could not read is our failure: then tcpdump is asked to stop.
  if (captureError !== null) td.stop();
  const lingering = setTimeout(() => td.kill(), STOP_GRACE_MS);
  const exit: TcpdumpExit = await td.exited;
  clearTimeout(lingering);
  if (grace !== null) clearTimeout(grace);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);

  if (ring !== null) {
    ring.close();
    process.stderr.write(
      `eastwatch: packet ring ${o.ring}: ${ring.stats.packetsWritten} packets written, ${ring.stats.segments} segments, ${ring.stats.bytes} bytes kept, ${ring.stats.segmentsDeleted} segments deleted\n`,
    );
  }
  await writer.close();
  await appLogs?.close();
  // What the service does not take within the grace stays in the spool for the next start.
  await shipper?.close(SHIP_DRAIN_MS);
  const alertText = engine ? await finishAlerts(engine, o) : '';
  let code = EXIT_OK;
  if (captureError !== null && signals === 0) {
    process.stderr.write(`eastwatch: ${captureError.message}\n`);
    code = EXIT_INPUT;
  }
  if (exit.error !== null) {
    process.stderr.write(`eastwatch: ${exit.error}\n`);
    code = EXIT_INPUT;
  }
  if (o.summary && res !== null) {
    let text = summary.render([res]);
    if (appCounts.size > 0) {
      const where = appLogs ? ` (written beside ${o.out})` : ' (give --out to write them as logs)';
      text += `application records: ${[...appCounts].map(([k, n]) => `${k} ${n}`).join(', ')}${where}\n`;
    }
    (o.out ? process.stdout : process.stderr).write(text + alertText);
  }
  const final = counters(res);
  final.kernel = exit.stats;
  process.stderr.write(`eastwatch: ${formatCounters(final)}\n`);
  await metricsServer?.close();
  return code;
}

function wholeNumber(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** Bytes, with an optional K/M/G/T suffix (powers of 1024). */
function byteSize(name: string, min: number) {
  return (v: string): number => {
    const m = /^(\d+)([KMGT]i?B?)?$/i.exec(v.trim());
    if (!m) throw new InvalidArgumentError(`${name} must be bytes such as 1073741824 or 1G, got "${v}"`);
    const n = Number(m[1]) * 1024 ** (m[2] ? 'KMGT'.indexOf(m[2][0].toUpperCase()) + 1 : 0);
    if (n < min) throw new InvalidArgumentError(`${name} must be at least ${min} bytes, got ${n}`);
    return n;
  };
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** Adds `capture` to the program; `cidrList` is the CLI's --local-nets parser. */
export function addCaptureCommand(program: Command, cidrList: (v: string) => string[]): void {
  const cmd = program
    .command('capture')
    .description('Analyse live traffic on an interface (tcpdump captures) until SIGINT/SIGTERM; records are written as connections end')
    .requiredOption('-i, --interface <name>', 'interface to capture on (as tcpdump -i takes it)')
    .option('--filter <bpf>', 'BPF filter expression (tcpdump syntax), e.g. "tcp or udp port 53"')
    .option('--tcpdump <path>', 'the tcpdump binary (default: tcpdump on PATH)')
    .option('--buffer-size <MiB>', `kernel capture buffer (tcpdump -B), absorbs bursts (default ${DEFAULT_BUFFER_MIB})`, wholeNumber('--buffer-size', 1, 4096))
    .option('--snaplen <bytes>', "bytes kept per packet (default tcpdump's, 262144)", wholeNumber('--snaplen', 64, 262144))
    .addOption(new Option('-f, --format <format>', 'output format').choices(OUTPUT_FORMATS as string[]).default('table'))
    .option('-o, --out <path>', 'write records to this file instead of standard output')
    .option('--local-nets <cidrs>', 'comma-separated local networks for local_orig/local_resp (default as analyze)', cidrList)
    .option('--max-connections <n>', 'live connection table cap (default 1000000)', wholeNumber('--max-connections', 1, Number.MAX_SAFE_INTEGER))
    .option('--interim <seconds>', 'interim records for long-lived connections every interval; 0 disables (default 3600)', wholeNumber('--interim', 0, 1e9))
    .option('--tcp-timeout <seconds>', 'TCP inactivity timeout (default 300)', wholeNumber('--tcp-timeout', 1, 1e9))
    .option('--udp-timeout <seconds>', 'UDP inactivity timeout (default 60)', wholeNumber('--udp-timeout', 1, 1e9))
    .option('--icmp-timeout <seconds>', 'ICMP inactivity timeout (default 60)', wholeNumber('--icmp-timeout', 1, 1e9))
    .option(
      '--analyze-partial',
      'also run the HTTP and TLS analyzers on TCP connections already open when the capture started (Zeek does not; see analyze --help)',
    )
    .option('--no-analyzers', 'connection records only: no protocol analysis of the payload')
    .option('--inventory <file>', 'Kubernetes inventory (repeatable): adds the identity of both ends', collect)
    .option('--policies <file>', 'NetworkPolicy objects (repeatable) evaluated with the inventory', collect)
    .option('--to <url>', "ship records to the service's flow ingestion (http://host:8080), spooled on disk while it is away")
    .option('--key <key>', 'API key (ingest role) for --to (default $EASTWATCH_KEY)')
    .option('--spool <dir>', `spool directory for --to: records not yet confirmed by the service (default ${DEFAULT_SPOOL})`)
    .option('--source <name>', 'the name this agent ships as (default HOSTNAME:INTERFACE)')
    .option(
      '--cluster <name>',
      "the cluster this host is in, sent with --to: the service names pods from that cluster's inventory (default: default)",
      clusterOption,
    )
    .option(
      '--agent-name <name>',
      "this agent's name in the service's agents registry (with --to, --ring, --metrics-port): the service fetches the pcap of a shipped connection from this agent's ring",
    )
    .option('--metrics-port <port>', 'serve the counters as Prometheus /metrics on this port (needs a bearer token)', wholeNumber('--metrics-port', 0, 65535))
    .option('--metrics-host <address>', 'address /metrics listens on (default 127.0.0.1; 0.0.0.0 for a scraper off the node)')
    .option('--metrics-token-file <file>', 'file holding the bearer token /metrics requires (default $EASTWATCH_METRICS_TOKEN)')
    .option('--ring <dir>', 'keep the packets in a ring of pcap segments here, indexed by connection uid (cut out with eastwatch pcap --ring DIR --uid UID)')
    .option('--ring-size <bytes>', 'total bytes the ring keeps; the oldest segments go beyond it (default 1 GiB)', byteSize('--ring-size', 1024 * 1024))
    .option('--ring-segment <bytes>', 'bytes per ring segment (default an eighth of --ring-size, 1-256 MiB)', byteSize('--ring-segment', 64 * 1024))
    .option('--ring-age <seconds>', 'delete ring segments whose newest packet is older than this (default: size bound only)', wholeNumber('--ring-age', 1, 1e9))
    .option('--stats <seconds>', 'print the counters to stderr every this many seconds (default: only at the end)', wholeNumber('--stats', 1, 86400))
    .option('--no-summary', 'do not print the summary at the end');
  addDetectorOptions(cmd);
  cmd.action(async (o: CaptureCliOptions) => {
    if (o.interface.trim() === '') {
      process.stderr.write('eastwatch: --interface must name an interface\n');
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.exitCode = await runCapture(o);
  });
}
