/**
 * Deterministic, streaming generator of the second benchmark capture (issue 16's shape): many
 * short connections. 85% of the sessions are HTTP/1.1 over TCP with 1-6 request/response
 * exchanges each, 15% are DNS lookups; 30% of all sessions cross nodes inside Flannel VXLAN,
 * each inner flow with its own stable outer source port per direction (as Linux derives it from
 * a hash of the inner flow), so the overlay adds about two outer UDP flows per inner one.
 *
 * Unlike bench/traffic.ts (a packet budget, long transfers among the sessions) this one is sized
 * in sessions and every session is written to its end: the capture holds whole connections only.
 */
import * as fs from 'node:fs';
import { DnsType, dnsMessage, httpRequest, httpResponse } from '../samples/lib/packet-builder';
import { PcapWriter } from '../samples/lib/pcap-writer';
import {
  type Conversation,
  type Framer,
  type Node,
  type Peer,
  Rng,
  type TcpMessage,
  ethernetFramer,
  mergeByTime,
  tcpSession,
  udpFlow,
  vxlanFramer,
} from '../samples/lib/session';
import type { TrafficStats } from './traffic';

/** Bumped whenever the traffic model changes, so cached captures are regenerated. */
export const SHORT_TRAFFIC_VERSION = 1;

export interface ShortTrafficParams {
  sessions: number;
  seed: number;
}

const BASE_US = Date.UTC(2026, 0, 20, 9, 0, 0) * 1000;
const NODE_COUNT = 8;
const PODS_PER_NODE = 60;
const OVERLAY_SHARE = 0.3;
const DNS_SHARE = 0.15;

function podIp(node: number, pod: number): string {
  return `10.244.${node + 1}.${pod + 10}`;
}

function podMac(ip: string): string {
  return ['0a', '58', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

function nodeOf(i: number): Node {
  const h = (i + 0x11).toString(16).padStart(2, '0');
  return { mac: `52:54:00:6b:20:${h}`, ip: `192.168.20.${11 + i}`, vtepMac: `ce:3e:91:5a:1b:${h}` };
}

const PATHS = ['/api/v1/orders', '/api/v1/items', '/healthz', '/metrics', '/api/v2/users', '/graphql'];

/** `count` sessions in start order. */
function* sessions(rng: Rng, count: number): Generator<Conversation> {
  const nodes = Array.from({ length: NODE_COUNT }, (_, i) => nodeOf(i));
  const ipIds = new Map<string, number>();
  // Random bytes reused as bodies: fresh randomness per byte would dominate the run time.
  const pool = rng.bytes(1 << 18);
  const slice = (n: number) => {
    const at = rng.int(0, pool.length - n);
    return pool.subarray(at, at + n);
  };
  const usedPorts = new Set<string>();
  let t = BASE_US;
  for (let s = 0; s < count; s++) {
    // ~5000 new sessions per second of capture time.
    t += rng.int(20, 380);
    const cn = rng.int(0, NODE_COUNT - 1);
    const overlay = rng.next() < OVERLAY_SHARE;
    const sn = overlay ? (cn + rng.int(1, NODE_COUNT - 1)) % NODE_COUNT : cn;
    const cIp = podIp(cn, rng.int(0, PODS_PER_NODE - 1));
    let sIp = podIp(sn, rng.int(0, PODS_PER_NODE - 1));
    if (sIp === cIp) sIp = podIp(sn, (Number(cIp.split('.')[3]) - 10 + 1) % PODS_PER_NODE);
    let cPort = rng.ephemeralPort();
    while (usedPorts.has(`${cIp}:${cPort}`)) cPort = rng.ephemeralPort();
    usedPorts.add(`${cIp}:${cPort}`);
    if (usedPorts.size > 100_000) usedPorts.clear(); // those sessions ended long ago
    // A stable outer source port per direction of each inner flow.
    const framer: Framer = overlay
      ? vxlanFramer({ origNode: nodes[cn], respNode: nodes[sn], vni: 1, sportOrig: rng.int(32768, 60999), sportResp: rng.int(32768, 60999), ipIds })
      : ethernetFramer(podMac(cIp), podMac(sIp));
    const rtt = overlay ? rng.int(300, 1200) : rng.int(30, 150);
    const client: Peer = { mac: podMac(cIp), ip: cIp, port: cPort };
    if (rng.next() < DNS_SHARE) {
      const id = rng.int(0, 0xffff);
      const name = `svc-${rng.int(1, 400)}.default.svc.cluster.local`;
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
      continue;
    }
    const server: Peer = { mac: podMac(sIp), ip: sIp, port: 8080 };
    const msgs: TcpMessage[] = [];
    const exchanges = rng.int(1, 6);
    for (let i = 0; i < exchanges; i++) {
      msgs.push({
        from: 'client',
        data: httpRequest('GET', `${rng.pick(PATHS)}/${rng.int(1, 99999)}`, 'api.default.svc.cluster.local:8080', [
          ['Accept', 'application/json'],
          ['User-Agent', 'Go-http-client/1.1'],
        ]),
        gapUs: i === 0 ? undefined : rng.int(200, 3000),
      });
      msgs.push({ from: 'server', data: httpResponse(200, 'OK', [['Content-Type', 'application/json']], slice(rng.int(60, 1200))) });
    }
    yield {
      startUs: t,
      packets: tcpSession({ client, server, startUs: t, rttUs: rtt, messages: msgs, framer, rng, close: rng.next() < 0.05 ? 'rst-client' : 'fin' }),
    };
  }
}

/** Writes every packet of `params.sessions` sessions to `file`. */
export async function generateShortTraffic(file: string, params: ShortTrafficParams): Promise<TrafficStats> {
  const rng = new Rng(params.seed);
  let vxlanPackets = 0;
  const tmp = `${file}.partial`;
  const w = PcapWriter.create(tmp, { chunkBytes: 4 << 20 });
  let first = 0;
  let last = 0;
  for (const p of mergeByTime(sessions(rng, params.sessions))) {
    if (w.packets === 0) first = p.tsUs;
    last = p.tsUs;
    // Ethernet/IPv4 (no options) / UDP to 8472: the overlay share.
    if (p.data[23] === 17 && p.data.readUInt16BE(36) === 8472) vxlanPackets++;
    if (!w.writeUs(p.data, p.tsUs)) await w.drain();
  }
  await w.close();
  fs.renameSync(tmp, file);
  return { packets: w.packets, bytes: w.bytes, conversations: params.sessions, vxlanPackets, seconds: (last - first) / 1e6 };
}
