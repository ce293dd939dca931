/**
 * Detector configuration: every threshold with its default, validated with zod. A JSON file
 * (`--detector-config`) overrides any subset; unknown keys are errors (a typo must not silently
 * leave a default in force).
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { DETECTOR_NAMES, type DetectorName } from './names';

const enabled = z.boolean().default(true);
const workloads = z.array(z.string()).default([]);

const NewEdge = z
  .object({
    enabled,
    /** Edges seen in the first `learning_seconds` of data are normal (0 with a baseline: alert from the start). */
    learning_seconds: z.number().nonnegative().default(3600),
    /** How long after its first sighting an edge's connections still count as the new edge. */
    novelty_seconds: z.number().positive().default(3600),
    /**
     * A workload with this many known edges to distinct names under one hosting platform's suffix
     * (the Public Suffix List's private section: s3.<region>.amazonaws.com, appspot.com, ...) on
     * the same port uses the platform: another of its customers' names there is not a new edge.
     * 0 turns this off.
     */
    platform_min_names: z.number().int().nonnegative().default(3),
    /**
     * A new edge to an external address whose name is not known yet is held this long (data time)
     * before it is reported: the client may have looked the name up before the capture began or
     * reuse a cached answer, and a later answer (any client's) giving that address for a name the
     * workload already uses shows the edge was known. 300 s is a common TTL of round-robin SaaS
     * names. 0 reports at once.
     */
    name_wait_seconds: z.number().nonnegative().default(300),
    max_edges: z.number().int().positive().default(200_000),
  })
  .strict()
  .default({});

const PolicyViolation = z
  .object({
    enabled,
    /** Also alert when only some backends of a service deny (verdict 'mixed'). */
    include_mixed: z.boolean().default(true),
  })
  .strict()
  .default({});

const Scan = z
  .object({
    enabled,
    /** TRW (Jung et al. 2004): P(first contact succeeds) for a benign host and for a scanner. */
    theta0: z.number().gt(0).lt(1).default(0.8),
    theta1: z.number().gt(0).lt(1).default(0.2),
    /** Desired detection and false-positive probabilities: thresholds eta1 = PD/PF, eta0 = (1-PD)/(1-PF). */
    p_detect: z.number().gt(0).lt(1).default(0.99),
    p_false: z.number().gt(0).lt(1).default(0.01),
    /** First contacts are remembered this long (a host contacted again later is not new). */
    window_seconds: z.number().positive().default(3600),
    max_sources: z.number().int().positive().default(2000),
    max_contacts_per_source: z.number().int().positive().default(1024),
  })
  .strict()
  .default({});

const Beacon = z
  .object({
    enabled,
    /**
     * Alert at or above this RITA beacon score. A steady client with Poisson (memoryless, so not
     * periodic) arrivals seen for an hour scores a median 0.52-0.54 on timestamps, 0.55-0.59 on
     * the histogram and 1 on duration: 0.77 with constant sizes (means 120-300 s). 3.6-7.7 % of
     * such clients still reach 0.85 (bench/eval/beacon-tails.ts).
     */
    threshold: z.number().min(0).max(1).default(0.85),
    /**
     * Pairs already active while learning (the workload's usual pollers: a licence check every
     * 2 min with varying answers scores 0.96) alert only at or above this: near-perfect timing
     * and sizes.
     */
    known_threshold: z.number().min(0).max(1).default(0.99),
    /** Pairs first seen in the first `learning_seconds` of data are known. */
    learning_seconds: z.number().nonnegative().default(3600),
    /**
     * RITA's unique_connection_threshold (RITA: 4). Higher here: over a pair's own span the
     * histogram and duration of a handful of connections say nothing.
     */
    min_connections: z.number().int().min(4).default(10),
    /** A pair's connections must span this long (its own span is what the histogram and the duration cover). */
    min_span_seconds: z.number().nonnegative().default(600),
    /** Cluster-internal destinations too (service-to-service calls are periodic by design: off by default). */
    include_internal: z.boolean().default(false),
    window_seconds: z.number().positive().default(86_400),
    ts_weight: z.number().min(0).max(1).default(0.25),
    ds_weight: z.number().min(0).max(1).default(0.25),
    dur_weight: z.number().min(0).max(1).default(0.25),
    hist_weight: z.number().min(0).max(1).default(0.25),
    hist_bins: z.number().int().min(2).default(24),
    hist_mode_sensitivity: z.number().gt(0).max(1).default(0.05),
    hist_bimodal_outlier_removal: z.number().int().min(0).default(1),
    hist_bimodal_min_hours: z.number().int().min(6).default(11),
    /**
     * Bowley skew (of intervals and of sizes) counts only when the quartiles are at least this
     * share of the median apart (RITA: at least 10 apart, in seconds or bytes). Below it the
     * middle half of the values is jitter around one value (±10 % jitter: about 0.12; ±20 %:
     * about 0.23); memoryless arrivals spread 1.58 times their median.
     */
    skew_min_spread: z.number().nonnegative().default(0.25),
    dur_min_hours: z.number().int().min(1).default(6),
    dur_ideal_hours: z.number().int().min(1).default(12),
    max_pairs: z.number().int().positive().default(5000),
    max_events_per_pair: z.number().int().min(8).default(1024),
  })
  .strict()
  .default({});

const DnsTunnel = z
  .object({
    enabled,
    window_seconds: z.number().positive().default(3600),
    /** Tunnel: distinct subdomains under one registered domain, their mean length and character entropy (bits). */
    min_distinct_subdomains: z.number().int().positive().default(30),
    min_mean_subdomain_length: z.number().positive().default(20),
    min_mean_entropy: z.number().positive().default(3.5),
    /** Not a tunnel when the source made at least this many connections per distinct name to the addresses they resolved to. */
    max_used_share: z.number().positive().default(0.5),
    /** Queries of these types to one registered domain. */
    unusual_types: z.array(z.string()).default(['TXT', 'NULL']),
    min_unusual_queries: z.number().int().positive().default(10),
    /** A registered domain queried this often with no connection to any address it resolved to. */
    min_queries_never_connected: z.number().int().positive().default(100),
    /** DGA: NXDOMAIN answers for this many distinct high-entropy registered domains. */
    dga_min_nxdomains: z.number().int().positive().default(10),
    dga_min_entropy: z.number().positive().default(3.0),
    /** Names under these suffixes are never tunnels (cluster DNS, reverse lookups). */
    ignore_suffixes: z.array(z.string()).default(['cluster.local', 'in-addr.arpa', 'ip6.arpa', 'local']),
    max_sources: z.number().int().positive().default(5000),
    /** (source, registered domain) states held, all sources together. */
    max_domains: z.number().int().positive().default(20_000),
    /** Distinct subdomains remembered per domain (enough to cross min_distinct_subdomains). */
    max_subdomains_per_domain: z.number().int().positive().default(64),
  })
  .strict()
  .default({});

const Exfiltration = z
  .object({
    enabled,
    /** Bytes sent per edge are summed per bucket; a bucket is compared with the edge's own history. */
    bucket_seconds: z.number().positive().default(300),
    /** Buckets of history before the edge is judged. */
    min_history: z.number().int().min(3).default(12),
    history: z.number().int().min(8).default(48),
    /** EWMA smoothing of the baseline. */
    alpha: z.number().gt(0).lt(1).default(0.1),
    /** Alert above baseline + k * scaled MAD, and above ratio * baseline, and above the floor. */
    k: z.number().positive().default(8),
    min_ratio: z.number().min(1).default(10),
    min_bytes: z.number().nonnegative().default(1_000_000),
    /** Floor when the source reports packets, not bytes (Hubble). */
    min_packets: z.number().nonnegative().default(1000),
    /**
     * Peers (replicas of the same workload, in the same bucket): a replica's volume to a
     * destination above `peer_ratio` times the median of what its siblings sent there.
     */
    peer_ratio: z.number().min(1).default(20),
    /**
     * A destination no replica sent to before (first contact): the replica's volume to it above
     * `peer_new_ratio` times the median of its siblings' whole egress in the bucket.
     */
    peer_new_ratio: z.number().min(1).default(10),
    max_edges: z.number().int().positive().default(20_000),
  })
  .strict()
  .default({});

const Sensitive = z
  .object({
    enabled,
    metadata_ips: z.array(z.string()).default(['169.254.169.254', 'fd00:ec2::254', '169.254.170.2']),
    /** API server addresses beyond the `kubernetes` service (e.g. control-plane node IPs). */
    apiserver_ips: z.array(z.string()).default([]),
    apiserver_ports: z.array(z.number().int()).default([6443]),
    kubelet_ports: z.array(z.number().int()).default([10250, 10255]),
    /** Workloads ("ns/name", or "ns/*") that may reach these destinations. */
    allow_workloads: workloads,
    /** A workload that reached a category in the first `learning_seconds` does so normally. */
    learning_seconds: z.number().nonnegative().default(3600),
  })
  .strict()
  .default({});

const LateralAdmin = z
  .object({
    enabled,
    /** Port -> protocol name. */
    ports: z.record(z.string()).default({
      '22': 'ssh',
      '23': 'telnet',
      '139': 'smb',
      '445': 'smb',
      '3389': 'rdp',
      '5985': 'winrm',
      '5986': 'winrm',
      '5900': 'vnc',
      '5901': 'vnc',
      '5902': 'vnc',
      '5903': 'vnc',
    }),
    allow_workloads: workloads,
  })
  .strict()
  .default({});

const LongConnection = z
  .object({
    enabled,
    /** RITA's long_connection thresholds (seconds): alert from min_seconds, severity by the bands. */
    min_seconds: z.number().positive().default(3600),
    medium_seconds: z.number().positive().default(14_400),
    high_seconds: z.number().positive().default(28_800),
    critical_seconds: z.number().positive().default(43_200),
    /** Connections of an edge open in the first `learning_seconds` of data make it long-lived-normal. */
    learning_seconds: z.number().nonnegative().default(3600),
    /** UDP ports of overlay tunnels whose outer flows are never judged (VXLAN, Linux VXLAN, Geneve). */
    tunnel_udp_ports: z.array(z.number().int()).default([4789, 8472, 6081]),
  })
  .strict()
  .default({});

export const DetectorConfigSchema = z
  .object({
    'new-edge': NewEdge,
    'policy-violation': PolicyViolation,
    scan: Scan,
    beacon: Beacon,
    'dns-tunnel': DnsTunnel,
    exfiltration: Exfiltration,
    'sensitive-destination': Sensitive,
    'lateral-admin': LateralAdmin,
    'long-connection': LongConnection,
    /** Cap on alerts the engine holds (the oldest-updated are dropped beyond it). */
    max_alerts: z.number().int().positive().default(10_000),
  })
  .strict();

export type DetectorConfig = z.infer<typeof DetectorConfigSchema>;
export { DETECTOR_NAMES, type DetectorName };

/** Compiles only while the schema has a section for every detector name and for no other. */
export type SchemaHasEveryDetector = [Exclude<keyof DetectorConfig, 'max_alerts'>] extends [DetectorName]
  ? [DetectorName] extends [Exclude<keyof DetectorConfig, 'max_alerts'>]
    ? true
    : never
  : never;
const schemaHasEveryDetector: SchemaHasEveryDetector = true;
void schemaHasEveryDetector;

export class DetectorConfigError extends Error {}

/** Validated config from a partial object; errors name the offending path. */
export function parseDetectorConfig(input: unknown, source = 'detector config'): DetectorConfig {
  const r = DetectorConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new DetectorConfigError(`${source}: ${issues}`);
  }
  const b = r.data.beacon;
  const sum = b.ts_weight + b.ds_weight + b.dur_weight + b.hist_weight;
  if (Math.abs(sum - 1) > 1e-9) throw new DetectorConfigError(`${source}: beacon weights must sum to 1, got ${sum}`);
  const d = r.data['dns-tunnel'];
  if (d.max_subdomains_per_domain < d.min_distinct_subdomains)
    throw new DetectorConfigError(`${source}: dns-tunnel.max_subdomains_per_domain must be at least min_distinct_subdomains (${d.min_distinct_subdomains})`);
  if (r.data.scan.theta1 >= r.data.scan.theta0) throw new DetectorConfigError(`${source}: scan.theta1 must be below scan.theta0`);
  return r.data;
}

export function defaultDetectorConfig(): DetectorConfig {
  return parseDetectorConfig({});
}

export function loadDetectorConfig(file: string): DetectorConfig {
  let obj: unknown;
  try {
    obj = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DetectorConfigError(`${file}: ${(e as Error).message}`);
  }
  return parseDetectorConfig(obj, file);
}

/** "ns/name" matches itself; "ns/*" any workload of the namespace. */
export function workloadAllowed(list: readonly string[], wl: string): boolean {
  for (const p of list) {
    if (p === wl) return true;
    if (p.endsWith('/*') && wl.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}
