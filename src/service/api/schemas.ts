/** Request and response shapes shared by the routes (and the OpenAPI document). */
import { z } from 'zod';
import './route';
import { DEFAULT_CLUSTER } from '../../k8s/cluster';

/** A cluster name (k8s/cluster.ts): a DNS label; what was uploaded without one is the default cluster's. */
export const ClusterName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit")
  .default(DEFAULT_CLUSTER)
  .openapi({
    description: `The cluster (default \`${DEFAULT_CLUSTER}\`): identities resolve against this cluster's inventory only, and records carry it as orchestrator.cluster.name (query: cluster:NAME)`,
  });

/** The `:uid` of a connection's routes. */
export const ConnectionUid = z.object({
  uid: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, 'a connection uid is letters and digits'),
});

export const TimeRange = z.object({
  q: z.string().max(4096).optional().openapi({ description: 'Query language, e.g. `ns:payments and dport:5432 and not state:SF`' }),
  from: z.string().max(64).optional().openapi({ description: 'Inclusive start: ISO 8601, epoch seconds, or now-15m' }),
  to: z.string().max(64).optional().openapi({ description: 'Exclusive end' }),
});

export const Page = z.object({
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
  after: z.string().max(2048).optional().openapi({ description: '`next` of the previous page' }),
});

export const JobState = z.enum(['waiting', 'active', 'delayed', 'completed', 'failed']);

export const CaptureJob = z
  .object({
    id: z.string(),
    state: JobState,
    finishedWithErrors: z.boolean().openapi({
      description: 'Completed, but the capture could not be read to its end or records were refused: `problem` says what and what to do',
    }),
    problem: z.string().nullable().openapi({ description: 'What went wrong with a completed capture, in plain words; null when nothing did' }),
    name: z.string(),
    sha256: z.string(),
    bytes: z.number(),
    format: z.enum(['pcap', 'pcapng', 'gzip']),
    uploadedAt: z.string(),
    uploadedBy: z.string(),
    cluster: z.string().openapi({ description: "The cluster it was taken in: identities come from that cluster's inventory" }),
    reanalysis: z
      .object({ requestedAt: z.string(), requestedBy: z.string(), count: z.number() })
      .nullable()
      .openapi({ description: 'The latest re-analysis asked for (POST /captures/{id}/reanalyze); null when analysed once' }),
    progress: z.object({ bytesRead: z.number(), totalBytes: z.number(), packets: z.number(), records: z.number(), appRecords: z.number() }).nullable(),
    result: z.record(z.unknown()).nullable(),
    failedReason: z.string().nullable(),
    attemptsMade: z.number(),
    createdAt: z.string(),
    /** When the current (or last) attempt started. */
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .openapi('CaptureJob');

export const ConnectionRecord = z
  .record(z.unknown())
  .openapi('ConnectionRecord', { description: 'A connection record (Zeek conn.log fields, snake_case, with k8s identity)' });
export const AppRecord = z.record(z.unknown()).openapi('AppRecord', { description: 'A dns/http/tls/ssh/app record with its connection uid' });
export const Alert = z.record(z.unknown()).openapi('Alert', { description: 'See detectors/contract/alert.ts' });

export const ErrorBody = z.object({ error: z.string(), details: z.unknown().optional() }).openapi('Error');
