/**
 * Deterministic generator of the small sample captures committed in samples/.
 *
 *   node dist/samples/generate.js [outdir]      (default: samples/)
 *
 * Everything derives from fixed seeds and a fixed base time (2026-01-15T10:00:00Z): no clock,
 * no Math.random, so regenerating gives byte-identical files (test/samples checks this).
 * Next to each capture it writes <name>.conn.json: the connection records a Zeek-compatible
 * analyser should produce (5-tuple, state, history, packet/byte counts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DnsRcode, DnsType, dnsMessage, httpRequest, httpResponse, type DnsRecord } from './lib/packet-builder';
import { PcapWriter } from './lib/pcap-writer';
import {
  Rng,
  ethernetFramer,
  mergeByTime,
  newTcpExpect,
  newUdpExpect,
  tcpSession,
  udpFlow,
  vxlanFramer,
  type ConnExpect,
  type Conversation,
  type Framer,
  type Node,
  type OuterTally,
  type Peer,
  type TcpSessionSpec,
} from './lib/session';

export const BASE_US = Date.UTC(2026, 0, 15, 10, 0, 0) * 1000;

export interface SampleResult {
  name: string;
  file: string;
  packets: number;
  bytes: number;
  /** Expected connection records, sorted by first packet time. */
  connections: ConnExpect[];
}

// ---------------------------------------------------------------- cluster model

/** The CNI bridge plugin derives a pod's MAC from its IP: 0a:58 followed by the 4 address bytes. */
export function podMac(ip: string): string {
  return ['0a', '58', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

const gatewayMac = (podIp: string) => podMac(`${podIp.split('.').slice(0, 3).join('.')}.1`);

export const NODES: Record<'n1' | 'n2', Node> = {
  n1: { mac: '52:54:00:6b:10:11', ip: '192.168.10.11', vtepMac: 'ce:3e:91:5a:0b:11' },
  n2: { mac: '52:54:00:6b:10:12', ip: '192.168.10.12', vtepMac: 'ce:3e:91:5a:0b:12' },
};

export const PODS = {
  frontend1: '10.244.1.10',
  frontend2: '10.244.1.11',
  frontend3: '10.244.2.10',
  api1: '10.244.1.20',
  api2: '10.244.2.20',
  postgres: '10.244.2.30',
  redis: '10.244.2.31',
  coredns1: '10.244.1.2',
  coredns2: '10.244.2.2',
  statsd: '10.244.2.40',
  debug: '10.244.1.66',
} as const;

export const SERVICES = {
  dns: '10.96.0.10',
  api: '10.96.12.34',
  postgres: '10.96.45.6',
  redis: '10.96.78.9',
} as const;

const FQDN = {
  api: 'api.default.svc.cluster.local',
  postgres: 'postgres.default.svc.cluster.local',
  redis: 'redis.cache.svc.cluster.local',
} as const;

/** Client side of a conversation, seen on its pod's veth: pod MAC <-> its node's cni0 gateway. */
function podFramer(clientIp: string): Framer {
  return ethernetFramer(podMac(clientIp), gatewayMac(clientIp));
}

class Builder {
  readonly convs: Conversation[] = [];
  readonly expects: ConnExpect[] = [];
  readonly usedPorts = new Set<string>();
  constructor(readonly rng: Rng) {}

  /** An ephemeral port not used before by this client (5-tuples stay unique within a sample). */
  port(clientIp: string): number {
    for (;;) {
      const p = this.rng.ephemeralPort();
      const k = `${clientIp}:${p}`;
      if (!this.usedPorts.has(k)) {
        this.usedPorts.add(k);
        return p;
      }
    }
  }

  tcp(spec: Omit<TcpSessionSpec, 'rng'> & { label: string }): void {
    const e = newTcpExpect(spec.client, spec.server, spec.label);
    this.expects.push(e);
    this.convs.push({ startUs: spec.startUs, packets: tcpSession({ ...spec, rng: this.rng }, e) });
  }

  udp(
    client: Peer,
    server: Peer,
    startUs: number,
    rttUs: number,
    messages: { from: 'client' | 'server'; data: Buffer; gapUs?: number }[],
    framer: Framer,
    label: string,
  ): void {
    const e = newUdpExpect(client, server, label);
    this.expects.push(e);
    this.convs.push({ startUs, packets: udpFlow({ client, server, startUs, rttUs, messages, framer, rng: this.rng }, e) });
  }

  /** glibc-style lookup: A and AAAA queries from one socket, answered by CoreDNS. */
  dnsLookup(clientIp: string, serverIp: string, startUs: number, name: string, answer: DnsLookupAnswer, framer: Framer, label: string): number {
    const id1 = this.rng.int(0, 0xffff),
      id2 = this.rng.int(0, 0xffff);
    const q = (id: number, type: number) => dnsMessage({ id, response: false, rd: true, questions: [{ name, type }] });
    const soa: DnsRecord = {
      name: 'cluster.local',
      type: DnsType.SOA,
      ttl: 30,
      data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1768470000, refresh: 7200, retry: 1800, expire: 86400, minimum: 30 },
    };
    const r = (id: number, type: number): Buffer => {
      const base = { id, response: true, aa: true, rd: true, ra: true, questions: [{ name, type }] };
      if (answer.kind === 'nxdomain') return dnsMessage({ ...base, rcode: DnsRcode.NXDOMAIN, authority: [soa] });
      if (type === DnsType.AAAA) return dnsMessage({ ...base, authority: [soa] });
      const answers: DnsRecord[] = [];
      let target = name;
      if (answer.cname) {
        answers.push({ name, type: DnsType.CNAME, ttl: 30, data: answer.cname });
        target = answer.cname;
      }
      answers.push({ name: target, type: DnsType.A, ttl: 30, data: answer.a });
      return dnsMessage({ ...base, answers });
    };
    const port = this.port(clientIp);
    const rtt = this.rng.int(150, 600);
    this.udp(
      { mac: podMac(clientIp), ip: clientIp, port },
      { mac: gatewayMac(clientIp), ip: serverIp, port: 53 },
      startUs,
      rtt,
      [
        { from: 'client', data: q(id1, DnsType.A) },
        { from: 'client', data: q(id2, DnsType.AAAA), gapUs: 40 },
        { from: 'server', data: r(id1, DnsType.A), gapUs: rtt },
        { from: 'server', data: r(id2, DnsType.AAAA), gapUs: 60 },
      ],
      framer,
      label,
    );
    return startUs + rtt + 200;
  }

  dnsSrv(clientIp: string, startUs: number, name: string, target: string, port: number, framer: Framer): void {
    const id = this.rng.int(0, 0xffff);
    const rtt = this.rng.int(150, 600);
    this.udp(
      { mac: podMac(clientIp), ip: clientIp, port: this.port(clientIp) },
      { mac: gatewayMac(clientIp), ip: SERVICES.dns, port: 53 },
      startUs,
      rtt,
      [
        { from: 'client', data: dnsMessage({ id, response: false, questions: [{ name, type: DnsType.SRV }] }) },
        {
          from: 'server',
          data: dnsMessage({
            id,
            response: true,
            aa: true,
            ra: true,
            questions: [{ name, type: DnsType.SRV }],
            answers: [{ name, type: DnsType.SRV, ttl: 30, data: { priority: 0, weight: 100, port, target } }],
          }),
        },
      ],
      framer,
      'dns SRV lookup',
    );
  }
}

type DnsLookupAnswer = { kind: 'a'; a: string; cname?: string } | { kind: 'nxdomain' };

// ---------------------------------------------------------------- payloads

function jsonBody(rng: Rng, items: number): Buffer {
  const rows = [];
  for (let i = 0; i < items; i++)
    rows.push({ id: rng.int(1000, 99999), sku: `SKU-${rng.int(100000, 999999)}`, qty: rng.int(1, 9), price: rng.int(100, 99999) / 100 });
  return Buffer.from(JSON.stringify({ items: rows, page: 1 }));
}

function httpExchange(rng: Rng, host: string): { req: Buffer; res: Buffer } {
  const paths = ['/api/v1/cart', '/api/v1/products?page=1', '/api/v1/orders/recent', '/healthz', '/api/v1/user/profile'];
  const p = rng.pick(paths);
  const req = httpRequest('GET', p, host, [
    ['User-Agent', 'frontend/2.3.1 (node-fetch)'],
    ['Accept', 'application/json'],
    ['X-Request-Id', rng.bytes(8).toString('hex')],
  ]);
  const body = p === '/healthz' ? Buffer.from('ok') : jsonBody(rng, rng.int(2, 24));
  const res = httpResponse(
    200,
    'OK',
    [
      ['Content-Type', p === '/healthz' ? 'text/plain' : 'application/json'],
      ['Date', 'Thu, 15 Jan 2026 10:00:00 GMT'],
    ],
    body,
  );
  return { req, res };
}

/** PostgreSQL wire protocol: startup, auth ok, a few simple queries. */
function postgresMessages(rng: Rng): { from: 'client' | 'server'; data: Buffer }[] {
  const msg = (type: string, body: Buffer) => {
    const h = Buffer.alloc(5);
    h.write(type, 0, 'latin1');
    h.writeUInt32BE(body.length + 4, 1);
    return Buffer.concat([h, body]);
  };
  const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
  const startupBody = Buffer.concat([cstr('user'), cstr('api'), cstr('database'), cstr('orders'), cstr('application_name'), cstr('api'), Buffer.from([0])]);
  const startup = Buffer.alloc(8 + startupBody.length);
  startup.writeUInt32BE(startup.length, 0);
  startup.writeUInt32BE(196608, 4);
  startupBody.copy(startup, 8);
  const out: { from: 'client' | 'server'; data: Buffer }[] = [
    { from: 'client', data: startup },
    {
      from: 'server',
      data: Buffer.concat([
        msg('R', Buffer.from([0, 0, 0, 0])),
        msg('S', Buffer.concat([cstr('server_version'), cstr('16.4')])),
        msg('K', rng.bytes(8)),
        msg('Z', Buffer.from('I')),
      ]),
    },
  ];
  const n = rng.int(2, 5);
  for (let i = 0; i < n; i++) {
    out.push({
      from: 'client',
      data: msg('Q', cstr(`SELECT id, status, total FROM orders WHERE customer_id = ${rng.int(1, 50000)} ORDER BY id DESC LIMIT 20`)),
    });
    const rows: Buffer[] = [msg('T', rowDescription(['id', 'status', 'total']))];
    const nr = rng.int(1, 20);
    for (let r = 0; r < nr; r++)
      rows.push(msg('D', dataRow([String(rng.int(1, 999999)), rng.pick(['paid', 'shipped', 'pending']), (rng.int(100, 99999) / 100).toFixed(2)])));
    rows.push(msg('C', cstr(`SELECT ${nr}`)), msg('Z', Buffer.from('I')));
    out.push({ from: 'server', data: Buffer.concat(rows) });
  }
  out.push({ from: 'client', data: msg('X', Buffer.alloc(0)) });
  return out;
}

/** RowDescription body: one text column per name (typoid 25 = text). */
function rowDescription(names: string[]): Buffer {
  const parts: Buffer[] = [u16(names.length)];
  for (const n of names) {
    const f = Buffer.alloc(18);
    f.writeUInt32BE(16385, 0); // table oid
    f.writeUInt16BE(names.indexOf(n) + 1, 4); // attribute number
    f.writeUInt32BE(25, 6); // type oid
    f.writeInt16BE(-1, 10); // type length (variable)
    f.writeInt32BE(-1, 12); // type modifier
    f.writeUInt16BE(0, 16); // text format
    parts.push(Buffer.from(`${n}\0`), f);
  }
  return Buffer.concat(parts);
}

function dataRow(values: string[]): Buffer {
  const parts: Buffer[] = [u16(values.length)];
  for (const v of values) {
    const b = Buffer.from(v);
    const l = Buffer.alloc(4);
    l.writeUInt32BE(b.length, 0);
    parts.push(l, b);
  }
  return Buffer.concat(parts);
}

function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return b;
}

/** Redis RESP commands and replies. */
function redisMessages(rng: Rng, n: number): { from: 'client' | 'server'; data: Buffer }[] {
  const bulk = (s: Buffer) => Buffer.concat([Buffer.from(`$${s.length}\r\n`), s, Buffer.from('\r\n')]);
  const cmd = (...parts: Buffer[]) => Buffer.concat([Buffer.from(`*${parts.length}\r\n`), ...parts.map(bulk)]);
  const out: { from: 'client' | 'server'; data: Buffer }[] = [];
  for (let i = 0; i < n; i++) {
    const key = Buffer.from(`session:${rng.bytes(6).toString('hex')}`);
    if (rng.next() < 0.6) {
      out.push({ from: 'client', data: cmd(Buffer.from('GET'), key) });
      out.push({ from: 'server', data: rng.next() < 0.8 ? bulk(rng.bytes(rng.int(30, 300))) : Buffer.from('$-1\r\n') });
    } else {
      out.push({ from: 'client', data: cmd(Buffer.from('SET'), key, rng.bytes(rng.int(30, 300)), Buffer.from('EX'), Buffer.from('3600')) });
      out.push({ from: 'server', data: Buffer.from('+OK\r\n') });
    }
  }
  return out;
}

function statsdLine(rng: Rng, pod: string): Buffer {
  const metrics = [
    `http.requests:1|c|#pod:${pod}`,
    `http.latency:${rng.int(1, 400)}|ms|#pod:${pod}`,
    `cache.hit:1|c|#pod:${pod}`,
    `queue.depth:${rng.int(0, 50)}|g`,
  ];
  const lines = [];
  const n = rng.int(1, 4);
  for (let i = 0; i < n; i++) lines.push(rng.pick(metrics));
  return Buffer.from(lines.join('\n'));
}

// ---------------------------------------------------------------- samples

function podTraffic(rng: Rng): Builder {
  const b = new Builder(rng);
  const fronts = [PODS.frontend1, PODS.frontend2, PODS.frontend3];
  const apis = [PODS.api1, PODS.api2];
  const dnsSvc = SERVICES.dns;

  // Frontends: look the api service up, then make HTTP calls over keep-alive connections.
  for (let f = 0; f < fronts.length; f++) {
    const c = fronts[f];
    let t = BASE_US + 100_000 + f * 37_000;
    t = b.dnsLookup(c, dnsSvc, t, FQDN.api, { kind: 'a', a: SERVICES.api }, podFramer(c), 'dns A+AAAA api');
    for (let i = 0; i < 12; i++) {
      const msgs: { from: 'client' | 'server'; data: Buffer }[] = [];
      const n = rng.int(1, 3);
      for (let k = 0; k < n; k++) {
        const x = httpExchange(rng, 'api.default.svc.cluster.local:8080');
        msgs.push({ from: 'client', data: x.req }, { from: 'server', data: x.res });
      }
      b.tcp({
        client: { mac: podMac(c), ip: c, port: b.port(c) },
        server: { mac: gatewayMac(c), ip: SERVICES.api, port: 8080 },
        startUs: t,
        rttUs: rng.int(250, 900),
        messages: msgs,
        close: i % 4 === 3 ? 'fin-server-first' : 'fin',
        framer: podFramer(c),
        label: 'http frontend->api',
      });
      t += rng.int(1_500_000, 4_500_000);
      if (i === 6) t = b.dnsLookup(c, dnsSvc, t, FQDN.api, { kind: 'a', a: SERVICES.api }, podFramer(c), 'dns A+AAAA api (ttl expired)');
    }
  }

  // API pods: resolve redis in another namespace (ndots:5 search path first gives NXDOMAIN), postgres via SRV.
  for (let a = 0; a < apis.length; a++) {
    const c = apis[a];
    let t = BASE_US + 300_000 + a * 53_000;
    t = b.dnsLookup(c, dnsSvc, t, `${FQDN.redis}.default.svc.cluster.local`, { kind: 'nxdomain' }, podFramer(c), 'dns NXDOMAIN (search path)');
    t = b.dnsLookup(c, dnsSvc, t + 300, FQDN.redis, { kind: 'a', a: SERVICES.redis }, podFramer(c), 'dns A+AAAA redis');
    t = b.dnsLookup(c, dnsSvc, t + 300, FQDN.postgres, { kind: 'a', a: SERVICES.postgres }, podFramer(c), 'dns A+AAAA postgres');
    b.dnsSrv(c, t + 500, `_postgresql._tcp.${FQDN.postgres}`, FQDN.postgres, 5432, podFramer(c));
    t += 2_000;
    if (a === 0)
      t = b.dnsLookup(
        c,
        dnsSvc,
        t,
        'payments.default.svc.cluster.local',
        { kind: 'a', cname: 'payments.prod.example.internal', a: '172.20.4.17' },
        podFramer(c),
        'dns CNAME (ExternalName service)',
      );
    for (let i = 0; i < 4; i++) {
      b.tcp({
        client: { mac: podMac(c), ip: c, port: b.port(c) },
        server: { mac: gatewayMac(c), ip: SERVICES.postgres, port: 5432 },
        startUs: t + i * 9_000_000 + rng.int(0, 500_000),
        rttUs: rng.int(200, 600),
        messages: postgresMessages(rng),
        framer: podFramer(c),
        label: 'postgres api->postgres',
      });
    }
    for (let i = 0; i < 7; i++) {
      b.tcp({
        client: { mac: podMac(c), ip: c, port: b.port(c) },
        server: { mac: gatewayMac(c), ip: SERVICES.redis, port: 6379 },
        startUs: t + 1_000 + i * 6_000_000 + rng.int(0, 500_000),
        rttUs: rng.int(150, 500),
        messages: redisMessages(rng, rng.int(2, 8)),
        // Pooled connections still open when the capture stops.
        close: i === 6 ? 'none' : 'fin',
        framer: podFramer(c),
        label: i === 6 ? 'redis api->redis (pooled, still open)' : 'redis api->redis',
      });
    }
  }

  // Pods pushing metrics to the statsd exporter pod over UDP (one-way).
  for (const c of [PODS.frontend1, PODS.api1, PODS.api2]) {
    const msgs = [];
    for (let i = 0; i < 15; i++) msgs.push({ from: 'client' as const, data: statsdLine(rng, c), gapUs: i === 0 ? 0 : rng.int(2_000_000, 4_000_000) });
    b.udp(
      { mac: podMac(c), ip: c, port: b.port(c) },
      { mac: gatewayMac(c), ip: PODS.statsd, port: 8125 },
      BASE_US + rng.int(200_000, 900_000),
      400,
      msgs,
      podFramer(c),
      'statsd udp',
    );
  }

  // A refused connection (nothing listens on the metrics port) and a SYN to a deleted pod.
  const f1 = PODS.frontend1;
  b.tcp({
    client: { mac: podMac(f1), ip: f1, port: b.port(f1) },
    server: { mac: gatewayMac(f1), ip: PODS.api2, port: 9090 },
    startUs: BASE_US + 12_000_000,
    rttUs: 500,
    open: 'reject',
    framer: podFramer(f1),
    label: 'refused (REJ)',
  });
  const a1 = PODS.api1;
  b.tcp({
    client: { mac: podMac(a1), ip: a1, port: b.port(a1) },
    server: { mac: gatewayMac(a1), ip: '10.244.2.53', port: 5432 },
    startUs: BASE_US + 20_000_000,
    rttUs: 500,
    open: 'unanswered',
    framer: podFramer(a1),
    label: 'unanswered SYN to a deleted pod (S0)',
  });

  // Port scan from the debug pod: SYN scan of 100 ports of api-2, same source port (as nmap -sS does).
  const scanPorts = pickPorts(rng, 100, [8080, 8443]);
  const d = PODS.debug;
  let t = BASE_US + 30_000_000;
  for (const p of scanPorts) {
    b.tcp({
      client: { mac: podMac(d), ip: d, port: 45021 },
      server: { mac: gatewayMac(d), ip: PODS.api2, port: p },
      startUs: t,
      rttUs: rng.int(300, 700),
      open: 'syn-scan',
      scanOpen: p === 8080 || p === 8443,
      framer: podFramer(d),
      label: `scan port ${p}`,
    });
    t += rng.int(50, 400);
  }
  return b;
}

/** `n` distinct ports: `include` plus common service ports, then random ones. */
function pickPorts(rng: Rng, n: number, include: number[]): number[] {
  const common = [21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1723, 3306, 3389, 5900, 8000, 8081, 8888, 9090, 9200];
  const set = new Set<number>([...include, ...common]);
  while (set.size < n) set.add(rng.int(1, 20000));
  const ports = [...set].slice(0, n);
  // nmap randomises probe order.
  for (let i = ports.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [ports[i], ports[j]] = [ports[j], ports[i]];
  }
  return ports;
}

function vxlanOverlay(rng: Rng, tally: OuterTally): Builder {
  const b = new Builder(rng);
  const ipIds = new Map<string, number>([
    [NODES.n1.ip, 0x1a2b],
    [NODES.n2.ip, 0x7c10],
  ]);
  const sports = new Set<number>();
  const sport = () => {
    for (;;) {
      const p = rng.int(32768, 60999);
      if (!sports.has(p)) {
        sports.add(p);
        return p;
      }
    }
  };
  const framer = (fromNode1: boolean) =>
    vxlanFramer({
      origNode: fromNode1 ? NODES.n1 : NODES.n2,
      respNode: fromNode1 ? NODES.n2 : NODES.n1,
      vni: 1,
      sportOrig: sport(),
      sportResp: sport(),
      ipIds,
      tally,
    });
  const peer = (ipAddr: string, port: number): Peer => ({ mac: podMac(ipAddr), ip: ipAddr, port });
  const clients = [PODS.frontend1, PODS.frontend2, PODS.api1];

  let t = BASE_US + 50_000;
  for (let i = 0; i < 6; i++) {
    const c = clients[i % clients.length];
    // Pod-to-pod after DNAT: CoreDNS pod on node 2 answers directly.
    const fr = framer(true);
    const id = rng.int(0, 0xffff);
    const name = i % 2 === 0 ? FQDN.api : FQDN.redis;
    b.udp(
      peer(c, b.port(c)),
      peer(PODS.coredns2, 53),
      t,
      700,
      [
        { from: 'client', data: dnsMessage({ id, response: false, questions: [{ name, type: DnsType.A }] }) },
        {
          from: 'server',
          data: dnsMessage({
            id,
            response: true,
            aa: true,
            ra: true,
            questions: [{ name, type: DnsType.A }],
            answers: [{ name, type: DnsType.A, ttl: 30, data: i % 2 === 0 ? SERVICES.api : SERVICES.redis }],
          }),
        },
      ],
      fr,
      'dns over vxlan',
    );
    t += 1_000;
    for (let k = 0; k < 2; k++) {
      const msgs = [];
      const x = httpExchange(rng, 'api.default.svc.cluster.local:8080');
      msgs.push({ from: 'client' as const, data: x.req }, { from: 'server' as const, data: x.res });
      b.tcp({
        client: peer(c, b.port(c)),
        server: peer(PODS.api2, 8080),
        startUs: t + k * 400_000,
        rttUs: rng.int(600, 1200),
        messages: msgs,
        framer: framer(true),
        label: 'http over vxlan',
      });
    }
    t += rng.int(1_000_000, 2_500_000);
  }
  // Node 2 pod calling back into node 1 (frontend-3 -> api-1), and api-1 -> postgres.
  for (let k = 0; k < 3; k++) {
    const x = httpExchange(rng, 'api.default.svc.cluster.local:8080');
    const c = PODS.frontend3;
    b.tcp({
      client: peer(c, b.port(c)),
      server: peer(PODS.api1, 8080),
      startUs: BASE_US + 2_000_000 + k * 3_000_000,
      rttUs: 800,
      messages: [
        { from: 'client', data: x.req },
        { from: 'server', data: x.res },
      ],
      framer: framer(false),
      label: 'http over vxlan (node2->node1)',
    });
  }
  b.tcp({
    client: peer(PODS.api1, b.port(PODS.api1)),
    server: peer(PODS.postgres, 5432),
    startUs: BASE_US + 3_500_000,
    rttUs: 900,
    messages: postgresMessages(rng),
    framer: framer(true),
    label: 'postgres over vxlan',
  });
  b.tcp({
    client: peer(PODS.api1, b.port(PODS.api1)),
    server: peer(PODS.redis, 6379),
    startUs: BASE_US + 4_200_000,
    rttUs: 700,
    messages: redisMessages(rng, 4),
    close: 'rst-server',
    framer: framer(true),
    label: 'redis over vxlan, reset by server',
  });
  return b;
}

function scanSample(rng: Rng): Builder {
  const b = new Builder(rng);
  const d = PODS.debug;
  const fr = podFramer(d);
  // Vertical: 200 ports of one pod, 3 open.
  let t = BASE_US + 10_000;
  for (const p of pickPorts(rng, 200, [8080, 8443, 9100])) {
    b.tcp({
      client: { mac: podMac(d), ip: d, port: 51422 },
      server: { mac: gatewayMac(d), ip: PODS.api2, port: p },
      startUs: t,
      rttUs: rng.int(250, 600),
      open: 'syn-scan',
      scanOpen: p === 8080 || p === 8443 || p === 9100,
      framer: fr,
      label: `vertical scan port ${p}`,
    });
    t += rng.int(40, 300);
  }
  // Horizontal: port 22 on 50 pods of node 2; 2 run sshd, 3 addresses are unused (no reply).
  t += 2_000_000;
  for (let i = 0; i < 50; i++) {
    const target = `10.244.2.${100 + i}`;
    const open = i === 7 || i === 31;
    const silent = i === 12 || i === 25 || i === 44;
    b.tcp({
      client: { mac: podMac(d), ip: d, port: 51423 },
      server: { mac: gatewayMac(d), ip: target, port: 22 },
      startUs: t,
      rttUs: rng.int(250, 600),
      open: silent ? 'unanswered' : 'syn-scan',
      synRetries: 0,
      scanOpen: open,
      framer: fr,
      label: silent ? 'sweep port 22, no reply' : open ? 'sweep port 22, open' : 'sweep port 22, closed',
    });
    t += rng.int(500, 3_000);
  }
  return b;
}

function failedConnections(rng: Rng): Builder {
  const b = new Builder(rng);
  const c = PODS.frontend2;
  const fr = podFramer(c);
  const client = () => ({ mac: podMac(c), ip: c, port: b.port(c) });
  const server = (ipAddr: string, port: number) => ({ mac: gatewayMac(c), ip: ipAddr, port });
  const x = () => {
    const e = httpExchange(rng, 'api.default.svc.cluster.local:8080');
    return [
      { from: 'client' as const, data: e.req },
      { from: 'server' as const, data: e.res },
    ];
  };
  let t = BASE_US + 1_000;
  const step = () => (t += 1_000_000);
  b.tcp({ client: client(), server: server(PODS.api2, 9090), startUs: t, rttUs: 400, open: 'reject', framer: fr, label: 'REJ: SYN answered by RST' });
  b.tcp({
    client: client(),
    server: server('10.244.2.53', 8080),
    startUs: step(),
    rttUs: 400,
    open: 'unanswered',
    synRetries: 2,
    framer: fr,
    label: 'S0: SYN and two retransmissions, no answer',
  });
  b.tcp({
    client: client(),
    server: server(SERVICES.api, 8080),
    startUs: step(),
    rttUs: 400,
    messages: x(),
    close: 'rst-client',
    framer: fr,
    label: 'RSTO: established, client aborts with RST',
  });
  b.tcp({
    client: client(),
    server: server(SERVICES.api, 8080),
    startUs: step(),
    rttUs: 400,
    messages: x(),
    close: 'rst-server',
    framer: fr,
    label: 'RSTR: established, server aborts with RST',
  });
  b.tcp({ client: client(), server: server(PODS.api2, 8443), startUs: step(), rttUs: 400, open: 'syn-fin', framer: fr, label: 'SH: SYN then FIN, no answer' });
  b.tcp({
    client: client(),
    server: server(PODS.api2, 8443),
    startUs: step(),
    rttUs: 400,
    open: 'syn-rst',
    framer: fr,
    label: 'RSTOS0: SYN then RST from the client, no answer',
  });
  b.tcp({
    client: client(),
    server: server(SERVICES.redis, 6379),
    startUs: step(),
    rttUs: 400,
    open: 'midstream',
    messages: redisMessages(rng, 3),
    close: 'none',
    framer: fr,
    label: 'OTH: picked up mid-stream, no SYN, no close',
  });
  b.tcp({
    client: client(),
    server: server(SERVICES.api, 8080),
    startUs: step(),
    rttUs: 400,
    messages: x(),
    close: 'none',
    framer: fr,
    label: 'S1: established, not closed',
  });
  b.tcp({
    client: client(),
    server: server(SERVICES.api, 8080),
    startUs: step(),
    rttUs: 400,
    messages: x(),
    close: 'fin',
    framer: fr,
    label: 'SF: normal, for reference',
  });
  return b;
}

// ---------------------------------------------------------------- driver

export const SAMPLES = ['pod-traffic', 'vxlan-overlay', 'scan', 'failed-connections'] as const;
export type SampleName = (typeof SAMPLES)[number];

const SEEDS: Record<SampleName, number> = { 'pod-traffic': 0x0e57, 'vxlan-overlay': 0x0e58, scan: 0x0e59, 'failed-connections': 0x0e5a };

async function writeSample(name: SampleName, outDir: string): Promise<SampleResult> {
  const rng = new Rng(SEEDS[name]);
  const tally: OuterTally = new Map();
  const b =
    name === 'pod-traffic' ? podTraffic(rng) : name === 'vxlan-overlay' ? vxlanOverlay(rng, tally) : name === 'scan' ? scanSample(rng) : failedConnections(rng);
  // Stable sort by start time: conversations built in program order keep it on ties.
  const convs = b.convs
    .map((c, i) => ({ c, i }))
    .sort((x, y) => x.c.startUs - y.c.startUs || x.i - y.i)
    .map((x) => x.c);
  const file = path.join(outDir, `${name}.pcap`);
  const w = PcapWriter.create(file);
  for (const p of mergeByTime(convs[Symbol.iterator]())) {
    if (!w.writeUs(p.data, p.tsUs)) await w.drain();
  }
  await w.close();
  const connections = [...b.expects];
  for (const o of tally.values()) {
    connections.push({
      ts: o.ts,
      proto: 'udp',
      orig_h: o.src,
      orig_p: o.sport,
      resp_h: o.dst,
      resp_p: o.dport,
      conn_state: 'S0',
      history: 'D',
      orig_pkts: o.pkts,
      resp_pkts: 0,
      orig_bytes: o.ipBytes - 28 * o.pkts,
      resp_bytes: 0,
      orig_ip_bytes: o.ipBytes,
      resp_ip_bytes: 0,
      label: 'vxlan underlay (outer UDP, one direction per source port)',
    });
  }
  if (name === 'vxlan-overlay') for (const e of b.expects) Object.assign(e, { tunnel_type: 'vxlan', tunnel_id: 1 });
  connections.sort((x, y) => x.ts - y.ts || cmp(x.orig_h, y.orig_h) || x.orig_p - y.orig_p || x.resp_p - y.resp_p);
  for (const c of connections) c.ts = Math.round(c.ts * 1e6) / 1e6;
  fs.writeFileSync(path.join(outDir, `${name}.conn.json`), `${JSON.stringify(connections, null, 1)}\n`);
  return { name, file, packets: w.packets, bytes: w.bytes, connections };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function generateSamples(outDir: string): Promise<SampleResult[]> {
  fs.mkdirSync(outDir, { recursive: true });
  const out: SampleResult[] = [];
  for (const n of SAMPLES) out.push(await writeSample(n, outDir));
  return out;
}

if (require.main === module) {
  const outDir = path.resolve(process.argv[2] ?? 'samples');
  generateSamples(outDir).then(
    (res) => {
      for (const r of res) {
        const states = new Map<string, number>();
        for (const c of r.connections) states.set(c.conn_state, (states.get(c.conn_state) ?? 0) + 1);
        const st = [...states]
          .sort()
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        console.log(`${r.file}: ${r.packets} packets, ${r.bytes} bytes, ${r.connections.length} connections (${st})`);
      }
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
