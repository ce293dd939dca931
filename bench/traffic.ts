/**
 * Deterministic, streaming generator of the benchmark capture: pod-to-pod traffic of a
 * Kubernetes cluster, a third of it inside Flannel VXLAN (UDP 8472).
 *
 * Conversations are produced lazily in start-time order and merged by mergeByTime(), so memory
 * is bounded by the number of concurrent conversations (a few hundred), not the capture size.
 */
import * as fs from 'node:fs';
import { httpRequest, httpResponse, dnsMessage, DnsType } from '../samples/lib/packet-builder';
import { PcapWriter } from '../samples/lib/pcap-writer';
import {
  Rng,
  ethernetFramer,
  mergeByTime,
  tcpSession,
  udpFlow,
  vxlanFramer,
  type Conversation,
  type Framer,
  type Node,
  type Peer,
  type TcpMessage,
} from '../samples/lib/session';

/** Bumped whenever the traffic model changes, so cached captures are regenerated. */
export const TRAFFIC_VERSION = 1;

export interface TrafficParams {
  packets: number;
  seed: number;
}

export interface TrafficStats {
  packets: number;
  bytes: number;
  conversations: number;
  vxlanPackets: number;
  seconds: number;
}

const BASE_US = Date.UTC(2026, 0, 15, 10, 0, 0) * 1000;
const NODE_COUNT = 8;
const PODS_PER_NODE = 60;

function podIp(node: number, pod: number): string {
  return `10.244.${node + 1}.${pod + 10}`;
}

function podMac(ip: string): string {
  return ['0a', '58', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

function nodeOf(i: number): Node {
  const h = (i + 0x11).toString(16).padStart(2, '0');
  return { mac: `52:54:00:6b:10:${h}`, ip: `192.168.10.${11 + i}`, vtepMac: `ce:3e:91:5a:0b:${h}` };
}

/** Conversations in start order, forever; the caller stops pulling. */
function* conversations(rng: Rng): Generator<Conversation> {
  const nodes = Array.from({ length: NODE_COUNT }, (_, i) => nodeOf(i));
  const ipIds = new Map<string, number>();
  // Random bytes reused as payload: generating fresh randomness per byte would dominate the run time.
  const pool = rng.bytes(1 << 20);
  const slice = (n: number) => {
    const at = rng.int(0, pool.length - n);
    return pool.subarray(at, at + n);
  };
  const usedPorts = new Set<string>();
  let t = BASE_US;
  for (;;) {
    // ~2500 new conversations per second of capture time.
    t += rng.int(50, 750);
    const cn = rng.int(0, NODE_COUNT - 1);
    let sn = rng.int(0, NODE_COUNT - 1);
    const overlay = rng.next() < 1 / 3;
    if (overlay && sn === cn) sn = (sn + 1) % NODE_COUNT;
    if (!overlay) sn = cn;
    const cIp = podIp(cn, rng.int(0, PODS_PER_NODE - 1));
    let sIp = podIp(sn, rng.int(0, PODS_PER_NODE - 1));
    if (sIp === cIp) sIp = podIp(sn, (Number(cIp.split('.')[3]) - 10 + 1) % PODS_PER_NODE);
    let cPort = rng.ephemeralPort();
    while (usedPorts.has(`${cIp}:${cPort}`)) cPort = rng.ephemeralPort();
    usedPorts.add(`${cIp}:${cPort}`);
    if (usedPorts.size > 200_000) usedPorts.clear(); // old conversations are long finished
    let framer: Framer;
    if (overlay) {
      framer = vxlanFramer({ origNode: nodes[cn], respNode: nodes[sn], vni: 1, sportOrig: rng.int(32768, 60999), sportResp: rng.int(32768, 60999), ipIds });
    } else {
      // Same node: seen on the cni0 bridge between the two pods' veths.
      framer = ethernetFramer(podMac(cIp), podMac(sIp));
    }
    const kind = rng.next();
    const rtt = overlay ? rng.int(300, 1200) : rng.int(30, 150);
    if (kind < 0.4) {
      const msgs: TcpMessage[] = [];
      const n = rng.int(1, 2);
      for (let i = 0; i < n; i++) {
        msgs.push({
          from: 'client',
          data: httpRequest('GET', `/api/v1/items/${rng.int(1, 99999)}`, 'api.default.svc.cluster.local:8080', [['Accept', 'application/json']]),
        });
        msgs.push({ from: 'server', data: httpResponse(200, 'OK', [['Content-Type', 'application/octet-stream']], slice(rng.int(100, 4000))) });
      }
      const client: Peer = { mac: podMac(cIp), ip: cIp, port: cPort };
      const server: Peer = { mac: podMac(sIp), ip: sIp, port: 8080 };
      yield {
        startUs: t,
        packets: tcpSession({ client, server, startUs: t, rttUs: rtt, messages: msgs, framer, rng, close: rng.next() < 0.1 ? 'rst-client' : 'fin' }),
      };
    } else if (kind < 0.5) {
      // Longer stream: bulk download (database dump, image layer, log shipping).
      const client: Peer = { mac: podMac(cIp), ip: cIp, port: cPort };
      const server: Peer = { mac: podMac(sIp), ip: sIp, port: rng.pick([5432, 6379, 9000, 443]) };
      const msgs: TcpMessage[] = [{ from: 'client', data: slice(rng.int(40, 400)) }];
      const chunks = rng.int(1, 4);
      for (let i = 0; i < chunks; i++) msgs.push({ from: 'server', data: slice(rng.int(20_000, 100_000)), gapUs: rng.int(500, 20_000) });
      yield { startUs: t, packets: tcpSession({ client, server, startUs: t, rttUs: rtt, messages: msgs, framer, rng }) };
    } else if (kind < 0.8) {
      const id = rng.int(0, 0xffff);
      const name = `svc-${rng.int(1, 400)}.default.svc.cluster.local`;
      const client: Peer = { mac: podMac(cIp), ip: cIp, port: cPort };
      const server: Peer = { mac: podMac(sIp), ip: sIp, port: 53 };
      yield {
        startUs: t,
        packets: udpFlow({
          client,
          server,
          startUs: t,
          rttUs: rtt,
          framer,
          rng,
          messages: [
            { from: 'client', data: dnsMessage({ id, response: false, questions: [{ name, type: DnsType.A }] }) },
            {
              from: 'server',
              data: dnsMessage({
                id,
                response: true,
                aa: true,
                ra: true,
                questions: [{ name, type: DnsType.A }],
                answers: [{ name, type: DnsType.A, ttl: 30, data: `10.96.${rng.int(0, 255)}.${rng.int(1, 254)}` }],
              }),
            },
          ],
        }),
      };
    } else {
      // One-way UDP (metrics, logs) with a few datagrams.
      const client: Peer = { mac: podMac(cIp), ip: cIp, port: cPort };
      const server: Peer = { mac: podMac(sIp), ip: sIp, port: rng.pick([8125, 514, 4317]) };
      const n = rng.int(1, 10);
      const msgs = [];
      for (let i = 0; i < n; i++) msgs.push({ from: 'client' as const, data: slice(rng.int(40, 900)), gapUs: rng.int(1_000, 200_000) });
      yield { startUs: t, packets: udpFlow({ client, server, startUs: t, rttUs: rtt, framer, rng, messages: msgs }) };
    }
  }
}

/** Writes exactly `params.packets` packets to `file` (conversations still open at the end stay open). */
export async function generateTraffic(file: string, params: TrafficParams): Promise<TrafficStats> {
  const rng = new Rng(params.seed);
  const convs = conversations(rng);
  let vxlanPackets = 0;
  let conversationsStarted = 0;
  const counted: Iterator<Conversation> = {
    next: () => {
      conversationsStarted++;
      return convs.next();
    },
  };
  const tmp = `${file}.partial`;
  const w = PcapWriter.create(tmp, { chunkBytes: 4 << 20 });
  let first = 0,
    last = 0;
  for (const p of mergeByTime(counted)) {
    if (w.packets === 0) first = p.tsUs;
    last = p.tsUs;
    // Ethernet/IPv4 (no options) / UDP to 8472: the overlay share.
    if (p.data[23] === 17 && p.data.readUInt16BE(36) === 8472) vxlanPackets++;
    if (!w.writeUs(p.data, p.tsUs)) await w.drain();
    if (w.packets >= params.packets) break;
  }
  await w.close();
  fs.renameSync(tmp, file);
  return { packets: w.packets, bytes: w.bytes, conversations: conversationsStarted, vxlanPackets, seconds: (last - first) / 1e6 };
}
