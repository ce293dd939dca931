/**
 * The terminal summary of an analysis: connections by state and protocol, top talkers,
 * and what could not be decoded. Fed record by record; interim records are not counted twice.
 */
import Table from 'cli-table3';
import type { ConnRecord } from '../../parsers/record/conn';
import type { AnalyzeResult } from '../analyze/pipeline';

export class SummaryCollector {
  connections = 0;
  interim = 0;
  // Counts in boxes: one probe per record and map rather than a get and a set.
  readonly byState = new Map<string, { n: number }>();
  readonly byProto = new Map<string, { n: number }>();
  private readonly talkers = new Map<string, { bytes: number; conns: number }>();

  add(r: ConnRecord): void {
    if (r.interim) {
      this.interim++;
      return;
    }
    this.connections++;
    bump(this.byState, r.conn_state);
    bump(this.byProto, r.proto === 'unknown_transport' ? `ip/${r.ip_proto}` : r.proto);
    // One probe of the table per record rather than a get and a set.
    const t = this.talkers.get(r.orig_h);
    if (t === undefined) this.talkers.set(r.orig_h, { bytes: r.orig_ip_bytes + r.resp_ip_bytes, conns: 1 });
    else {
      t.bytes += r.orig_ip_bytes + r.resp_ip_bytes;
      t.conns++;
    }
  }

  topTalkers(n: number): Array<{ host: string; bytes: number; conns: number }> {
    return [...this.talkers.entries()]
      .map(([host, v]) => ({ host, ...v }))
      .sort((a, b) => b.bytes - a.bytes || b.conns - a.conns || (a.host < b.host ? -1 : 1))
      .slice(0, n);
  }

  render(results: AnalyzeResult[]): string {
    const lines: string[] = [];
    const packets = results.reduce((s, r) => s + r.packets, 0);
    const malformed = results.reduce((s, r) => s + r.malformed, 0);
    const nonIp = results.reduce((s, r) => s + r.nonIpPackets, 0);
    const forced = results.reduce((s, r) => s + r.tracker.forcedFlushes, 0);
    lines.push(
      `${results.length} capture(s), ${packets} packets, ${this.connections} connections` +
        (this.interim ? ` (+${this.interim} interim records)` : '') +
        `, ${nonIp} non-IP packets, ${malformed} malformed` +
        (forced ? `, ${forced} connections flushed early (flow table full)` : ''),
    );
    const counts = new Table({ head: ['state', 'connections', 'protocol', 'connections'], style: { head: [], border: [], compact: true } });
    const states = sorted(this.byState);
    const protos = sorted(this.byProto);
    for (let i = 0; i < Math.max(states.length, protos.length); i++) {
      counts.push([states[i]?.[0] ?? '', states[i]?.[1] ?? '', protos[i]?.[0] ?? '', protos[i]?.[1] ?? '']);
    }
    lines.push(counts.toString());
    const top = this.topTalkers(5);
    if (top.length) {
      const t = new Table({ head: ['top originators', 'IP bytes', 'connections'], style: { head: [], border: [], compact: true } });
      for (const x of top) t.push([x.host, x.bytes, x.conns]);
      lines.push(t.toString());
    }
    for (const r of results) {
      if (r.malformed > 0) {
        const codes = Object.entries(r.malformedByCode).sort((a, b) => b[1] - a[1]);
        lines.push(`${r.file}: ${r.malformed} malformed packet(s): ${codes.map(([c, n]) => `${c} ${n}`).join(', ')}`);
        for (const e of r.malformedExamples.slice(0, 5)) {
          lines.push(`  packet ${e.packet} (file offset ${e.fileOffset}, byte ${e.offsetInPacket} of the packet): ${e.message}`);
        }
      }
      if (r.depthLimited > 0) lines.push(`${r.file}: ${r.depthLimited} packet(s) hit the tunnel depth limit`);
      if (r.unsupportedLink > 0) lines.push(`${r.file}: ${r.unsupportedLink} packet(s) on unsupported link types`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function bump(m: Map<string, { n: number }>, k: string): void {
  const c = m.get(k);
  if (c === undefined) m.set(k, { n: 1 });
  else c.n++;
}

function sorted(m: Map<string, { n: number }>): Array<[string, number]> {
  return [...m.entries()].map(([k, c]): [string, number] => [k, c.n]).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}
