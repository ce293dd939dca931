/**
 * GET /connections/:uid/session against a real service (embedded store): the service decodes
 * the connection's packets with the project's decoder and answers them as JSON. Every packet's
 * flags, relative sequence and acknowledgement numbers and lengths, and each direction's
 * reassembled payload, are checked against tshark run on the pcap GET /connections/:uid/pcap
 * gives for the same connection (tshark's relative numbers and its "follow tcp" stream): a plain
 * HTTP connection from samples/, and an SSH connection inside GRE from ../shared/corpus, which
 * the browser's own decoder (Ethernet, SLL, raw IP, loopback and VXLAN only) could not unwrap.
 * Then the refusals: 404, 409 for a flow-log record and for a capture no longer kept, 401, 403.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { corpusPath, requireCorpus } from '../util/corpus';
import { readEvents, sample, startHarness, type Harness } from './harness';

interface WirePacket {
  n: number;
  ts: number;
  dir: 'orig' | 'resp';
  src: string;
  dst: string;
  sport: number;
  dport: number;
  transport: string;
  flags: string;
  seq: number | null;
  ack: number | null;
  ipLen: number;
  payloadLen: number;
  encap: { tunnel: string; tunnelId: number | null; src: string; dst: string; proto: number; sport: number; dport: number }[];
}

function requireTshark(ctx: Mocha.Context): void {
  if (spawnSync('sh', ['-c', 'command -v tshark']).status === 0) return;
  if (process.env.CI === 'true') throw new Error('tshark is not installed');
  console.warn('      skipped: tshark is not installed');
  ctx.skip();
}

function tshark(args: string[]): string {
  const t = spawnSync('tshark', ['-n', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(t.status, 0, t.stderr);
  return t.stdout;
}

/** Our flag letters (S A P F R U E C) from tshark's tcp.flags.str ("····CE····S·"). */
function lettersOf(str: string): string {
  const at: Record<string, number> = { S: 10, A: 7, P: 8, F: 11, R: 9, U: 6, E: 5, C: 4 };
  return Object.entries(at)
    .filter(([, i]) => str[i] !== '·')
    .map(([l]) => l)
    .join('');
}

/** tshark's "follow tcp" of the only TCP stream in `file`: the bytes each endpoint sent. */
function followTcp(file: string): Map<string, Buffer> {
  const out = tshark(['-r', file, '-q', '-z', 'follow,tcp,raw,0']);
  const nodes: string[] = [];
  const parts: Buffer[][] = [[], []];
  for (const line of out.split('\n')) {
    const m = /^Node ([01]): (.+)$/.exec(line);
    if (m) nodes[Number(m[1])] = m[2];
    else if (/^\t[0-9a-f]+$/.test(line)) parts[1].push(Buffer.from(line.slice(1), 'hex'));
    else if (/^[0-9a-f]+$/.test(line)) parts[0].push(Buffer.from(line, 'hex'));
  }
  assert.equal(nodes.length, 2, out.slice(0, 500));
  return new Map(nodes.map((n, i) => [n, Buffer.concat(parts[i])]));
}

describe('service: a connection session decoded by the service (GET /connections/:uid/session)', function () {
  this.timeout(120_000);
  let h: Harness;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'eastwatch-session-'));

  before(async () => {
    h = await startHarness({ mode: 'local', detectors: false });
  });
  after(async () => {
    await h?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function upload(file: string, name: string): Promise<string> {
    const up = await h.call('POST', `/api/v1/captures?name=${name}`, { key: h.keys.ingest, body: fs.readFileSync(file) });
    assert.equal(up.status, 202, up.text);
    const id = up.json.capture.id as string;
    const ev = await readEvents(`${h.url}/api/v1/captures/${id}/events`, h.keys.analyst);
    assert.equal(ev[ev.length - 1].data.state, 'completed', JSON.stringify(ev[ev.length - 1].data));
    await h.running.runtime.store.refresh();
    return id;
  }

  async function recordOf(capture: string, q: string): Promise<Record<string, any>> {
    const r = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent(`capture:${capture} and ${q}`)}&limit=10`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.records.length, 1, `${q}: ${r.text.slice(0, 300)}`);
    return r.json.records[0];
  }

  /** The connection's pcap as the pcap route gives it, in a file for tshark. */
  async function pcapOf(uid: string): Promise<string> {
    const res = await fetch(`${h.url}/api/v1/connections/${uid}/pcap`, { headers: { authorization: `Bearer ${h.keys.analyst}` } });
    assert.equal(res.status, 200);
    const f = path.join(tmp, `${uid}.pcap`);
    fs.writeFileSync(f, Buffer.from(await res.arrayBuffer()));
    return f;
  }

  /**
   * Every packet against tshark's decode of the same pcap (its relative numbers), and each
   * direction's payload against tshark's "follow tcp" bytes of that endpoint.
   */
  function checkAgainstTshark(s: { packets: WirePacket[]; orig: any; resp: any }, rec: Record<string, any>, file: string): void {
    const rows = tshark([
      '-r',
      file,
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-e',
      'frame.number',
      '-e',
      'tcp.flags.str',
      '-e',
      'tcp.seq',
      '-e',
      'tcp.ack',
      '-e',
      'tcp.len',
      '-e',
      'tcp.srcport',
    ])
      .trim()
      .split('\n')
      .map((l) => l.split('|'));
    assert.equal(s.packets.length, rows.length);
    s.packets.forEach((p, i) => {
      const [n, flags, seq, ack, len, sport] = rows[i];
      const what = `packet ${n}`;
      assert.equal(p.n, Number(n), what);
      assert.equal(p.transport, 'tcp', what);
      assert.equal(p.flags, lettersOf(flags), what);
      assert.equal(p.seq, Number(seq), what);
      // tshark prints 0 for a segment without ACK; the API says null.
      assert.equal(p.ack, p.flags.includes('A') ? Number(ack) : null, what);
      assert.equal(p.payloadLen, Number(len), what);
      assert.equal(p.dir, Number(sport) === rec.orig_p ? 'orig' : 'resp', what);
    });
    const follow = followTcp(file);
    const orig = follow.get(`${rec.orig_h}:${rec.orig_p}`) as Buffer;
    const resp = follow.get(`${rec.resp_h}:${rec.resp_p}`) as Buffer;
    assert.ok(orig && resp, [...follow.keys()].join(', '));
    assert.deepEqual(Buffer.from(s.orig.data, 'base64'), orig);
    assert.deepEqual(Buffer.from(s.resp.data, 'base64'), resp);
    for (const d of [s.orig, s.resp]) {
      assert.equal(d.bytes, Buffer.from(d.data, 'base64').length);
      assert.equal(d.total, d.bytes);
      assert.equal(d.missing, 0);
      assert.equal(d.truncated, false);
    }
  }

  it('a plain TCP connection: its packets as tshark reads them and each direction as "follow tcp" gives it', async function () {
    requireTshark(this);
    const id = await upload(sample('pod-traffic.pcap'), 'pod-traffic.pcap');
    // The first HTTP connection of the sample (tshark's frames 5-17: GET /api/v1/cart).
    const rec = await recordOf(id, 'src:10.244.1.10 and sport:35171 and dport:8080');
    const r = await h.call('GET', `/api/v1/connections/${rec.uid}/session`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
    const s = r.json as { packets: WirePacket[]; orig: any; resp: any; skipped: number; truncated: boolean; problem: string | null; maxPayload: number };
    assert.equal(s.packets.length, rec.orig_pkts + rec.resp_pkts);
    assert.equal(s.packets.length, 13);
    assert.equal(s.skipped, 0);
    assert.equal(s.truncated, false);
    assert.equal(s.problem, null);
    assert.equal(s.maxPayload, 256 * 1024);
    checkAgainstTshark(s, rec, await pcapOf(rec.uid));
    // tshark -r samples/pod-traffic.pcap -Y 'tcp.stream==0' -T fields -e tcp.flags.str -e tcp.seq -e tcp.ack: the handshake and the close.
    assert.deepEqual(
      s.packets.map((p) => [p.dir, p.flags, p.seq, p.ack]),
      [
        ['orig', 'S', 0, null],
        ['resp', 'SA', 0, 1],
        ['orig', 'A', 1, 1],
        ['orig', 'AP', 1, 1],
        ['resp', 'AP', 1, 171],
        ['orig', 'AP', 171, 1222],
        ['resp', 'AP', 1222, 349],
        ['orig', 'AP', 349, 2609],
        ['resp', 'AP', 2609, 515],
        ['orig', 'A', 515, 2712],
        ['orig', 'AF', 515, 2712],
        ['resp', 'AF', 2712, 516],
        ['orig', 'A', 516, 2713],
      ],
    );
    const p0 = s.packets[0];
    assert.deepEqual([p0.src, p0.sport, p0.dst, p0.dport, p0.encap], ['10.244.1.10', 35171, '10.96.12.34', 8080, []]);
    assert.equal(p0.ts, rec.ts);
    const orig = Buffer.from(s.orig.data, 'base64').toString('latin1');
    assert.ok(orig.startsWith('GET /api/v1/cart HTTP/1.1\r\nHost: api.default.svc.cluster.local:8080\r\n'), orig.slice(0, 100));
    assert.equal(s.orig.bytes, rec.orig_bytes);
    assert.equal(s.resp.bytes, rec.resp_bytes);
    assert.ok(Buffer.from(s.resp.data, 'base64').toString('latin1').startsWith('HTTP/1.1 200 OK\r\n'));
  });

  it('an SSH connection inside GRE (corpus gre-sample.pcap): the inner packets, the GRE layer around them, both banners', async function () {
    requireCorpus(this);
    requireTshark(this);
    const id = await upload(corpusPath('zeek/tunnels/gre-sample.pcap'), 'gre-sample.pcap');
    const rec = await recordOf(id, 'src:66.59.111.190 and sport:40264 and dport:22');
    const r = await h.call('GET', `/api/v1/connections/${rec.uid}/session`);
    assert.equal(r.status, 200, r.text);
    const s = r.json as { packets: WirePacket[]; orig: any; resp: any; skipped: number };
    // Zeek's conn.log of the trace (gre-sample.pcap.zeek.core.tunnels.gre.conn.log): 12 + 10 packets, 952 and 1671 bytes.
    assert.equal(s.packets.length, 22);
    assert.equal(s.packets.filter((p) => p.dir === 'orig').length, 12);
    assert.equal(s.orig.bytes, 952);
    assert.equal(s.resp.bytes, 1671);
    checkAgainstTshark(s, rec, await pcapOf(rec.uid));
    // The first SYN carries ECE and CWR (tshark: ····CE····S·).
    assert.equal(s.packets[0].flags, 'SEC');
    for (const p of s.packets) {
      const [inner, outer] =
        p.dir === 'orig'
          ? [
              ['66.59.111.190', '172.28.2.3'],
              ['172.27.1.66', '66.59.109.137'],
            ]
          : [
              ['172.28.2.3', '66.59.111.190'],
              ['66.59.109.137', '172.27.1.66'],
            ];
      assert.deepEqual([p.src, p.dst], inner, `packet ${p.n}`);
      assert.deepEqual(p.encap, [{ tunnel: 'gre', tunnelId: null, src: outer[0], dst: outer[1], proto: 47, sport: 0, dport: 0 }], `packet ${p.n}`);
    }
    // The inner IP lengths, as tshark reads the second ip.len of each frame.
    const ipLens = tshark(['-r', await pcapOf(rec.uid), '-T', 'fields', '-e', 'ip.len'])
      .trim()
      .split('\n')
      .map((l) => Number(l.split(',')[1]));
    assert.deepEqual(
      s.packets.map((p) => p.ipLen),
      ipLens,
    );
    assert.equal(Buffer.from(s.orig.data, 'base64').subarray(0, 24).toString('latin1'), 'SSH-2.0-OpenSSH_3.6.1p1\n');
    assert.equal(Buffer.from(s.resp.data, 'base64').subarray(0, 23).toString('latin1'), 'SSH-1.99-OpenSSH_3.1p1\n');

    // The capture gone from the uploads (retention): 409, saying so.
    const uploads = path.join(h.cfg.dataDir, 'uploads');
    for (const f of fs.readdirSync(uploads)) if (f.startsWith(id)) fs.rmSync(path.join(uploads, f));
    const gone = await h.call('GET', `/api/v1/connections/${rec.uid}/session`);
    assert.equal(gone.status, 409, gone.text);
    assert.match(gone.json.error, new RegExp(`the capture ${id} of connection ${rec.uid} is no longer kept`));
  });

  it('refuses: an unknown uid 404, a flow-log record 409, no key 401, an ingest key 403', async () => {
    const none = await h.call('GET', '/api/v1/connections/CnoSuchUid000000/session');
    assert.equal(none.status, 404);
    assert.equal(none.json.error, 'no connection CnoSuchUid000000');
    const bad = await h.call('GET', '/api/v1/connections/not%20a%20uid/session');
    assert.equal(bad.status, 400);

    const flows = await h.call('POST', '/api/v1/flows?wait=true&source=test-zeek', {
      key: h.keys.ingest,
      body: fs.readFileSync(sample('flows/wikipedia.conn.zeek.json'), 'utf8'),
      headers: { 'content-type': 'application/x-ndjson' },
    });
    assert.equal(flows.status, 202, flows.text);
    await h.running.runtime.store.refresh();
    const page = await h.call('GET', `/api/v1/connections?q=${encodeURIComponent('proto:tcp')}&limit=1000`);
    const flow = (page.json.records as Record<string, any>[]).find((x) => !x.capture);
    assert.ok(flow, 'a TCP record from the flow log');
    const r = await h.call('GET', `/api/v1/connections/${flow.uid}/session`);
    assert.equal(r.status, 409);
    assert.equal(r.json.error, `connection ${flow.uid} came from flow logs: there are no packets to decode`);

    assert.equal((await h.call('GET', `/api/v1/connections/${flow.uid}/session`, { key: null })).status, 401);
    assert.equal((await h.call('GET', `/api/v1/connections/${flow.uid}/session`, { key: h.keys.ingest })).status, 403);
  });
});
