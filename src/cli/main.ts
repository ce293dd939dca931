/**
 * The eastwatch command line. Exit codes: 0 ok, 1 input unreadable or corrupt, 2 usage.
 */
import * as v8 from 'node:v8';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type AnalyzeCliOptions, EXIT_USAGE, addDetectorOptions, runAnalyze } from './analyze';
import { addSearchCommand, addStoreOptions } from '../store/cli';
import type { SuggestCliOptions } from '../k8s/suggest-cli';
import { clusterOption } from '../k8s/cluster';
import { addServiceCommands } from './service';
import { addCaptureCommand } from './capture';
import { addPcapCommand } from './pcap';
import type { ServiceConfig } from '../service/config';
import { COLLECT_FORMATS, type CollectFormat } from '../collect/formats';
import { OUTPUT_FORMATS } from '../output/formats';
import { ANALYZER_NAMES } from '../../parsers/protocols/mux';

function positiveInt(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

/** Repeatable option: every occurrence appended. */
function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

function portList(v: string): number[] {
  return v.split(',').map((p) => positiveInt('port', 1, 65535)(p.trim()));
}

const CIDR = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)\/\d{1,3}$/;

function cidrList(v: string): string[] {
  const nets = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of nets) if (!CIDR.test(n)) throw new InvalidArgumentError(`"${n}" is not a CIDR such as 10.0.0.0/8 or fc00::/7`);
  return nets;
}

function analyzerList(v: string): string[] {
  const names = v
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError('name at least one analyzer (or use --no-analyzers)');
  for (const n of names) {
    if (!ANALYZER_NAMES.includes(n)) throw new InvalidArgumentError(`unknown analyzer "${n}"; known: ${ANALYZER_NAMES.join(',')}`);
  }
  return names;
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('eastwatch')
    .description('East-west traffic analyser for container networks: captures and flow logs into Zeek-grade connection records.')
    .version(require('../../../package.json').version as string)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('analyze')
    .description('Analyse packet captures (pcap, pcapng, optionally gzip-compressed) into connection records')
    .argument('<file...>', 'capture files')
    .addOption(new Option('-f, --format <format>', 'output format').choices(OUTPUT_FORMATS as string[]).default('table'))
    .option('-o, --out <path>', 'write records to this file instead of standard output')
    .addOption(new Option('--reader <kind>', 'classic pcap reader').choices(['native', 'pcap-parser']).default('native'))
    .option(
      '--local-nets <cidrs>',
      'comma-separated local networks for local_orig/local_resp (default: Zeek Site::private_address_space: RFC 1918, RFC 6598, loopback, link-local, fc00::/7 and the other non-routable IANA blocks)',
      cidrList,
    )
    .option(
      '--max-connections <n>',
      'live connection table cap; the oldest idle are flushed early beyond it (default 1000000)',
      positiveInt('--max-connections'),
    )
    .option(
      '--interim <seconds>',
      'emit interim records for connections open longer than this, every interval; 0 disables (default 3600)',
      positiveInt('--interim', 0),
    )
    .option('--tcp-timeout <seconds>', 'TCP inactivity timeout (default 300)', positiveInt('--tcp-timeout'))
    .option('--udp-timeout <seconds>', 'UDP inactivity timeout (default 60)', positiveInt('--udp-timeout'))
    .option('--icmp-timeout <seconds>', 'ICMP inactivity timeout (default 60)', positiveInt('--icmp-timeout'))
    .option('--max-tunnel-depth <n>', 'decapsulation depth limit, outer flow included (default 4)', positiveInt('--max-tunnel-depth', 1, 16))
    .option('--vxlan-ports <ports>', 'UDP ports decoded as VXLAN (default 4789,8472)', portList)
    .option('--geneve-ports <ports>', 'UDP ports decoded as Geneve (default 6081)', portList)
    .option(
      '--verify-checksums',
      'as Zeek without -C: drop packets whose IPv4 header checksum is wrong, and those whose TCP/UDP checksum is wrong after a C/c in the history (default: keep them: offloaded checksums are common in pod captures)',
    )
    .option('--key-vlan', "VLAN and inner VLAN join the 5-tuple in the connection key (Zeek's conn_key/vlan_fivetuple; default: the 5-tuple alone, as Zeek)")
    .option('--key-tunnel', 'the tunnel (kind and VNI / GRE key) a packet arrived in joins the connection key, for overlays that reuse addresses')
    .option(
      '--analyzers <names>',
      `run only these protocol analyzers, as Zeek in bare mode runs those whose scripts it loaded (default all: ${ANALYZER_NAMES.join(',')})`,
      analyzerList,
    )
    .option(
      '--analyze-partial',
      "also run the HTTP and TLS analyzers on TCP connections seen without their SYN (a capture started after they opened). Zeek does not, so by default their http/ssl records and service are left out, as in Zeek's logs",
    )
    .option('--no-analyzers', 'connection records only: no protocol analysis of the payload (no dns/http/tls records, no payload-based service)')
    .option(
      '--threads <n>',
      'worker threads for connection tracking and protocol analysis, packets shared out by connection; output identical to one thread (default 1: all in this thread; standard input always uses one)',
      positiveInt('--threads', 1, 256),
    )
    .option('--no-summary', 'do not print the summary')
    .option('--no-progress', 'do not show a progress bar')
    .option(
      '--inventory <file>',
      'Kubernetes inventory (kubectl get pods,services,endpointslices,nodes -A -o json; repeatable): adds the identity of both ends',
      collect,
    )
    .option('--policies <file>', "NetworkPolicy objects (JSON or YAML; repeatable) evaluated with the inventory's (same namespace/name: replaced)", collect)
    .option(
      '--cluster <name>',
      'the cluster the captures were taken in and --inventory describes: stored on every record with --store (orchestrator.cluster.name, query cluster:NAME)',
      clusterOption,
    )
    .action(async (files: string[], o: AnalyzeCliOptions) => {
      process.exitCode = await runAnalyze(files, o);
    });

  program
    .command('collect')
    .description('Collect NetFlow v5/v9 and IPFIX flows over UDP as connection records, until SIGINT/SIGTERM')
    .requiredOption('--netflow <host:port>', 'UDP address to listen on: 127.0.0.1:2055, [::1]:4739, or :2055 for all IPv4 interfaces')
    .addOption(new Option('-f, --format <format>', 'output format').choices(COLLECT_FORMATS as string[]).default('ndjson'))
    .option('-o, --out <path>', 'write records to this file instead of standard output')
    .option('--local-nets <cidrs>', 'comma-separated local networks for local_orig/local_resp (default as analyze)', cidrList)
    .option('--batch-max <n>', 'records per batch written (default 1000)', positiveInt('--batch-max'))
    .option('--batch-ms <ms>', 'longest a record waits for its batch, ms (default 1000)', positiveInt('--batch-ms', 0))
    .option('--enqueue', "send batches to the service's flows queue on REDIS_URL (workers store them, with identity and detectors) instead of writing them out")
    .option('-c, --config <file>', 'service configuration file, with --enqueue')
    .option(
      '--cluster <name>',
      "with --enqueue: the cluster the exporters are in; records carry it (orchestrator.cluster.name) and resolve against that cluster's inventory only (default: the configuration's collect.cluster, else default)",
      clusterOption,
    )
    .action(
      async (o: {
        netflow: string;
        format: CollectFormat;
        out?: string;
        localNets?: string[];
        batchMax?: number;
        batchMs?: number;
        enqueue?: boolean;
        config?: string;
        cluster?: string;
      }) => {
        if (o.enqueue) {
          const { ConfigError, loadConfig } = await import('../service/config');
          let cfg: ServiceConfig;
          try {
            cfg = loadConfig({ file: o.config });
          } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            process.stderr.write(`eastwatch: ${e.message}\n`);
            process.exitCode = EXIT_USAGE;
            return;
          }
          // The queue (Bull, Redis) loads only here, not for every command.
          const { runCollectToQueue } = await import('../service/collect');
          process.exitCode = await runCollectToQueue(o.netflow, cfg, { batchMax: o.batchMax, batchMs: o.batchMs, cluster: o.cluster });
          return;
        }
        process.exitCode = await (await import('../collect/netflow')).runCollect(o);
      },
    );

  program
    .command('policy')
    .description('Kubernetes NetworkPolicy tools')
    .command('what-if')
    .description('Which connections in the captures would a proposed set of NetworkPolicies deny? Grouped by edge')
    .argument('<capture...>', 'capture files')
    .requiredOption('--policies <file>', 'proposed NetworkPolicy objects (JSON or YAML; repeatable)', collect)
    .requiredOption('--inventory <file>', 'Kubernetes inventory (repeatable)', collect)
    .option('--local-nets <cidrs>', 'comma-separated local networks (internal vs external)', cidrList)
    .option('--replace', "evaluate the proposed policies alone (default: apply them on top of the inventory's, same-named ones replaced)")
    .option('--json', 'write the report as JSON')
    .option('-o, --out <path>', 'write the report to this file instead of standard output')
    .action(async (files: string[], o: { policies: string[]; inventory: string[]; localNets?: string[]; replace?: boolean; json?: boolean; out?: string }) => {
      process.exitCode = await (await import('../k8s/cli')).runWhatIf(files, o);
    });
  (program.commands.find((c) => c.name() === 'policy') as Command)
    .command('suggest')
    .description(
      'Least-privilege NetworkPolicies (per namespace and workload) from the traffic in the captures, as YAML for kubectl apply, verified by what-if',
    )
    .argument('<capture...>', 'capture files')
    .requiredOption('--inventory <file>', 'Kubernetes inventory (repeatable)', collect)
    .option('--local-nets <cidrs>', 'comma-separated local networks (internal vs external)', cidrList)
    .option('--from <time>', 'window start (epoch seconds or RFC 3339)')
    .option('--to <time>', 'window end, exclusive (epoch seconds or RFC 3339)')
    .option(
      '--alerts <file>',
      'alerts (the ndjson analyze --alerts writes, or GET /api/v1/alerts JSON): connections under an open one are left out (repeatable)',
      collect,
    )
    .option('--external <mode>', 'egress to public addresses: cidr (ipBlocks) or omit (left out, so denied)', 'cidr')
    .option('--external-prefix <bits>', 'widen non-node IPv4 ipBlocks to this prefix length (8-32)', positiveInt('--external-prefix', 8, 32), 32)
    .option('--namespace <ns>', 'write policies for this namespace only (repeatable; default: all observed but kube-system)', collect)
    .option('-o, --out <path>', 'write the YAML to this file instead of standard output')
    .option('--report <path>', 'write the full report (policies, left-out edges, verification) as JSON')
    .action(async (files: string[], o: SuggestCliOptions) => {
      process.exitCode = await (await import('../k8s/suggest-cli')).runSuggest(files, o);
    });
  // The store (src/store/cli.ts): `analyze --store [--data-dir]` and `search`.
  addStoreOptions(program.commands.find((c) => c.name() === 'analyze') as Command);
  addDetectorOptions(program.commands.find((c) => c.name() === 'analyze') as Command);
  addSearchCommand(program);
  addCaptureCommand(program, cidrList);
  addPcapCommand(program);
  addServiceCommands(program, async () => (await import('../service/jobs/detect')).serviceAlerts);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // The live connection table is large and long-lived; V8's default of growing the old generation
  // up to 4x between collections let peak RSS climb to 755 MB on the 10M-packet benchmark capture.
  // Growing by half keeps it near the live set, and was faster there too (measured: npm run bench).
  v8.setFlagsFromString('--heap-growing-percent=50');
  // The young generation's size during `analyze` is set as it runs (young-generation.ts).
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version exit 0; everything else commander rejects is a usage error.
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_USAGE;
      return;
    }
    process.stderr.write(`eastwatch: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 70;
  }
}

if (require.main === module) void main(process.argv);
