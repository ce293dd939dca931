/**
 * The cases a naive detector gets wrong on traffic it was not tuned on: a short beacon inside a
 * long capture, Hubble input without byte counts, an upload to a first-contact destination, long
 * connections a workload habitually holds and tunnel outer flows, midstream and one-way records
 * in the scan, the second address of a SaaS name, the learning window's report and a saved
 * baseline that must not hold what alerted.
 */
import * as assert from 'node:assert/strict';
import { BeaconDetector } from '../../detectors/beacon';
import { defaultDetectorConfig } from '../../detectors/config';
import { DetectorEngine } from '../../detectors/engine';
import { DnsTunnelDetector } from '../../detectors/dns-tunnel';
import { attemptOutcome } from '../../detectors/entity';
import { ExfiltrationDetector } from '../../detectors/exfiltration';
import { LongConnectionDetector } from '../../detectors/long-connection';
import { NewEdgeDetector } from '../../detectors/new-edge';
import { ScanDetector } from '../../detectors/scan';
import { rng } from '../util/rng';
import { conn, ctx, dns, pod } from './util';

const CFG = defaultDetectorConfig();
const T = 1_768_435_200;
const ext = { kind: 'external' as const };
const worker = pod('shop', 'worker', 'worker-6b7c8d9e0f-h7j8k');

describe('detectors: hard cases', () => {
  it('beacon: a 20-minute beacon (60 s ± 2.5 s, 3.3-6.1 kB) inside a 2 h capture alerts on its own span', () => {
    const d = new BeaconDetector(CFG.beacon);
    const r = rng(3);
    // Two hours of unrelated traffic so the dataset's span is 2 h.
    d.observe(conn({ ts: T, resp_h: '203.0.113.9', resp_p: 443 }, worker, ext));
    d.observe(conn({ ts: T + 7200, resp_h: '203.0.113.9', resp_p: 443 }, worker, ext));
    const start = T + 4000;
    for (let i = 0; i < 20; i++)
      d.observe(
        conn(
          { ts: start + i * 60 + (r() - 0.5) * 5, resp_h: '198.51.100.61', resp_p: 443, orig_bytes: 400, resp_bytes: 3300 + Math.floor(r() * 2800) },
          worker,
          ext,
        ),
      );
    const f = d.flush();
    assert.equal(f.length, 1, JSON.stringify(f.map((x) => x.figures)));
    assert.equal(f[0].destination.ip, '198.51.100.61');
    assert.ok(f[0].score >= CFG.beacon.threshold, `score ${f[0].score}`);
    assert.equal(f[0].figures.dur_score, 1);
    assert.ok((f[0].figures.span_s as number) >= 1100 && (f[0].figures.span_s as number) <= 1200);
    assert.equal(f[0].figures.sizes_known, true);
  });

  it('beacon: without byte counts the size subscore is left out, not taken as constant sizes', () => {
    const d = new BeaconDetector(CFG.beacon);
    const r = rng(5);
    // A SaaS client: Poisson arrivals (mean 90 s) over 6 h, no bytes (Hubble).
    let t = T;
    while (t < T + 6 * 3600) {
      d.observe(conn({ ts: t, resp_h: '203.0.113.50', resp_p: 443, orig_bytes: 0, resp_bytes: 0, orig_ip_bytes: 0, resp_ip_bytes: 0 }, worker, ext));
      t += -Math.log(1 - r()) * 90;
    }
    // A beacon every 60 s, also without bytes, from 2 h on.
    for (let i = 0; i < 100; i++)
      d.observe(
        conn(
          { ts: T + 7200 + i * 60 + r(), resp_h: '198.51.100.7', resp_p: 443, orig_bytes: 0, resp_bytes: 0, orig_ip_bytes: 0, resp_ip_bytes: 0 },
          worker,
          ext,
        ),
      );
    const f = d.flush();
    assert.deepEqual(
      f.map((x) => x.destination.ip),
      ['198.51.100.7'],
    );
    assert.equal(f[0].figures.sizes_known, false);
    assert.match(String(f[0].figures.ds_score), /unknown/);
  });

  it('beacon: under a baseline a pair whose first record arrives after a later one is still new (Hubble emits connections as they end)', () => {
    const d = new BeaconDetector(CFG.beacon);
    // What the engine does with a baseline: the pair is not in it and the window is closed.
    d.addBaseline(['wl:shop/worker|ip:203.0.113.9']);
    d.window.seconds = 0;
    // A connection that started 2 s into the capture and ended first is the first record seen.
    d.observe(conn({ ts: T + 2, resp_h: '203.0.113.9', resp_p: 443, orig_bytes: 0, resp_bytes: 0, orig_ip_bytes: 0, resp_ip_bytes: 0 }, worker, ext));
    // The beacon's connection in flight at the capture's start (ts T) ends after it.
    for (let i = 0; i < 57; i++)
      d.observe(conn({ ts: T + i * 60, resp_h: '198.51.100.23', resp_p: 80, orig_bytes: 0, resp_bytes: 0, orig_ip_bytes: 0, resp_ip_bytes: 0 }, worker, ext));
    const f = d.flush();
    assert.deepEqual(
      f.map((x) => x.destination.ip),
      ['198.51.100.23'],
    );
    assert.equal(f[0].figures.known_pair, false);
    assert.equal(f[0].figures.threshold, CFG.beacon.threshold);
    assert.equal(f[0].figures.sizes_known, false);
  });

  it('exfiltration: 50x the workload usual egress to a never-seen address alerts in the same run', () => {
    const d = new ExfiltrationDetector(CFG.exfiltration);
    const r = rng(9);
    // Two hours of usual egress: about 200 kB an hour over three destinations.
    for (let b = 0; b < 24; b++)
      for (const ip of ['10.96.10.1', '203.0.113.80', '192.0.2.99'])
        d.observe(conn({ ts: T + b * 300 + r() * 200, resp_h: ip, resp_p: 443, orig_bytes: 4000 + Math.floor(r() * 3000) }, worker, ext));
    d.observe(conn({ ts: T + 24 * 300 + 30, resp_h: '198.51.100.99', resp_p: 443, orig_bytes: 10_000_000, uid: 'Cup' }, worker, ext));
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.deepEqual(f[0].uids, ['Cup']);
    assert.equal(f[0].figures.new_destination, true);
    assert.equal(f[0].figures.baseline, 'workload egress');
    assert.equal(f[0].severity, 'critical');
  });

  it('long-connection: scrapes and watches open while learning, and VXLAN outer flows, raise nothing; a new long edge does', () => {
    const d = new LongConnectionDetector(CFG['long-connection']);
    const prom = pod('monitoring', 'prometheus', 'prometheus-0');
    const op = pod('ops', 'operator', 'operator-7f8e9d-g5f4d');
    d.observe(conn({ ts: T, uid: 'Cscrape', resp_h: '10.244.2.20', duration: 3600, interim: true }, prom, pod('shop', 'api')));
    d.observe(
      conn({ ts: T + 5, uid: 'Cwatch', resp_h: '10.96.0.1', resp_p: 443, duration: 3600, interim: true }, op, {
        kind: 'service',
        namespace: 'default',
        service: 'kubernetes',
      }),
    );
    // After the rollout Prometheus holds a new keep-alive connection to the new api pod: same edge.
    d.observe(conn({ ts: T + 11_000, uid: 'Cscrape2', resp_h: '10.244.2.22', duration: 3600, interim: true }, prom, pod('shop', 'api', 'api-6f7a8b9c0-q1w2e')));
    d.observe(
      conn({
        ts: T + 10,
        uid: 'Cvx',
        proto: 'udp',
        resp_h: '192.168.10.12',
        orig_h: '192.168.10.11',
        resp_p: 4789,
        service: ['vxlan'],
        duration: 20_000,
        history: 'Dd',
      }),
    );
    d.observe(conn({ ts: T + 20, uid: 'Cinner', tunnel_parents: ['Cgen'] }));
    d.observe(conn({ ts: T + 30, uid: 'Cgen', proto: 'udp', resp_p: 6082, duration: 9000 }));
    assert.deepEqual(d.flush(), []);
    d.observe(
      conn({ ts: T + 9000, uid: 'Cnew', resp_h: '10.96.10.3', resp_p: 6379, duration: 7200 }, worker, { kind: 'service', namespace: 'shop', service: 'redis' }),
    );
    const f = d.flush();
    assert.deepEqual(
      f.map((x) => x.uids[0]),
      ['Cnew'],
    );
    assert.ok(d.knownEdges().includes('monitoring/prometheus|wl:shop/api|tcp/8080'));
    assert.ok(!d.knownEdges().some((e) => e.startsWith('shop/worker')));
  });

  it('scan: midstream and one-way records are neither answered nor failed first contacts', () => {
    const d = new ScanDetector(CFG.scan);
    const node = { kind: 'node' as const, node: 'node-1' };
    for (let i = 0; i < 10; i++) {
      // Kubelet probes caught midstream at the capture's start: no SYN seen, nothing from the pod yet.
      const r = conn(
        { ts: T + i * 0.01, orig_h: '192.168.10.11', resp_h: `10.244.1.${20 + i}`, history: 'F', conn_state: 'OTH', resp_pkts: 0, resp_bytes: 0 },
        node,
        pod('shop', `w${i}`),
      );
      assert.equal(attemptOutcome(r), 'unknown');
      d.observe(r);
      d.observe(
        conn(
          { ts: T + 1 + i * 0.01, orig_h: '192.168.10.11', resp_h: `10.244.2.${20 + i}`, observed: 'one-way', resp_pkts: 0, resp_bytes: 0, history: 'S' },
          node,
        ),
      );
    }
    assert.deepEqual(d.flush(), []);
  });

  it('new-edge: the second address of a SaaS name is not a new edge; a new name is', () => {
    const d = new NewEdgeDetector(CFG['new-edge']);
    const c = (ts: number) => ({ uid: `Cq${ts}`, ts, orig_h: '10.244.1.30', resp_h: '10.96.0.10', resp_p: 53 });
    d.observeApp(dns(T, 'api.saas.example', { answers: ['203.0.113.10'] }), c(T));
    d.observe(conn({ ts: T + 1, orig_h: '10.244.1.30', resp_h: '203.0.113.10', resp_p: 443, local_resp: false }, worker, ext));
    d.observeApp(dns(T + 5000, 'api.saas.example', { answers: ['203.0.113.77'] }), c(T + 5000));
    d.observe(conn({ ts: T + 5001, orig_h: '10.244.1.30', resp_h: '203.0.113.77', resp_p: 443, local_resp: false }, worker, ext));
    assert.deepEqual(d.flush(), []);
    d.observeApp(dns(T + 6000, 'evil.example', { answers: ['203.0.113.77'] }), c(T + 6000));
    d.observe(conn({ ts: T + 6001, orig_h: '10.244.1.30', resp_h: '203.0.113.77', resp_p: 443, local_resp: false }, worker, ext));
    const f = d.flush();
    assert.equal(f.length, 1);
    assert.equal(f[0].destination.domain, 'evil.example');
    assert.equal(f[0].figures.destination_key, 'name:evil.example');
  });

  it('new-edge: an address whose name was looked up before the capture is held, and withdrawn when an answer names it with a known name', () => {
    const d = new NewEdgeDetector({ ...CFG['new-edge'], learning_seconds: 0 });
    d.addBaseline(['shop/worker|name:api.saas.example|tcp/443']);
    const to = (ts: number, ip: string) => conn({ ts, uid: `C${ts}`, orig_h: '10.244.1.30', resp_h: ip, resp_p: 443, local_resp: false }, worker, ext);
    // The pool's next address, its lookup cached from before the capture: no name yet.
    d.observe(to(T, '203.0.113.78'));
    assert.deepEqual(d.flush(T + 10), []);
    // Another replica's lookup gives the address for the name the workload uses.
    d.observeApp(dns(T + 100, 'api.saas.example', { answers: ['203.0.113.78'] }), {
      uid: 'Cq1',
      ts: T + 100,
      orig_h: '10.244.1.31',
      resp_h: '10.96.0.10',
      resp_p: 53,
    });
    d.observe(to(T + 101, '203.0.113.78'));
    assert.deepEqual(d.flush(T + 1000), []);
    assert.ok(d.knownEdges().includes('shop/worker|ip:203.0.113.78|tcp/443'));
    // An address nothing names is reported once the wait is over, with every connection on it.
    d.observe(to(T + 2000, '198.51.100.9'));
    d.observe(to(T + 2100, '198.51.100.9'));
    assert.deepEqual(d.flush(T + 2200), []);
    const f = d.flush(T + 2000 + CFG['new-edge'].name_wait_seconds);
    assert.equal(f.length, 1);
    assert.equal(f[0].destination.ip, '198.51.100.9');
    assert.deepEqual(f[0].uids, [`C${T + 2000}`, `C${T + 2100}`]);
    assert.ok(!d.knownEdges().includes('shop/worker|ip:198.51.100.9|tcp/443'));
  });

  it('learning: reported with its share of the data, shortened to a quarter of a known span; a saved baseline leaves out what alerted', () => {
    const e = new DetectorEngine({ learning: { dataSpan: [T, T + 3600] } });
    const api = pod('shop', 'api');
    for (let t = 0; t < 3600; t += 30) e.observe(conn({ ts: T + t, resp_p: 8080 }, worker, api));
    e.observe(conn({ ts: T + 3000, resp_p: 9090, uid: 'Cnewport' }, worker, api));
    e.flush();
    const rep = e.learningReport();
    assert.equal(rep.seconds, 900);
    // 900 s of the 3570 s of records seen.
    assert.equal(rep.covered_share, 0.252);
    assert.equal(rep.warning, undefined);
    assert.ok(e.alerts().some((a) => a.detector === 'new-edge' && a.evidence.uids.includes('Cnewport')));
    const b = e.exportBaseline();
    assert.ok(b.edges.includes('shop/worker|wl:shop/api|tcp/8080'));
    assert.ok(!b.edges.some((k) => k.endsWith('tcp/9090')), JSON.stringify(b.edges));

    // Streaming with the old fixed hour over a 1 h capture: everything learned, and said so.
    const s = new DetectorEngine();
    for (let t = 0; t < 3600; t += 30) s.observe(conn({ ts: T + t, resp_p: 8080 }, worker, api));
    s.flush();
    const w = s.learningReport();
    assert.equal(w.covered_share, 1);
    assert.match(w.warning ?? '', /covered 100 % of the data/);
  });

  it('dns-tunnel: 40 long S3 bucket names are not a tunnel, used or not; the same labels under a domain its owner serves are, when never used', () => {
    // Under the Public Suffix List's private section each bucket is a registered name of its own,
    // answered by AWS: nobody can read a tunnel out of those queries. Under an ordinary domain the
    // owner's name server sees every label, so 40 long unused names there are a tunnel.
    const run = (zone: (label: string) => string, connect: boolean) => {
      const d = new DnsTunnelDetector(CFG['dns-tunnel']);
      const r = rng(21);
      for (let i = 0; i < 40; i++) {
        let h = '';
        for (let j = 0; j < 8; j++) h += '0123456789abcdef'[Math.floor(r() * 16)];
        const ip = `198.18.1.${10 + i}`;
        d.observeApp(dns(T + i * 30, zone(`tenant-${h}-exports-eu`), { answers: [ip] }), ctx(T + i * 30, worker, '10.244.1.30'));
        if (connect) d.observe(conn({ ts: T + i * 30 + 0.01, orig_h: '10.244.1.30', resp_h: ip, resp_p: 443 }, worker, ext));
      }
      return d.flush();
    };
    const s3 = (l: string) => `${l}.s3.eu-west-1.amazonaws.com`;
    const owned = (l: string) => `${l}.sync.example-c2.net`;
    assert.deepEqual(run(s3, true), []);
    assert.deepEqual(run(s3, false), []);
    assert.deepEqual(run(owned, true), []);
    const f = run(owned, false);
    assert.equal(f.length, 1);
    assert.equal(f[0].figures.reasons, 'tunnel');
    assert.equal(f[0].figures.connections_to_answers, 0);
  });

  it('exfiltration: a Kafka consumer held 6 h (one final record, as flow sources give) is a rate, not an upload', () => {
    const d = new ExfiltrationDetector(CFG.exfiltration);
    const r = rng(13);
    for (let b = 0; b < 72; b++)
      d.observe(conn({ ts: T + b * 300 + r() * 200, resp_h: '10.96.10.1', resp_p: 80, orig_bytes: 2000 + Math.floor(r() * 1000) }, worker, pod('shop', 'api')));
    d.observe(conn({ ts: T + 1, uid: 'Ckafka', resp_h: '10.96.10.4', resp_p: 9092, duration: 21_600, orig_bytes: 1_300_000 }, worker, pod('shop', 'kafka')));
    assert.deepEqual(d.flush(), []);
  });

  it('new-edge and long-connection: a learning-window record that arrives late (flows end late) withdraws the unreported alert', () => {
    const prom = pod('monitoring', 'prometheus', 'prometheus-0');
    const fe = pod('shop', 'frontend', 'frontend-7d9f8b6c5d-pqrst');
    const e = new NewEdgeDetector(CFG['new-edge']);
    const l = new LongConnectionDetector(CFG['long-connection']);
    const first = conn({ ts: T, resp_p: 5432 }, worker, pod('shop', 'postgres'));
    // The scale-up pod's keep-alive connection (opened at 4 h) ends first ...
    const late = conn({ ts: T + 4 * 3600, uid: 'Cnew', resp_h: '10.244.2.11', duration: 7000 }, prom, fe);
    // ... the connections open since the start end at the capture's end, seen midstream.
    const old = conn({ ts: T + 2, uid: 'Cold', resp_h: '10.244.1.10', duration: 21_000, history: 'DadA', conn_state: 'OTH' }, prom, fe);
    for (const d of [e, l]) {
      d.observe(first);
      d.observe(late);
      d.observe(old);
    }
    assert.deepEqual(e.flush(), []);
    assert.deepEqual(l.flush(), []);
    assert.ok(l.knownEdges().includes('monitoring/prometheus|wl:shop/frontend|tcp/8080'));
  });
});
