/**
 * `eastwatch serve`, `eastwatch worker` and `eastwatch keys`: the service's command line.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ServiceConfig } from '../service/config';
import { ROLES, type Role } from '../service/roles';
import type { Runtime } from '../service/runtime';
import type { AlertSink } from '../service/jobs/alerts';

/**
 * The service (express, Bull, Redis, the stores) loads only for `serve` and `worker`: its modules
 * took more CPU than a small capture's analysis, and every other command paid for them.
 */
const loadServe = (): Promise<typeof import('../service/serve')> => import('../service/serve');

const log = (l: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${l}\n`);
};

function port(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new InvalidArgumentError(`a port is 0-65535, got "${v}"`);
  return n;
}

/** The options every service command may give the configuration. */
interface ConfigCliOptions {
  config?: string;
  dataDir?: string;
  host?: string;
  port?: number;
  tlsCert?: string;
  tlsKey?: string;
}

/** Loaded with the configuration (zod and its schemas), as the key store is, by the commands that use them only. */
async function config(o: ConfigCliOptions): Promise<ServiceConfig | null> {
  const { ConfigError, loadConfig } = await import('../service/config');
  try {
    return loadConfig({ file: o.config, overrides: { dataDir: o.dataDir, host: o.host, port: o.port, tlsCert: o.tlsCert, tlsKey: o.tlsKey } });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`eastwatch: ${e.message}\n`);
      process.exitCode = 2;
      return null;
    }
    throw e;
  }
}

function describe(cfg: ServiceConfig): string {
  return `store ${cfg.esUrl ? `Elasticsearch ${cfg.esUrl} (prefix ${cfg.esPrefix})` : `SQLite in ${cfg.dataDir}`}, queue ${cfg.redisUrl ? `Bull on ${cfg.redisUrl.replace(/\/\/[^@/]*@/, '//***@')}` : 'in-process'}`;
}

/** `loadAlerts` gives the detectors' alert sink for a runtime, loaded by `serve` and `worker` only. */
export function addServiceCommands(program: Command, loadAlerts: () => Promise<(rt: Runtime, enabled: boolean) => AlertSink>): void {
  const common = (c: Command): Command =>
    c
      .option('-c, --config <file>', 'JSON configuration file (environment variables override it; see README)')
      .option('--data-dir <dir>', 'data directory: SQLite store, uploads, keys, in-process queue journal (default ./eastwatch-data; $EASTWATCH_DATA_DIR)')
      .option('--no-analyzers', 'connection records only: no protocol analysis of capture payloads')
      .option('--no-detectors', 'store records without running the detectors');

  common(program.command('serve'))
    .description(
      'Run the HTTP API (and, with --with-workers or without Redis, the workers). Without REDIS_URL and ES_URL everything runs in this process on the embedded SQLite store.',
    )
    .option('--host <host>', 'address to listen on (default 127.0.0.1; $EASTWATCH_HOST)')
    .option('-p, --port <port>', 'port (default 8080; $EASTWATCH_PORT)', port)
    .option('--with-workers', 'also run capture and flow workers in this process')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (chain) (with --tls-key; $EASTWATCH_TLS_CERT)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert ($EASTWATCH_TLS_KEY)')
    .action(async (o: ConfigCliOptions & { withWorkers?: boolean; analyzers: boolean; detectors: boolean }) => {
      const cfg = await config(o);
      if (!cfg) return;
      const { serve, stopOnSignals } = await loadServe();
      const alertsFor = await loadAlerts();
      const r = await serve(cfg, { withWorkers: o.withWorkers, alerts: (rt) => alertsFor(rt, o.detectors), analyzers: o.analyzers, log });
      const keys = r.runtime.keys.list().filter((k) => !k.revoked_at).length;
      log(
        `eastwatch ${r.url}: ${describe(cfg)}; ${r.working ? 'running workers' : 'API only (run `eastwatch worker`)'}; ${keys} API key(s)${keys === 0 ? ' - create one: eastwatch keys create --name NAME --role admin' : ''}`,
      );
      stopOnSignals(r, log);
    });

  common(program.command('worker'))
    .description('Run capture and flow workers against REDIS_URL (as many processes and machines as you like)')
    .option('--metrics-port <port>', 'serve Prometheus /metrics (admin key) on this port', port)
    .action(async (o: { config?: string; dataDir?: string; metricsPort?: number; analyzers: boolean; detectors: boolean }) => {
      const cfg = await config(o);
      if (!cfg) return;
      const { work, stopOnSignals } = await loadServe();
      const alertsFor = await loadAlerts();
      const r = await work(cfg, { alerts: (rt) => alertsFor(rt, o.detectors), analyzers: o.analyzers, metricsPort: o.metricsPort, log }).catch((e: Error) => {
        process.stderr.write(`eastwatch: ${e.message}\n`);
        process.exitCode = 2;
        return null;
      });
      if (!r) return;
      log(`eastwatch worker ${process.pid}: ${describe(cfg)}${r.url ? `; metrics on ${r.url}/metrics` : ''}`);
      stopOnSignals(r, log);
    });

  const keys = program.command('keys').description('API keys (kept hashed in the data directory)');
  const dir = (c: Command): Command =>
    c.option('--data-dir <dir>', 'data directory (default ./eastwatch-data; $EASTWATCH_DATA_DIR)').option('-c, --config <file>', 'JSON configuration file');
  dir(keys.command('create'))
    .description('Create a key and print it (the only time it is shown)')
    .requiredOption('--name <name>', 'who or what uses it')
    .addOption(
      new Option(
        '--role <role>',
        'ingest: upload captures, flows, inventory; analyst: search, triage, upload captures; admin: everything, metrics, queue dashboard',
      )
        .choices([...ROLES])
        .makeOptionMandatory(),
    )
    .option(
      '--namespaces <list>',
      'comma-separated Kubernetes namespaces (or cluster/namespace): the key sees only connections, alerts, edges and pcaps with an end in them (not for admin keys)',
    )
    .option(
      '--clusters <list>',
      'comma-separated cluster names: the key sees only records of those clusters (with --namespaces: only those namespaces in them); not for admin keys',
    )
    .action(async (o: { name: string; role: Role; namespaces?: string; clusters?: string; dataDir?: string; config?: string }) => {
      const cfg = await config(o);
      if (!cfg) return;
      const { describeScope, KeyScopeError, KeyStore } = await import('../service/keys');
      const list = (v: string | undefined): string[] | undefined =>
        v
          ?.split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
      const namespaces = list(o.namespaces);
      const clusters = list(o.clusters);
      for (const [opt, v] of [
        ['--namespaces', namespaces],
        ['--clusters', clusters],
      ] as const) {
        if (v !== undefined && v.length === 0) {
          process.stderr.write(`eastwatch: ${opt} needs at least one name\n`);
          process.exitCode = 2;
          return;
        }
      }
      let made: ReturnType<InstanceType<typeof KeyStore>['create']>;
      try {
        made = KeyStore.inDataDir(cfg.dataDir).create(
          o.name,
          o.role,
          namespaces || clusters ? { ...(namespaces ? { namespaces } : {}), ...(clusters ? { clusters } : {}) } : null,
        );
      } catch (e) {
        if (!(e instanceof KeyScopeError)) throw e;
        process.stderr.write(`eastwatch: ${clusters ? '--clusters/--namespaces' : '--namespaces'}: ${e.message}\n`);
        process.exitCode = 2;
        return;
      }
      const { token, entry } = made;
      const scoped = entry.scope ? `, scoped to ${describeScope(entry.scope)}` : '';
      process.stderr.write(`created key ${entry.id} (${entry.role}${scoped}) for ${entry.name}; keep it now, it is not stored:\n`);
      process.stdout.write(`${token}\n`);
    });
  dir(keys.command('list'))
    .description('List keys (never their secrets)')
    .action(async (o: { dataDir?: string; config?: string }) => {
      const cfg = await config(o);
      if (!cfg) return;
      const { describeScope, KeyStore } = await import('../service/keys');
      for (const k of KeyStore.inDataDir(cfg.dataDir).list()) {
        process.stdout.write(
          `${k.id}\t${k.role}\t${k.name}\tcreated ${k.created_at}${k.revoked_at ? `\trevoked ${k.revoked_at}` : ''}${k.scope ? `\t${describeScope(k.scope)}` : ''}\n`,
        );
      }
    });
  dir(keys.command('revoke'))
    .description('Revoke a key by id')
    .argument('<id>')
    .action(async (id: string, o: { dataDir?: string; config?: string }) => {
      const cfg = await config(o);
      if (!cfg) return;
      const { KeyStore } = await import('../service/keys');
      if (!KeyStore.inDataDir(cfg.dataDir).revoke(id)) {
        process.stderr.write(`eastwatch: no live key ${id}\n`);
        process.exitCode = 1;
      }
    });
}
