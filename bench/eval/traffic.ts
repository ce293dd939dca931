/**
 * Labelled traffic of the evaluation cluster: a baseline of service-to-service calls with DNS
 * lookups; benign traffic that trips naive detectors (keep-alive Prometheus scrapes, API-server
 * watches and Kafka consumers held for hours and caught midstream at the capture's start, a Kafka
 * consumer carried in a VXLAN outer flow between the nodes, a SaaS name behind rotating addresses,
 * many long object-store bucket names, kubelet probes caught midstream, a periodic external
 * poller with variable sizes); injected anomalies of every detector's kind, each label naming
 * the connections it is about (the scorer matches alerts on evidence); and benign surprises (a
 * rollout, a new replica, CronJob runs) that must raise nothing. Two families: 'A', the one the
 * thresholds were developed on, and 'B', held out (other rates, intervals, jitter, sizes, times
 * and attacks: a 20-minute beacon inside the capture, an upload to a first-contact address, a
 * slow scan). Conversations are built with the sample generator's packet library (samples/lib),
 * so the capture is real Ethernet/IP/TCP/UDP that goes through the whole analyze pipeline.
 * Deterministic from the seed and the family.
 */
import { DnsRcode, DnsType, dnsMessage, httpRequest, httpResponse } from '../../samples/lib/packet-builder';
import {
  Rng,
  ethernetFramer,
  tcpSession,
  udpFlow,
  vxlanFramer,
  type Framer,
  type Pkt,
  type TcpClose,
  type TcpMessage,
  type TcpOpen,
} from '../../samples/lib/session';
import { Cluster, ROLLOUT_AT, SCALE_AT, SPAN, T0, type PodSpec } from './cluster';

/** An expected alert: this detector, about this source workload ("ns/name"). */
export interface EvalLabel {
  detector: string;
  source: string;
  /** Any of these names the destination (address, domain, "ns/name", "port:N", "node/NAME"); '*' is any. */
  dest: string[];
  what: string;
  /** The labelled connections, "client ip|client port": an alert matches only if its evidence holds one. */
  records: string[];
}

/** 'A': the family the thresholds were developed on; 'B': held out. */
export type Family = 'A' | 'B';

export interface DnsL7 {
  tsUs: number;
  client: string;
  clientPort: number;
  server: string;
  query: string;
  qtype: string;
  rcode: number;
  ips: string[];
}

export interface Conv {
  startUs: number;
  make: () => Iterator<Pkt>;
}

export interface Traffic {
  convs: Conv[];
  dns: DnsL7[];
  labels: EvalLabel[];
  /** "ip|port" of the clients of injected conversations: everything else is benign. */
  anomalous: Set<string>;
  /** Pods of the benign surprises (rollout, new replica, CronJob runs). */
  surprises: PodSpec[];
}

const mac = (ip: string): string => ['0a', '58', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
const gw = (ip: string): string => mac(`${ip.split('.').slice(0, 3).join('.')}.1`);

const DNS_SVC = '10.96.0.10';
const EXTERNAL = {
  paygate: { name: 'api.paygate.example', ip: '203.0.113.50', port: 443 },
  backup: { name: 'prod-orders-archive-2026.s3.eu-west-1.amazonaws.com', ip: '203.0.113.80', port: 443 },
  c2: { name: 'cdn-update.example.net', ip: '198.51.100.23', port: 80 },
};
const PARTNER = { name: 'api.partner.example', ip: '192.0.2.99' };
const H = 3600;

class Builder {
  readonly convs: Conv[] = [];
  readonly dns: DnsL7[] = [];
  readonly anomalous = new Set<string>();
  private readonly ports = new Map<string, number>();
  private anomaly = false;
  /** Anomalous connections since the last label, and those of the last label (consecutive labels share them). */
  private pending: string[] = [];
  private current: string[] = [];

  constructor(
    readonly rng: Rng,
    readonly cluster: Cluster,
  ) {}

  /** The connections of the next label: those injected since the previous label took theirs, else the same. */
  takeKeys(): string[] {
    if (this.pending.length > 0) {
      this.current = this.pending;
      this.pending = [];
    }
    return this.current;
  }

  private mark(key: string): void {
    if (!this.anomaly) return;
    this.anomalous.add(key);
    this.pending.push(key);
  }

  /** Runs `f` with its conversations marked anomalous. */
  inject(f: () => void): void {
    this.anomaly = true;
    f();
    this.anomaly = false;
  }

  private port(ip: string): number {
    const p = this.ports.get(ip) ?? 32768 + this.rng.int(0, 4000);
    this.ports.set(ip, p >= 60999 ? 32768 : p + 1);
    return p;
  }

  private us(t: number): number {
    return Math.round((T0 + t) * 1e6);
  }

  tcp(
    client: string,
    server: string,
    sport: number,
    t: number,
    messages: TcpMessage[],
    o: { rttUs?: number; open?: TcpOpen; close?: TcpClose; synRetries?: number; scanOpen?: boolean; framer?: Framer } = {},
  ): void {
    const cport = this.port(client);
    this.mark(`${client}|${cport}`);
    const rng = this.rng;
    const startUs = this.us(t);
    const rttUs = o.rttUs ?? rng.int(200, 900);
    const framer = o.framer ?? ethernetFramer(mac(client), gw(client));
    this.convs.push({
      startUs,
      make: () =>
        tcpSession({
          client: { mac: mac(client), ip: client, port: cport },
          server: { mac: gw(client), ip: server, port: sport },
          startUs,
          rttUs,
          messages,
          open: o.open,
          close: o.close,
          synRetries: o.synRetries,
          scanOpen: o.scanOpen,
          framer,
          rng,
        }),
    });
  }

  http(client: string, server: string, sport: number, t: number, host: string, path: string, resBytes: number, reqBody = 0, rttUs?: number): void {
    const body = reqBody > 0 ? Buffer.alloc(reqBody, 0x61) : undefined;
    this.tcp(
      client,
      server,
      sport,
      t,
      [
        { from: 'client', data: httpRequest(body ? 'POST' : 'GET', path, host, [['User-Agent', 'svc/1.0']], body) },
        { from: 'server', data: httpResponse(200, 'OK', [['Content-Type', 'application/json']], Buffer.alloc(resBytes, 0x7b)) },
      ],
      { rttUs },
    );
  }

  /** One DNS query and its answer through the cluster DNS service. */
  lookup(client: string, t: number, name: string, answer: { a?: string; nx?: boolean }, qtype: number = DnsType.A): void {
    const cport = this.port(client);
    this.mark(`${client}|${cport}`);
    const rng = this.rng;
    const id = rng.int(0, 0xffff);
    const rtt = rng.int(150, 600);
    const startUs = this.us(t);
    const rcode = answer.nx ? DnsRcode.NXDOMAIN : DnsRcode.NOERROR;
    const answers = answer.a && qtype === DnsType.A ? [{ name, type: DnsType.A, ttl: 30, data: answer.a }] : [];
    const q = dnsMessage({ id, response: false, rd: true, questions: [{ name, type: qtype }] });
    const r = dnsMessage({ id, response: true, rd: true, ra: true, rcode, questions: [{ name, type: qtype }], answers });
    const framer = ethernetFramer(mac(client), gw(client));
    this.convs.push({
      startUs,
      make: () =>
        udpFlow({
          client: { mac: mac(client), ip: client, port: cport },
          server: { mac: gw(client), ip: DNS_SVC, port: 53 },
          startUs,
          rttUs: rtt,
          messages: [
            { from: 'client', data: q },
            { from: 'server', data: r, gapUs: rtt },
          ],
          framer,
          rng,
        }),
    });
    const qn = qtype === DnsType.A ? 'A' : qtype === 16 ? 'TXT' : qtype === 10 ? 'NULL' : qtype === DnsType.AAAA ? 'AAAA' : String(qtype);
    this.dns.push({ tsUs: startUs + rtt, client, clientPort: cport, server: DNS_SVC, query: name, qtype: qn, rcode, ips: answers.map((x) => x.data) });
  }

  /** Poisson arrivals at `rate` per second over [from, to). */
  poisson(from: number, to: number, meanGap: number, f: (t: number) => void): void {
    for (let t = from + this.exp(meanGap); t < to; t += this.exp(meanGap)) f(t);
  }

  exp(mean: number): number {
    return -Math.log(1 - this.rng.next()) * mean;
  }

  /** Log-normal size around `median` (sigma 0.8): human/API traffic sizes. */
  size(median: number): number {
    const u1 = Math.max(1e-12, this.rng.next()),
      u2 = this.rng.next();
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    return Math.max(64, Math.round(median * Math.exp(0.8 * z)));
  }
}

function life(p: PodSpec): [number, number] {
  return [Math.max(0, p.from), Math.min(SPAN, p.to ?? SPAN)];
}

/** Per-family knobs of the benign traffic. */
interface Knobs {
  /** Multiplies the mean gaps of the Poisson clients. */
  gap: number;
  scrapeEvery: number;
  fetchEvery: number;
  probeEvery: number;
  pollEvery: number;
  /** The SaaS name's address pool before and after the rotation. */
  poolEarly: string[];
  poolLate: string[];
}

const KNOBS: Record<Family, Knobs> = {
  A: {
    gap: 1,
    scrapeEvery: 60,
    fetchEvery: 5,
    probeEvery: 30,
    pollEvery: 120,
    poolEarly: ['203.0.113.50', '203.0.113.51', '203.0.113.52'],
    poolLate: ['203.0.113.51', '203.0.113.53', '203.0.113.54'],
  },
  B: {
    gap: 1.3,
    scrapeEvery: 30,
    fetchEvery: 3,
    probeEvery: 20,
    pollEvery: 240,
    poolEarly: ['203.0.113.60', '203.0.113.61'],
    poolLate: ['203.0.113.62', '203.0.113.63', '203.0.113.64', '203.0.113.65'],
  },
};

function baseline(b: Builder, c: Cluster, k: Knobs): void {
  const rng = b.rng;
  const of = (ns: string, wl: string) => c.pods.filter((p) => p.ns === ns && p.workload === wl);
  for (const p of of('shop', 'frontend')) {
    const [from, to] = life(p);
    b.poisson(from, to, 12 * k.gap, (t) => {
      if (rng.next() < 0.25) b.lookup(p.ip, t - 0.003, 'api.shop.svc.cluster.local', { a: '10.96.10.1' });
      b.http(p.ip, '10.96.10.1', 80, t, 'api.shop', `/api/products?page=${rng.int(1, 40)}`, rng.int(800, 4000));
    });
  }
  const apiPods = of('shop', 'api');
  for (const p of apiPods) {
    const [from, to] = life(p);
    b.poisson(from, to, 15 * k.gap, (t) =>
      b.tcp(p.ip, '10.96.10.2', 5432, t, [
        { from: 'client', data: Buffer.alloc(rng.int(120, 400), 0x51) },
        { from: 'server', data: Buffer.alloc(rng.int(200, 3000), 0x44) },
      ]),
    );
    b.poisson(from, to, 20 * k.gap, (t) =>
      b.tcp(p.ip, '10.96.10.3', 6379, t, [
        { from: 'client', data: Buffer.from(`*2\r\n$3\r\nGET\r\n$12\r\nsession:${rng.int(1000, 9999)}\r\n`) },
        { from: 'server', data: Buffer.alloc(rng.int(10, 500), 0x24) },
      ]),
    );
    b.poisson(from, to, 60 * k.gap, (t) => b.http(p.ip, '10.96.20.1', 8080, t, 'ledger.payments', '/v1/entries', rng.int(100, 400), rng.int(200, 800)));
    // The SaaS name answers from a rotating pool (DNS round robin), and the pool changes after 2 h.
    let current = '';
    b.poisson(from, to, 60 * k.gap, (t) => {
      if (current === '' || rng.next() < 0.5) {
        const pool = t < 2 * H ? k.poolEarly : k.poolLate;
        current = pool[rng.int(0, pool.length - 1)];
        b.lookup(p.ip, t - 0.004, EXTERNAL.paygate.name, { a: current });
      }
      b.tcp(
        p.ip,
        current,
        443,
        t,
        [
          { from: 'client', data: Buffer.alloc(b.size(900), 0x16) },
          { from: 'server', data: Buffer.alloc(b.size(2500), 0x17) },
        ],
        { rttUs: rng.int(15_000, 40_000) },
      );
    });
  }
  // Backups to an object store from whichever api pod is up: irregular, sizes vary.
  b.poisson(0, SPAN, 120 * k.gap, (t) => {
    const p = c.live('shop', 'api', t)[0];
    if (!p) return;
    if (rng.next() < 0.5) b.lookup(p.ip, t - 0.004, EXTERNAL.backup.name, { a: EXTERNAL.backup.ip });
    b.tcp(
      p.ip,
      EXTERNAL.backup.ip,
      443,
      t,
      [
        { from: 'client', data: Buffer.alloc(b.size(3000), 0x17) },
        { from: 'server', data: Buffer.alloc(b.size(400), 0x17) },
      ],
      { rttUs: rng.int(10_000, 30_000) },
    );
  });
  for (const p of of('shop', 'worker')) {
    const [from, to] = life(p);
    b.poisson(from, to, 30 * k.gap, (t) => {
      if (rng.next() < 0.25) b.lookup(p.ip, t - 0.003, 'api.shop.svc.cluster.local', { a: '10.96.10.1' });
      b.http(p.ip, '10.96.10.1', 80, t, 'api.shop', '/internal/jobs', rng.int(200, 1500));
    });
    b.poisson(from, to, 60 * k.gap, (t) =>
      b.tcp(p.ip, '10.96.10.3', 6379, t, [
        { from: 'client', data: Buffer.from('*1\r\n$4\r\nPING\r\n') },
        { from: 'server', data: Buffer.from('+PONG\r\n') },
      ]),
    );
  }
  for (const p of of('payments', 'ledger')) {
    b.poisson(0, SPAN, 90 * k.gap, (t) => {
      if (rng.next() < 0.3) b.lookup(p.ip, t - 0.004, PARTNER.name, { a: PARTNER.ip });
      b.tcp(
        p.ip,
        PARTNER.ip,
        443,
        t,
        [
          { from: 'client', data: Buffer.alloc(b.size(1200), 0x16) },
          { from: 'server', data: Buffer.alloc(b.size(900), 0x17) },
        ],
        { rttUs: rng.int(20_000, 40_000) },
      );
    });
  }
  for (const p of of('shop', 'toolbox')) {
    b.poisson(0, SPAN, 600 * k.gap, (t) => {
      b.lookup(p.ip, t - 0.003, 'api.shop.svc.cluster.local', { a: '10.96.10.1' });
      b.http(p.ip, '10.96.10.1', 80, t, 'api.shop', '/healthz', 20);
    });
  }
  // Prometheus scrapes the kubelets and the api pods every minute; the operator watches the API server.
  const prom = of('monitoring', 'prometheus')[0];
  for (let t = 7; t < SPAN; t += 60) {
    for (const n of ['192.168.10.11', '192.168.10.12']) b.http(prom.ip, n, 10250, t + rng.next() * 0.2, n, '/metrics/cadvisor', rng.int(3000, 6000));
    for (const p of c.live('shop', 'api', t)) b.http(prom.ip, p.ip, 8080, t + 0.3 + rng.next() * 0.2, `${p.ip}:8080`, '/metrics', rng.int(1500, 3000));
    // The rollout: Prometheus scrapes a deleted pod's address twice more (refused) before its target list catches up.
    for (const p of of('shop', 'api')) {
      if (p.to !== null && t >= p.to && t < p.to + 120) b.tcp(prom.ip, p.ip, 8080, t + 0.3 + rng.next() * 0.2, [], { open: 'reject' });
    }
  }
  const op = of('ops', 'operator')[0];
  for (let t = 3; t < SPAN; t += 30) {
    b.tcp(op.ip, '10.96.0.1', 443, t + rng.next(), [
      { from: 'client', data: Buffer.alloc(rng.int(300, 600), 0x16) },
      { from: 'server', data: Buffer.alloc(rng.int(1000, 4000), 0x17) },
    ]);
  }
  // CronJob runs: a fresh pod each hour talks to the api and the database for two minutes.
  for (const p of of('batch', 'report')) {
    const [from] = life(p);
    b.lookup(p.ip, from + 5, 'api.shop.svc.cluster.local', { a: '10.96.10.1' });
    for (let i = 0; i < 10; i++) b.http(p.ip, '10.96.10.1', 80, from + 6 + i * 10 + rng.next(), 'api.shop', '/reports/daily', rng.int(2000, 9000));
    for (let i = 0; i < 5; i++)
      b.tcp(p.ip, '10.96.10.2', 5432, from + 8 + i * 20 + rng.next(), [
        { from: 'client', data: Buffer.alloc(300, 0x51) },
        { from: 'server', data: Buffer.alloc(rng.int(2000, 8000), 0x44) },
      ]);
  }
}

const NODE_L2 = {
  'node-1': { ip: '192.168.10.11', mac: '52:54:00:0a:00:11', vtepMac: '6e:1f:00:00:00:11' },
  'node-2': { ip: '192.168.10.12', mac: '52:54:00:0a:00:12', vtepMac: '6e:1f:00:00:00:12' },
};

/**
 * Benign traffic that a naive detector alerts on: long-lived keep-alive connections (scrapes,
 * watches, consumers) held for hours and caught midstream when the capture starts, a VXLAN outer
 * flow, kubelet probes caught midstream, many object-store bucket names, a periodic poller.
 */
function hardBenign(b: Builder, c: Cluster, k: Knobs): void {
  const rng = b.rng;
  const of = (ns: string, wl: string) => c.pods.filter((p) => p.ns === ns && p.workload === wl);
  /** A keep-alive connection from `from` to `to` (data time), one exchange every `every` s; open before the capture = caught midstream. */
  const held = (
    client: string,
    server: string,
    port: number,
    from: number,
    to: number,
    every: number,
    req: () => Buffer,
    res: () => Buffer,
    framer?: Framer,
    jitter = 0,
  ) => {
    const start = Math.max(from, 0) + rng.next() * 2;
    const m: TcpMessage[] = [];
    for (let t = start + 0.5; t < to - 1; t += every * (1 + (rng.next() - 0.5) * 2 * jitter)) {
      m.push({ from: 'client', data: req(), gapUs: m.length === 0 ? 500_000 : Math.round(every * 1e6) }, { from: 'server', data: res() });
    }
    b.tcp(client, server, port, start, m, { open: from <= 0 ? 'midstream' : 'handshake', close: to >= SPAN ? 'none' : 'fin', framer });
  };
  const prom = of('monitoring', 'prometheus')[0];
  // Prometheus keeps one connection per frontend pod and scrapes it over and over.
  for (const p of of('shop', 'frontend')) {
    const [from, to] = life(p);
    held(
      prom.ip,
      p.ip,
      8080,
      p.from,
      to,
      k.scrapeEvery,
      () => httpRequest('GET', '/metrics', `${p.ip}:8080`, [['Accept', 'text/plain']]),
      () => httpResponse(200, 'OK', [['Content-Type', 'text/plain']], Buffer.alloc(rng.int(1500, 3000), 0x23)),
    );
    void from;
  }
  // API-server watches: the operator and Prometheus's service discovery, one HTTP/2 connection each for the whole capture.
  const op = of('ops', 'operator')[0];
  for (const [who, every] of [
    [op.ip, 45],
    [prom.ip, 90],
  ] as const)
    held(
      who,
      '10.96.0.1',
      443,
      -1,
      SPAN,
      every,
      () => Buffer.alloc(rng.int(40, 120), 0x17),
      () => Buffer.alloc(rng.int(300, 6000), 0x17),
      undefined,
      0.8,
    );
  // Kafka consumers: each worker pod holds a connection to the brokers and fetches every few seconds.
  const kafkaReq = () => Buffer.alloc(rng.int(80, 140), 0x00);
  const kafkaRes = () => Buffer.alloc(rng.int(60, 4000), 0x00);
  for (const p of of('shop', 'worker')) held(p.ip, '10.96.10.4', 9092, p.from, SPAN, k.fetchEvery, kafkaReq, kafkaRes);
  // A second consumer of the node-1 worker, seen on the underlay: inside a VXLAN outer flow to node-2 (after DNAT: the broker pod).
  const w1 = of('shop', 'worker').find((p) => p.node === 'node-1');
  if (w1 !== undefined) {
    const framer = vxlanFramer({
      origNode: NODE_L2['node-1'],
      respNode: NODE_L2['node-2'],
      vni: 1,
      sportOrig: 41_000 + rng.int(0, 999),
      sportResp: 52_000 + rng.int(0, 999),
      ipIds: new Map(),
    });
    held(w1.ip, '10.244.2.33', 9092, -1, SPAN, k.fetchEvery * 2, kafkaReq, kafkaRes, framer);
  }
  // Kubelet probes of the pods on each node; the round in flight when the capture starts is caught midstream (only its close seen).
  for (const p of c.pods.filter((x) => x.ports.some((q) => q.port === 8080))) {
    const kubelet = NODE_L2[p.node].ip;
    const [from, to] = life(p);
    b.tcp(kubelet, p.ip, 8080, Math.max(from, 0) + 0.001 + rng.next() * 0.01, [], { open: 'midstream', close: 'fin' });
    for (let t = Math.max(from, 0) + rng.next() * k.probeEvery; t < to - 1; t += k.probeEvery) b.http(kubelet, p.ip, 8080, t, `${p.ip}:8080`, '/healthz', 2);
  }
  // Object-store buckets: the api's export job touches many long bucket names, each resolved and then connected to.
  const buckets: string[] = [];
  for (let i = 0; i < 40; i++) buckets.push(`tenant-${hex(rng, 8)}-exports-${['eu', 'us', 'ap'][i % 3]}.s3.eu-west-1.amazonaws.com`);
  // The job lists its buckets when it starts (within the first half hour), then touches them at random.
  for (let i = 0; i < buckets.length; i++) {
    const t = 60 + i * 40 + rng.next() * 10;
    const p = c.live('shop', 'api', t)[0];
    if (!p) continue;
    const ip = `198.18.${1 + (buckets[i].charCodeAt(7) % 8)}.${10 + (buckets[i].charCodeAt(8) % 200)}`;
    b.lookup(p.ip, t - 0.004, buckets[i], { a: ip });
    b.tcp(p.ip, ip, 443, t, [
      { from: 'client', data: Buffer.from('list-objects') },
      { from: 'server', data: Buffer.alloc(b.size(900), 0x17) },
    ]);
  }
  b.poisson(0, SPAN, 45 * k.gap, (t) => {
    const p = c.live('shop', 'api', t)[0];
    if (!p) return;
    const name = t < 1800 ? buckets[Math.floor((t / 1800) * buckets.length)] : buckets[Math.floor(rng.next() * buckets.length)];
    const ip = `198.18.${1 + (name.charCodeAt(7) % 8)}.${10 + (name.charCodeAt(8) % 200)}`;
    b.lookup(p.ip, t - 0.004, name, { a: ip });
    b.tcp(
      p.ip,
      ip,
      443,
      t,
      [
        { from: 'client', data: Buffer.alloc(b.size(2000), 0x16) },
        { from: 'server', data: Buffer.alloc(b.size(600), 0x17) },
      ],
      { rttUs: rng.int(10_000, 30_000) },
    );
  });
  // A benign external poller (a licence check) at a fixed interval with variable answers, running from the start.
  for (const p of of('shop', 'worker').slice(0, 1)) {
    for (let t = 20; t < SPAN - 10; t += k.pollEvery * (1 + (rng.next() - 0.5) * 0.06)) {
      if (rng.next() < 0.2) b.lookup(p.ip, t - 0.004, 'license.vendor.example', { a: '192.0.2.150' });
      b.http(p.ip, '192.0.2.150', 443, t, 'license.vendor.example', '/v2/check', rng.int(800, 3000), 0, rng.int(15_000, 30_000));
    }
  }
}

function hex(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[rng.int(0, 15)];
  return s;
}

function anomalies(b: Builder, c: Cluster, fam: Family): EvalLabel[] {
  const rng = b.rng;
  const B = fam === 'B';
  const pod = (name: string) => c.pods.find((p) => p.name.endsWith(name))!;
  const toolbox = pod('v5b6n'),
    worker1 = pod('h7j8k'),
    worker2 = pod('z3x4c'),
    fe1 = pod('abcde'),
    fe2 = pod('fghij'),
    fe3 = pod('klmno');
  const apiOld1 = pod('xk2lp'),
    apiOld2 = pod('m9n8b'),
    postgres = pod('postgres-0'),
    redis = pod('redis-0'),
    ledger = pod('p0o9i'),
    operator = pod('g5f4d');
  const labels: EvalLabel[] = [];
  const L = (detector: string, source: PodSpec, dest: string[], what: string) =>
    labels.push({ detector, source: `${source.ns}/${source.workload}`, dest, what, records: b.takeKeys() });
  const ssh = (): TcpMessage[] => [
    { from: 'client', data: Buffer.from('SSH-2.0-OpenSSH_9.6\r\n') },
    { from: 'server', data: Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n') },
    { from: 'client', data: Buffer.alloc(1400, 0x14) },
    { from: 'server', data: Buffer.alloc(1100, 0x14) },
    { from: 'client', data: Buffer.alloc(3000, 0x5e) },
  ];
  const session = (n: number): TcpMessage[] => [
    { from: 'client', data: Buffer.alloc(n, 0x30) },
    { from: 'server', data: Buffer.alloc(2 * n, 0x31) },
    { from: 'client', data: Buffer.alloc(n, 0x32) },
  ];
  const keepalive = (count: number, everyS: number): TcpMessage[] => {
    const m: TcpMessage[] = [];
    for (let i = 0; i < count; i++)
      m.push(
        { from: 'client', data: Buffer.from('*1\r\n$4\r\nPING\r\n'), gapUs: i === 0 ? 1000 : everyS * 1e6 },
        { from: 'server', data: Buffer.from('+PONG\r\n') },
      );
    return m;
  };
  const beacon = (
    src: PodSpec,
    ip: string,
    port: number,
    host: string,
    from: number,
    every: number,
    jitter: number,
    resBytes: number | [number, number],
    dnsEvery: number | null,
    until = SPAN - every,
  ) => {
    let nextDns = from;
    for (let t = from; t < until; t += every) {
      const at = t + (rng.next() - 0.5) * 2 * jitter * every;
      if (dnsEvery !== null && t >= nextDns) {
        b.lookup(src.ip, at - 0.005, host, { a: ip });
        nextDns = t + dnsEvery;
      }
      const size = typeof resBytes === 'number' ? resBytes : rng.int(resBytes[0], resBytes[1]);
      b.http(src.ip, ip, port, at, host, '/update/check?v=3', size, 0, 25_000);
    }
  };

  b.inject(() => {
    // Scans: fast vertical, a sweep of a /26 with nothing on it, a slow vertical, a sweep for SSH.
    // B: a slow vertical scan (one port / 20 s), a sweep of 40 hosts, a slower redis scan, a shorter SSH sweep.
    const vn = B ? 30 : 150;
    for (let i = 0; i < vn; i++) b.tcp(toolbox.ip, postgres.ip, 1 + i, (B ? 7400 : 5400) + i * (B ? 20 : 0.02), [], { open: 'syn-scan', scanOpen: false });
    L('scan', toolbox, ['shop/postgres', postgres.ip], 'vertical scan of postgres-0');
    for (let i = 0; i < (B ? 40 : 60); i++)
      b.tcp(toolbox.ip, `10.244.${B ? 5 : 3}.${i + 2}`, 8080, (B ? 9900 : 5500) + i * (B ? 0.7 : 0.05), [], { open: 'unanswered', synRetries: 1 });
    L('scan', toolbox, ['port:8080'], 'sweep of 8080 over a /26');
    for (let i = 0; i < 40; i++) b.tcp(fe2.ip, redis.ip, 6000 + i, 12_000 + i * (B ? 5 : 2), [], { open: 'syn-scan', scanOpen: false });
    L('scan', fe2, ['shop/redis', redis.ip], 'slow vertical scan of redis-0');
    for (let i = 0; i < (B ? 25 : 30); i++)
      b.tcp(worker1.ip, `10.244.4.${i + 2}`, 22, (B ? 15_500 : 13_000) + i * 0.5, [], { open: 'unanswered', synRetries: 1 });
    L('scan', worker1, ['port:22'], 'SSH sweep over 10.244.4.0/27');

    // Remote administration between pods (each a new edge too).
    b.tcp(toolbox.ip, apiOld1.ip, 22, 6000, ssh());
    L('lateral-admin', toolbox, ['shop/api', apiOld1.ip], 'ssh into an api pod');
    L('new-edge', toolbox, ['shop/api', apiOld1.ip], 'ssh edge');
    b.tcp(toolbox.ip, worker1.ip, 445, 11_000, session(2000));
    L('lateral-admin', toolbox, ['shop/worker', worker1.ip], 'SMB to a worker pod');
    L('new-edge', toolbox, ['shop/worker', worker1.ip], 'SMB edge');
    b.tcp(worker1.ip, redis.ip, 5900, 14_000, session(5000));
    L('lateral-admin', worker1, ['shop/redis', redis.ip], 'VNC to the redis pod');
    L('new-edge', worker1, ['shop/redis', redis.ip], 'VNC edge');
    b.tcp(operator.ip, fe1.ip, 23, 15_000, session(300));
    L('lateral-admin', operator, ['shop/frontend', fe1.ip], 'telnet into a frontend pod');
    L('new-edge', operator, ['shop/frontend', fe1.ip], 'telnet edge');
  });

  b.inject(() => {
    // Beacons: exact, with 10 % and 20 % jitter, by name and by address.
    if (B) {
      // A 20-minute beacon inside the capture: 60 s ± 2.5 s, responses 3.3-6.1 kB.
      beacon(worker1, EXTERNAL.c2.ip, 80, EXTERNAL.c2.name, 3.2 * H, 60, 2.5 / 60, [3300, 6100], 300, 3.2 * H + 1200);
    } else beacon(worker1, EXTERNAL.c2.ip, 80, EXTERNAL.c2.name, 2 * H, 60, 0.008, 512, 300);
    L('beacon', worker1, [EXTERNAL.c2.name], 'every 60 s to cdn-update.example.net');
    L('new-edge', worker1, [EXTERNAL.c2.ip, EXTERNAL.c2.name], 'C2 edge');
    beacon(fe3, '198.51.100.77', 443, '198.51.100.77', 2 * H, B ? 180 : 300, 0.1, B ? [2000, 8000] : 300, null);
    L('beacon', fe3, ['198.51.100.77'], 'every 300 s (B: 180 s, 2-8 kB) ±10 % to an address');
    L('new-edge', fe3, ['198.51.100.77'], 'C2 edge');
    beacon(toolbox, '203.0.113.140', 80, 'telemetry.badcdn.example', (B ? 1.5 : 2.5) * H, B ? 90 : 120, B ? 0.15 : 0.2, B ? [500, 1500] : 800, 600);
    L('beacon', toolbox, ['telemetry.badcdn.example'], 'every 120 s ±20 % (B: 90 s ±15 %, 0.5-1.5 kB)');
    L('new-edge', toolbox, ['203.0.113.140', 'telemetry.badcdn.example'], 'C2 edge');
    beacon(ledger, '192.0.2.200', 8443, '192.0.2.200', (B ? 4 : 1.5) * H, B ? 45 : 30, 0.05, 256, null, B ? 5.5 * H : SPAN - 30);
    L('beacon', ledger, ['192.0.2.200'], 'every 30 s ±5 % (B: 45 s for 1.5 h)');
    L('new-edge', ledger, ['192.0.2.200'], 'C2 edge');

    // Sensitive destinations.
    for (let i = 0; i < 5; i++)
      b.tcp(worker2.ip, '10.96.0.1', 443, 9000 + i * 5, [
        { from: 'client', data: Buffer.alloc(500, 0x16) },
        { from: 'server', data: Buffer.alloc(3000, 0x17) },
      ]);
    L('sensitive-destination', worker2, ['default/kubernetes', '10.96.0.1', '192.168.10.10'], 'worker reads the API server');
    L('new-edge', worker2, ['default/kubernetes', '10.96.0.1', '192.168.10.10'], 'API server edge');
    for (let i = 0; i < 3; i++)
      b.http(fe1.ip, '169.254.169.254', 80, 8000 + i * 10, '169.254.169.254', '/latest/meta-data/iam/security-credentials/node-role', 1200);
    L('sensitive-destination', fe1, ['169.254.169.254'], 'frontend reads cloud metadata credentials');
    L('new-edge', fe1, ['169.254.169.254'], 'metadata edge');
    for (let i = 0; i < 2; i++) b.http(toolbox.ip, '192.168.10.12', 10250, 16_000 + i * 30, '192.168.10.12:10250', '/pods', 9000);
    L('sensitive-destination', toolbox, ['192.168.10.12', 'node/node-2'], 'toolbox lists pods on a kubelet');
    L('new-edge', toolbox, ['192.168.10.12', 'node/node-2'], 'kubelet edge');
    b.http(ledger.ip, '169.254.169.254', 80, 17_000, '169.254.169.254', '/latest/user-data', 800);
    L('sensitive-destination', ledger, ['169.254.169.254'], 'ledger reads instance user-data');
    L('new-edge', ledger, ['169.254.169.254'], 'metadata edge');

    // Long connections: kept open with keepalives (interim records report them while open).
    b.tcp(worker2.ip, '10.96.10.3', 6379, 6000, keepalive(37, 240));
    L('long-connection', worker2, ['shop/redis', '10.96.10.3', redis.ip], 'redis connection open 2.4 h');
    b.tcp(toolbox.ip, '203.0.113.200', 443, 12_500, keepalive(24, 250), { rttUs: 30_000 });
    L('long-connection', toolbox, ['203.0.113.200'], 'external connection open 1.6 h');
    L('new-edge', toolbox, ['203.0.113.200'], 'external edge');
    // After the learning window: a connection open while learning is what the edge habitually holds.
    b.tcp(apiOld2.ip, '10.96.10.2', 5432, B ? 4400 : 3700, keepalive(B ? 24 : 28, 250));
    L('long-connection', apiOld2, ['shop/postgres', '10.96.10.2', postgres.ip], 'database connection open 2.6 h');
  });

  b.inject(() => {
    // Policy violations (dropped: SYNs without answer).
    for (let i = 0; i < 3; i++) b.tcp(fe3.ip, '10.96.20.1', 8080, 8500 + i * 7, [], { open: 'unanswered', synRetries: 2 });
    L('policy-violation', fe3, ['payments/ledger', '10.96.20.1', ledger.ip], 'frontend to payments/ledger');
    for (let i = 0; i < 2; i++) b.tcp(worker2.ip, '10.96.20.1', 8080, 15_500 + i * 9, [], { open: 'unanswered', synRetries: 2 });
    L('policy-violation', worker2, ['payments/ledger', '10.96.20.1', ledger.ip], 'worker to payments/ledger');
    b.tcp(toolbox.ip, ledger.ip, 8080, 16_500, [], { open: 'unanswered', synRetries: 2 });
    L('policy-violation', toolbox, ['payments/ledger', ledger.ip], 'toolbox to the ledger pod');

    // DNS: a TXT tunnel, an A-record tunnel, NULL queries, a DGA burst, a name queried and never used.
    for (let i = 0; i < 300; i++) b.lookup(apiOld1.ip, 7000 + i * 2, `${hex(rng, 50)}.tn.x7-relay.net`, {}, 16);
    L('dns-tunnel', apiOld1, ['x7-relay.net'], 'TXT tunnel');
    for (let i = 0; i < 200; i++) b.lookup(worker2.ip, 11_000 + i * 3, `${b32(rng, 40)}.${b32(rng, 12)}.d.qz-sync.com`, {});
    L('dns-tunnel', worker2, ['qz-sync.com'], 'A-record tunnel, base32 names');
    for (let i = 0; i < 40; i++) b.lookup(toolbox.ip, 13_500 + i * 5, `q${i}.n.null-chan.org`, {}, 10);
    L('dns-tunnel', toolbox, ['null-chan.org'], 'NULL record queries');
    for (let i = 0; i < 30; i++) {
      const n = rng.int(10, 16);
      let name = '';
      for (let j = 0; j < n; j++) name += 'abcdefghijklmnopqrstuvwxyz0123456789'[rng.int(0, 35)];
      b.lookup(fe2.ip, 9500 + i * 2, `${name}.${rng.next() < 0.5 ? 'com' : 'net'}`, { nx: true });
    }
    L('dns-tunnel', fe2, ['*'], 'DGA-like NXDOMAIN burst');
    for (let i = 0; i < 150; i++) b.lookup(ledger.ip, 14_000 + i * 20, 'status.partner-feed.example', { a: '192.0.2.55' });
    L('dns-tunnel', ledger, ['partner-feed.example'], 'queried 150 times, never connected to');

    // Exfiltration: far above each edge's own baseline.
    b.tcp(
      apiOld2.ip,
      EXTERNAL.backup.ip,
      443,
      9800,
      [
        { from: 'client', data: Buffer.alloc(8_000_000, 0x17) },
        { from: 'server', data: Buffer.alloc(300, 0x17) },
      ],
      { rttUs: 20_000 },
    );
    L('exfiltration', apiOld2, ['203.0.113.80', EXTERNAL.backup.name], '8 MB to the object store (baseline ~8 KB per 5 min)');
    b.tcp(fe1.ip, '10.96.10.1', 80, 15_200, [
      { from: 'client', data: httpRequest('POST', '/api/upload', 'api.shop', [], Buffer.alloc(8_000_000, 0x41)) },
      { from: 'server', data: httpResponse(200, 'OK', [], Buffer.alloc(50, 0x7b)) },
    ]);
    L('exfiltration', fe1, ['shop/api', '10.96.10.1'], '8 MB posted to the api (baseline a few KB)');
    if (B) {
      // About 50x the worker's usual hourly egress, to an address it never talked to.
      b.tcp(
        worker2.ip,
        '198.51.100.99',
        443,
        17_300,
        [
          { from: 'client', data: Buffer.alloc(7_500_000, 0x17) },
          { from: 'server', data: Buffer.alloc(200, 0x17) },
        ],
        { rttUs: 25_000 },
      );
      L('exfiltration', worker2, ['198.51.100.99'], '7.5 MB to a first-contact address (~50x the pod hourly egress)');
      L('new-edge', worker2, ['198.51.100.99'], 'upload edge');
    } else {
      b.tcp(
        ledger.ip,
        PARTNER.ip,
        443,
        16_800,
        [
          { from: 'client', data: Buffer.alloc(3_000_000, 0x17) },
          { from: 'server', data: Buffer.alloc(200, 0x17) },
        ],
        { rttUs: 25_000 },
      );
      L('exfiltration', ledger, [PARTNER.ip], '3 MB to the partner API (baseline ~2 KB)');
    }
    // One frontend replica of three, half an hour in (no egress history yet, the edge learned as
    // new-edge's window is still open), to an address no replica ever used: only its siblings,
    // which send ~10 kB per 5 minutes each, say it is out of place.
    b.tcp(
      fe3.ip,
      '198.51.100.140',
      443,
      B ? 2100 : 1800,
      [
        { from: 'client', data: Buffer.alloc(6_000_000, 0x17) },
        { from: 'server', data: Buffer.alloc(200, 0x17) },
      ],
      { rttUs: 30_000 },
    );
    L('exfiltration', fe3, ['198.51.100.140'], '6 MB from one frontend replica to a first-contact address 30 min in (siblings ~10 kB per 5 min)');
  });
  return labels;
}

function b32(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += 'abcdefghijklmnopqrstuvwxyz234567'[rng.int(0, 31)];
  return s;
}

export function buildTraffic(seed: number, cluster = new Cluster(), fam: Family = 'A'): Traffic {
  const b = new Builder(new Rng(seed), cluster);
  baseline(b, cluster, KNOBS[fam]);
  hardBenign(b, cluster, KNOBS[fam]);
  const labels = anomalies(b, cluster, fam);
  // Stable order by start (ties keep build order): mergeByTime needs conversations sorted.
  const order = b.convs.map((c, i) => [c.startUs, i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const convs = order.map(([, i]) => b.convs[i]);
  b.dns.sort((x, y) => x.tsUs - y.tsUs);
  const surprises = cluster.pods.filter(
    (p) => p.workload === 'report' || (p.workload === 'api' && p.from >= ROLLOUT_AT - 60) || (p.workload === 'frontend' && p.from >= SCALE_AT),
  );
  return { convs, dns: b.dns, labels, anomalous: b.anomalous, surprises };
}
