/**
 * How often the beacon detector alerts on pairs seen only for an hour (a 1-hour capture): jittered
 * beacons (the evaluation's kinds) and steady clients with Poisson arrivals (not periodic, so every
 * alert on them is false), each pair alone in a fresh detector with the default configuration,
 * with byte counts (constant or varying sizes) and without (Hubble). It shows where the RITA score
 * cannot separate the two at 12-30 connections; it scores the detector, not a model of a cluster.
 *
 *   node dist/bench/eval/beacon-tails.js [--n 2000] [--seed 11]
 */
import { BeaconDetector } from '../../detectors/beacon';
import { defaultDetectorConfig } from '../../detectors/config';
import type { ConnRecord } from '../../parsers/record/conn';
import { Rng } from '../../samples/lib/session';

type Sizes = 'constant' | 'varying' | 'none';

const T0 = 1_768_435_200;
const HOUR = 3600;

function record(i: number, ts: number, bytes: number | null): ConnRecord {
  const b = bytes ?? 0;
  return {
    uid: `C${i}`,
    ts,
    orig_h: '10.244.1.10',
    orig_p: 40000 + (i % 20000),
    resp_h: '198.51.100.9',
    resp_p: 443,
    proto: 'tcp',
    ip_proto: 6,
    service: [],
    duration: 0.05,
    orig_bytes: bytes === null ? 0 : 120,
    resp_bytes: b,
    conn_state: 'SF',
    local_orig: true,
    local_resp: false,
    missed_bytes: 0,
    history: 'ShADadFf',
    orig_pkts: 6,
    orig_ip_bytes: bytes === null ? 0 : 440,
    resp_pkts: 5,
    resp_ip_bytes: bytes === null ? 0 : b + 260,
    tunnel_parents: [],
    community_id: '',
    vlan: null,
    inner_vlan: null,
    orig_l2_addr: null,
    resp_l2_addr: null,
    tunnel_type: null,
    tunnel_id: null,
    interim: false,
  };
}

/** True when the detector alerts on the pair (scored alone, at the end of the hour). */
function alerts(ts: number[], sizes: (number | null)[]): boolean {
  const d = new BeaconDetector(defaultDetectorConfig().beacon);
  d.window.seconds = 0;
  ts.forEach((t, i) => {
    d.observe(record(i, T0 + t, sizes[i]));
  });
  return d.flush().length > 0;
}

function size(r: () => number, s: Sizes, range: [number, number]): number | null {
  if (s === 'none') return null;
  return s === 'constant' ? range[0] : range[0] + Math.floor(r() * (range[1] - range[0]));
}

function poisson(r: () => number, mean: number, s: Sizes): [number[], (number | null)[]] {
  return poissonSeen(r, mean, s, HOUR);
}

function poissonSeen(r: () => number, mean: number, s: Sizes, seen: number): [number[], (number | null)[]] {
  const ts: number[] = [];
  for (let t = r() * mean; t < seen; t += -Math.log(1 - r()) * mean) ts.push(t);
  return [ts, ts.map(() => size(r, s, [1000, 4000]))];
}

function beacon(r: () => number, every: number, jitter: number, s: Sizes, range: [number, number], seen = HOUR, missed = 0): [number[], (number | null)[]] {
  const ts: number[] = [];
  for (let t = r() * every; t < seen; t += every) {
    const at = Math.max(0, t + (r() - 0.5) * 2 * jitter * every);
    if (missed === 0 || r() >= missed) ts.push(at);
  }
  return [ts, ts.map(() => size(r, s, range))];
}

/**
 * An implant that sleeps between check-ins (Cobalt Strike, Sliver): each interval is the sleep
 * times (1 - jitter * u), u uniform in [0, 1), so the jitter accumulates instead of staying on a grid.
 */
function sleeper(r: () => number, sleep: number, jitter: number, s: Sizes, range: [number, number]): [number[], (number | null)[]] {
  const ts: number[] = [];
  for (let t = r() * sleep; t < HOUR; t += sleep * (1 - jitter * r())) ts.push(t);
  return [ts, ts.map(() => size(r, s, range))];
}

/** Seen for 50 to 70 minutes (a beacon that starts or stops inside a 1-hour capture): any count of connections, not only whole hours of them. */
const seen = (r: () => number): number => 3000 + r() * 1200;

function main(): void {
  const arg = (name: string, d: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : d;
  };
  const n = arg('n', 2000);
  const g = new Rng(arg('seed', 11));
  const r = (): number => g.next();
  const rows: [string, () => [number[], (number | null)[]]][] = [];
  for (const mean of [120, 180, 300])
    for (const s of ['constant', 'varying', 'none'] as const) rows.push([`Poisson, mean ${mean} s, sizes ${s}`, () => poisson(r, mean, s)]);
  rows.push(
    ['beacon 300 s ±10 %, 300 B', () => beacon(r, 300, 0.1, 'constant', [300, 300])],
    ['beacon 300 s ±10 %, no bytes', () => beacon(r, 300, 0.1, 'none', [0, 0])],
    ['beacon 180 s ±10 %, 2-8 kB', () => beacon(r, 180, 0.1, 'varying', [2000, 8000])],
    ['beacon 180 s ±10 %, no bytes', () => beacon(r, 180, 0.1, 'none', [0, 0])],
    ['beacon 120 s ±20 %, 800 B', () => beacon(r, 120, 0.2, 'constant', [800, 800])],
    ['beacon 90 s ±15 %, 0.5-1.5 kB', () => beacon(r, 90, 0.15, 'varying', [500, 1500])],
    // Added after the rows above, so that their draws (and figures) stay as they were.
    ['beacon 300 s ±10 %, 300 B, 50-70 min', () => beacon(r, 300, 0.1, 'constant', [300, 300], seen(r))],
    ['beacon 300 s ±10 %, no bytes, 50-70 min', () => beacon(r, 300, 0.1, 'none', [0, 0], seen(r))],
    ['beacon 180 s ±10 %, 2-8 kB, 50-70 min', () => beacon(r, 180, 0.1, 'varying', [2000, 8000], seen(r))],
    ['beacon 180 s ±10 %, 2-8 kB, 1 in 10 missed', () => beacon(r, 180, 0.1, 'varying', [2000, 8000], HOUR, 0.1)],
    ['sleep 300 s, jitter 20 %, 300 B', () => sleeper(r, 300, 0.2, 'constant', [300, 300])],
    ['sleep 120 s, jitter 50 %, no bytes', () => sleeper(r, 120, 0.5, 'none', [0, 0])],
    ['sleep 60 s, jitter 30 %, 1-3 kB', () => sleeper(r, 60, 0.3, 'varying', [1000, 3000])],
    ['Poisson, mean 180 s, constant, 50-70 min', () => poissonSeen(r, 180, 'constant', seen(r))],
    ['Poisson, mean 60 s, sizes constant', () => poisson(r, 60, 'constant')],
    ['Poisson, mean 60 s, sizes none', () => poisson(r, 60, 'none')],
  );
  console.log(`one hour per pair, ${n} pairs per row, default beacon configuration (alert at ${defaultDetectorConfig().beacon.threshold})`);
  for (const [name, gen] of rows) {
    let hit = 0;
    for (let i = 0; i < n; i++) {
      const [ts, sizes] = gen();
      if (alerts(ts, sizes)) hit++;
    }
    console.log(`${name.padEnd(42)} alerts on ${((hit / n) * 100).toFixed(1).padStart(5)} %`);
  }
}

main();
