/**
 * `eastwatch collect --netflow ADDR --enqueue`: the NetFlow/IPFIX collector feeding the service's
 * `flows` queue, so that exporters (softflowd, pmacct, switches) go through the same workers,
 * identity enrichment, store and detectors as flow logs posted to the API.
 */
import { formatExporterStats, parseListenAddress, startCollector, untilStopped } from '../collect/netflow';
import type { ServiceConfig } from './config';
import { openQueues } from './queue';
import { flowUid } from './flow-ingest';
import { recordProblem } from '../store/validate';
import type { StitchOptions } from '../../parsers/netflow/stitch';
import { DEFAULT_CLUSTER, clusterName } from '../k8s/cluster';

export interface CollectToQueueIo {
  stderr?: NodeJS.WritableStream;
  signal?: AbortSignal;
  onListening?(a: { address: string; port: number }): void;
}

export async function runCollectToQueue(
  netflow: string,
  cfg: ServiceConfig,
  o: {
    batchMax?: number;
    batchMs?: number;
    stitch?: StitchOptions | false;
    /** The exporters' cluster (else the configuration's collect.cluster, else default): records resolve against its inventory only. */
    cluster?: string;
  },
  io: CollectToQueueIo = {},
): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  if (!cfg.redisUrl) {
    stderr.write("eastwatch collect: --enqueue sends batches to the service's queue on Redis: set REDIS_URL\n");
    return 2;
  }
  let listen: { host: string; port: number };
  try {
    listen = parseListenAddress(netflow);
  } catch (e) {
    stderr.write(`eastwatch collect: ${(e as Error).message}\n`);
    return 2;
  }
  let cluster: string;
  try {
    cluster = clusterName(o.cluster ?? cfg.collect.cluster, o.cluster !== undefined ? '--cluster' : 'collect.cluster');
  } catch (e) {
    stderr.write(`eastwatch collect: ${(e as Error).message}\n`);
    return 2;
  }
  // The default cluster keeps the uid namespace it had before clusters were named; another
  // cluster's identical 5-tuples (reused pod CIDRs) are other connections.
  const uidNamespace = cluster === DEFAULT_CLUSTER ? `netflow:${netflow}` : `netflow:${netflow}/cluster:${cluster}`;
  const queues = openQueues(cfg);
  let queued = 0;
  let failed = 0;
  let malformedShown = 0;
  const inFlight = new Set<Promise<void>>();
  const collector = await startCollector({
    host: listen.host,
    port: listen.port,
    batchMax: o.batchMax ?? cfg.limits.flowBatchRecords,
    batchMs: o.batchMs ?? 1000,
    localNets: cfg.localNets,
    stitch: o.stitch,
    onRecords: (batch) => {
      // Uids in the collector's own namespace (flow-ingest.ts): never a capture's or an API key's.
      const records = batch.filter((r) => recordProblem(r) === null);
      for (const r of records) r.uid = flowUid(uidNamespace, r.uid, r.ts);
      const p = queues.flows
        .add({ source: `netflow:${netflow}`, records, cluster, origin: 'netflow' })
        .then(
          () => {
            queued += records.length;
          },
          (e: Error) => {
            failed += batch.length;
            stderr.write(`eastwatch collect: ${batch.length} records not queued: ${e.message}\n`);
          },
        )
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    onError: (e) => {
      if (e instanceof Error) stderr.write(`eastwatch collect: ${e.message}\n`);
      else if (malformedShown++ < 100)
        stderr.write(`eastwatch collect: malformed v${e.version} datagram from ${e.exporter} at byte ${e.offset}: ${e.reason}\n`);
    },
  }).catch(async (e: Error) => {
    await queues.close(0);
    stderr.write(`eastwatch collect: cannot listen on ${netflow}: ${e.message}\n`);
    return null;
  });
  if (!collector) return 1;
  io.onListening?.({ address: collector.address.address, port: collector.address.port });
  stderr.write(
    `eastwatch collect: listening for NetFlow v5/v9/IPFIX on ${collector.address.address}:${collector.address.port}, batches to the flows queue (cluster ${cluster})\n`,
  );
  await untilStopped(io.signal);
  await collector.close();
  // close() hands on the last batch: wait for every batch to be in the queue.
  await Promise.all([...inFlight]);
  await queues.close(5000);
  stderr.write(formatExporterStats(collector.stats()));
  stderr.write(`eastwatch collect: ${queued} records queued${failed ? `, ${failed} not queued` : ''}\n`);
  return failed > 0 ? 1 : 0;
}
