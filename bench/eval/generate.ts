/**
 * Writes the evaluation data set: a pcap (the capture at the pods' veths, before DNAT), the same
 * packets as Hubble flows (`hubble observe -o json`, after DNAT: backend pods with their service,
 * plus the DNS proxy's L7 events) twice, as Cilium's default monitor aggregation emits them and
 * with aggregation off (one event per packet),
 * the inventory (kubectl List JSON) and the labels.
 *
 *   node dist/bench/eval/generate.js [outdir] [seed] [A|B]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { once } from 'node:events';
import { PcapWriter } from '../../samples/lib/pcap-writer';
import { mergeByTime, type Conversation, type Pkt } from '../../samples/lib/session';
import { Cluster, SPAN, T0 } from './cluster';
import { buildTraffic, type DnsL7, type EvalLabel, type Family } from './traffic';

export const DEFAULT_SEED = 0x5eed7;

/** Cilium's `monitor-aggregation-interval` default (seconds). */
const AGGREGATION_INTERVAL_S = 5;

/**
 * The generated cluster's own networks, as a deployment passes them with --local-nets. The
 * default (Zeek's private address space) also counts the documentation ranges as local, and the
 * generator stands 203.0.113.0/24 in for the internet's SaaS and C2 endpoints.
 */
export const EVAL_LOCAL_NETS: readonly string[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

export interface EvalData {
  dir: string;
  family: Family;
  seed: number;
  /** Data time the traffic covers (epoch seconds). */
  span: [number, number];
  pcap: string;
  /** Hubble flows as Cilium emits them by default (monitor aggregation `medium`). */
  hubble: string;
  /** The same with monitor aggregation off: one event per packet. */
  hubblePackets: string;
  inventory: string;
  labels: EvalLabel[];
  anomalous: Set<string>;
  /** Surprise pods: address and life (epoch seconds). */
  surprises: { ip: string; from: number; to: number; pod: string; workload: string }[];
  packets: number;
  hubbleEvents: number;
  hubblePacketEvents: number;
}

function ipText(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function rfc3339(tsUs: number): string {
  const sec = Math.floor(tsUs / 1e6);
  return `${new Date(sec * 1000).toISOString().replace('.000Z', '')}.${String(tsUs - sec * 1e6).padStart(6, '0')}Z`;
}

/** Hubble's view of the cluster: endpoints, services after DNAT. */
class HubbleView {
  private n = 0;
  /** Monitor aggregation: "connection direction" -> the TCP flags reported so far and the second of the last report. */
  private readonly reported = new Map<string, { flags: number; lastSec: number }>();
  constructor(private readonly c: Cluster) {}

  /**
   * Whether Cilium with monitor aggregation `medium` (Cilium's default, Helm `bpf.monitorAggregation`)
   * emits a trace event for this packet. Its datapath (`__ct_update_timeout`, bpf/lib/conntrack.h)
   * keeps per conntrack entry and direction the TCP flags reported so far and the time of the last
   * report, in whole seconds (bpf_mono_now), and reports a packet when it adds a flag of
   * `monitor-aggregation-flags` (default syn, fin, rst) or when more than
   * `monitor-aggregation-interval` (default 5 s) passed since that direction's last report. A new
   * entry reports its first packet and counts SYN as seen in that direction; the other
   * direction's first packet is reported (its last report is 0). Everything else is only counted
   * in conntrack and never becomes a Hubble event. Trace events of the FROM_* observation points
   * are not emitted at all under `medium`; this view has one observation point per packet.
   */
  private reports(key: string, flags: number, tsUs: number): boolean {
    const sec = Math.floor(tsUs / 1e6);
    const trigger = flags & 0x07; // FIN 0x01, SYN 0x02, RST 0x04
    const st = this.reported.get(key);
    if (st === undefined) {
      this.reported.set(key, { flags: trigger, lastSec: sec });
      return true;
    }
    if ((trigger & ~st.flags) !== 0 || st.lastSec + AGGREGATION_INTERVAL_S < sec) {
      st.flags |= trigger;
      st.lastSec = sec;
      return true;
    }
    return false;
  }

  private endpoint(ip: string, t: number): Record<string, unknown> {
    const p = this.c.podAt(ip, t);
    if (p) {
      return {
        ID: 1000 + Number(ip.split('.')[3]),
        identity: 20000 + p.workload.length * 7 + p.ns.length,
        namespace: p.ns,
        labels: [...Object.entries(p.labels).map(([k, v]) => `k8s:${k}=${v}`), `k8s:io.kubernetes.pod.namespace=${p.ns}`],
        pod_name: p.name,
        workloads: [{ name: p.workload, kind: p.kind }],
      };
    }
    const node = this.c.nodeOf(ip);
    if (node === 'cp-1') return { identity: 7, labels: ['reserved:kube-apiserver', 'reserved:remote-node'] };
    if (node) return { identity: 6, labels: ['reserved:remote-node'] };
    return { identity: 2, labels: ['reserved:world'] };
  }

  /** The backend a service connection from client:port lands on (kube-proxy's choice, stable per connection). */
  private dnat(
    server: string,
    sport: number,
    client: string,
    cport: number,
    t: number,
  ): { ip: string; port: number; svc?: { name: string; namespace: string } } {
    const s = this.c.service(server);
    if (!s) return { ip: server, port: sport };
    const port = s.ports.find((p) => p.port === sport);
    const bs = this.c.backends(s, t);
    if (!port || bs.length === 0) return { ip: server, port: sport, svc: { name: s.name, namespace: s.ns } };
    let h = cport;
    for (const ch of client) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    return { ip: bs[h % bs.length].ip, port: port.targetPort, svc: { name: s.name, namespace: s.ns } };
  }

  /**
   * The flow event of one captured frame (Ethernet/IPv4 TCP or UDP), or null for anything else;
   * `reported`: whether monitor aggregation `medium` emits it too.
   */
  packet(p: Pkt): { line: string; reported: boolean } | null {
    const b = p.data;
    if (b.readUInt16BE(12) !== 0x0800) return null;
    const ihl = (b[14] & 0x0f) * 4;
    const proto = b[23];
    const l4 = 14 + ihl;
    if (proto !== 6 && proto !== 17) return null;
    // Hubble sees the pods' flows, not the overlay's outer UDP: report the VXLAN payload's inner frame.
    if (proto === 17 && [4789, 8472].includes(b.readUInt16BE(l4 + 2)) && b.length > l4 + 16 + 14) return this.packet({ ...p, data: b.subarray(l4 + 16) });
    const src = ipText(b, 26),
      dst = ipText(b, 30);
    const sp = b.readUInt16BE(l4),
      dp = b.readUInt16BE(l4 + 2);
    const t = p.tsUs / 1e6 - T0;
    // Clients use ephemeral ports (>= 32768), servers well-known ones.
    const reply = sp < dp;
    const [client, cport, server, sport] = reply ? [dst, dp, src, sp] : [src, sp, dst, dp];
    const d = this.dnat(server, sport, client, cport, t);
    const clientPod = this.c.podAt(client, t);
    const serverPod = this.c.podAt(d.ip, t);
    const denied = serverPod?.workload === 'ledger' && clientPod?.workload !== 'api';
    // Drops are drop notifications, not trace events: monitor aggregation does not thin them.
    const reported = this.reports(`${proto}|${src}|${sp}|${dst}|${dp}`, proto === 6 ? b[l4 + 13] : 0, p.tsUs) || denied;
    const flags: Record<string, boolean> = {};
    if (proto === 6) {
      const f = b[l4 + 13];
      if (f & 0x02) flags.SYN = true;
      if (f & 0x10) flags.ACK = true;
      if (f & 0x01) flags.FIN = true;
      if (f & 0x04) flags.RST = true;
      if (f & 0x08) flags.PSH = true;
    }
    const ports = reply ? { source_port: d.port, destination_port: cport } : { source_port: cport, destination_port: d.port };
    const flow: Record<string, unknown> = {
      time: rfc3339(p.tsUs),
      uuid: `ev-${++this.n}`,
      verdict: denied ? 'DROPPED' : 'FORWARDED',
      IP: { source: reply ? d.ip : client, destination: reply ? client : d.ip, ipVersion: 'IPv4' },
      l4: proto === 6 ? { TCP: { ...ports, flags } } : { UDP: ports },
      source: this.endpoint(reply ? d.ip : client, t),
      destination: this.endpoint(reply ? client : d.ip, t),
      Type: 'L3_L4',
      node_name: clientPod?.node ?? 'node-1',
      is_reply: reply,
      traffic_direction: 'EGRESS',
    };
    if (d.svc) flow[reply ? 'source_service' : 'destination_service'] = d.svc;
    if (denied) flow.drop_reason_desc = 'POLICY_DENIED';
    return { line: JSON.stringify({ flow, node_name: flow.node_name, time: flow.time }), reported };
  }

  dns(e: DnsL7): string {
    const t = e.tsUs / 1e6 - T0;
    const d = this.dnat(e.server, 53, e.client, e.clientPort, t);
    const flow = {
      time: rfc3339(e.tsUs),
      uuid: `ev-${++this.n}`,
      verdict: 'FORWARDED',
      IP: { source: d.ip, destination: e.client, ipVersion: 'IPv4' },
      l4: { UDP: { source_port: 53, destination_port: e.clientPort } },
      source: this.endpoint(d.ip, t),
      destination: this.endpoint(e.client, t),
      Type: 'L7',
      node_name: this.c.podAt(e.client, t)?.node ?? 'node-1',
      is_reply: true,
      traffic_direction: 'EGRESS',
      l7: {
        type: 'RESPONSE',
        latency_ns: 400000,
        dns: { query: `${e.query}.`, ips: e.ips.length ? e.ips : undefined, ttl: 30, qtypes: [e.qtype], rcode: e.rcode },
      },
      source_service: d.svc,
    };
    return JSON.stringify({ flow, node_name: flow.node_name, time: flow.time });
  }
}

/** Writes lines to a file in batches, waiting for the stream to drain. */
class LineSink {
  private buf: string[] = [];
  private readonly out: fs.WriteStream;
  lines = 0;
  constructor(file: string) {
    this.out = fs.createWriteStream(file);
  }
  async push(line: string): Promise<void> {
    this.buf.push(line);
    this.lines++;
    if (this.buf.length >= 2000) await this.flush();
  }
  private async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const ok = this.out.write(`${this.buf.join('\n')}\n`);
    this.buf = [];
    if (!ok) await once(this.out, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    const done = once(this.out, 'finish');
    this.out.end();
    await done;
  }
}

/**
 * Both Hubble inputs are written from the same packets: `hubble.json` as Cilium emits flows by
 * default (monitor aggregation `medium`) and `hubble-packets.json` with aggregation off
 * (`--monitor-aggregation none`: one event per packet). The DNS proxy's L7 events are in both.
 */
export async function generateEval(dir: string, seed = DEFAULT_SEED, family: Family = 'A'): Promise<EvalData> {
  fs.mkdirSync(dir, { recursive: true });
  const cluster = new Cluster();
  const traffic = buildTraffic(seed, cluster, family);
  const files = {
    pcap: path.join(dir, 'cluster.pcap'),
    hubble: path.join(dir, 'hubble.json'),
    hubblePackets: path.join(dir, 'hubble-packets.json'),
    inventory: path.join(dir, 'inventory.json'),
  };
  fs.writeFileSync(files.inventory, `${JSON.stringify(cluster.inventory(), null, 1)}\n`);
  fs.writeFileSync(path.join(dir, 'labels.json'), `${JSON.stringify(traffic.labels, null, 1)}\n`);

  const pcap = PcapWriter.create(files.pcap);
  const agg = new LineSink(files.hubble);
  const all = new LineSink(files.hubblePackets);
  const view = new HubbleView(cluster);
  let di = 0;
  const dns = async (): Promise<void> => {
    const line = view.dns(traffic.dns[di++]);
    await agg.push(line);
    await all.push(line);
  };
  for (const p of mergeByTime(lazy(traffic.convs))) {
    while (di < traffic.dns.length && traffic.dns[di].tsUs <= p.tsUs) await dns();
    const ev = view.packet(p);
    if (ev !== null) {
      await all.push(ev.line);
      if (ev.reported) await agg.push(ev.line);
    }
    if (!pcap.writeUs(p.data, p.tsUs)) await pcap.drain();
  }
  while (di < traffic.dns.length) await dns();
  await pcap.close();
  await agg.close();
  await all.close();
  return {
    dir,
    family,
    seed,
    span: [T0, T0 + SPAN],
    ...files,
    labels: traffic.labels,
    anomalous: traffic.anomalous,
    surprises: traffic.surprises.map((p) => ({ ip: p.ip, from: T0 + p.from, to: T0 + (p.to ?? Infinity), pod: p.name, workload: `${p.ns}/${p.workload}` })),
    packets: pcap.packets,
    hubbleEvents: agg.lines,
    hubblePacketEvents: all.lines,
  };
}

/** Conversations whose packet generators are created only when the merge reaches them. */
function* lazy(list: { startUs: number; make: () => Iterator<Pkt> }[]): Generator<Conversation> {
  for (const c of list) yield { startUs: c.startUs, packets: c.make() };
}

if (require.main === module) {
  const dir = process.argv[2] ?? path.join(process.cwd(), 'eval-data');
  const seed = process.argv[3] ? Number(process.argv[3]) : DEFAULT_SEED;
  void generateEval(dir, seed, process.argv[4] === 'B' ? 'B' : 'A').then((d) => {
    process.stdout.write(
      `${d.pcap}: ${d.packets} packets; ${d.hubble}: ${d.hubbleEvents} events; ${d.hubblePackets}: ${d.hubblePacketEvents} events; ${d.labels.length} labels\n`,
    );
  });
}
