/**
 * The deliberate differences from Zeek's baselines: the only place one may be listed. Each item
 * names the baseline log (and so the capture), the row's key as the suites print it, the field(s)
 * and why we differ on purpose. A listed value is left out of the agreement counts and the gates;
 * the suites fail when a listed value starts to agree with Zeek (delete the item: the list only
 * shrinks) or no longer occurs. This is not a place for work not done.
 */

export interface Difference {
  /** Baseline log, relative to ../shared/corpus. */
  log: string;
  /**
   * The row's key as the suite prints it: conn `orig_h|orig_p|resp_h|resp_p|proto` (the tuple columns the baseline has); dns/http/ssl the
   * id columns the baseline has, then its key columns (dns trans_id|query, http trans_depth), `|`-joined.
   */
  key: string;
  fields: string[];
  reason: string;
}

export const DIFFERENCES: Difference[] = [
  ...[
    { log: 'zeek/dns53.pcap.zeek.spicy.protocol-analyzer-data-in-from-tcp-to-udp.http.log', key: '207.158.192.40|53|10.20.1.31|53|1' },
    ...[1, 2, 3].map((depth) => ({
      log: 'zeek/ssh/single-conn.pcap.zeek.spicy.protocol-analyzer-data-in.http.log',
      key: `192.150.186.169|49244|131.159.14.23|22|${depth}`,
    })),
  ].map((row) => ({
    ...row,
    fields: ['method', 'host', 'uri', 'status_code', 'user_agent', 'request_body_len', 'response_body_len'],
    reason:
      'Not on the wire: the btest compiles a Spicy analyzer (test.hlto) that fabricates HTTP requests and hands them to ' +
      "Zeek's HTTP analyzer with protocol_data_in(); stock Zeek logs no HTTP here, and neither do we.",
  })),
  {
    log: 'zeek/ftp/ipv4.pcap.zeek.signatures.eval-condition.conn.log',
    key: '141.142.220.235|50003|199.233.217.249|21|tcp',
    fields: ['service'],
    reason:
      'Not on the wire: the btest loads its own signature (blah.sig: src-port 21, any payload) whose eval function ' +
      'adds a made-up service "blah" (`ftp,blah`); stock Zeek says `ftp` here, as we do.',
  },
  {
    log: 'zeek/tcp/missing-syn.pcap.zeek.core.history-flip.conn.log',
    key: '141.42.64.125|56730|125.190.109.199|80|tcp',
    fields: ['local_resp'],
    reason:
      "Zeek's own baselines of this capture disagree: core.tcp.missing-syn says local_resp F for the same connection, " +
      'and 125.190.109.199 is a public address outside Site::local_nets (Site::is_local_addr is F; the btest redefines ' +
      "nothing; conn/main.zeek's connection_flipped handler recomputes both flags with it). We give F, as that baseline does.",
  },
];

/** Lookup over DIFFERENCES that remembers which items were met and how each compared. */
export class DifferenceList {
  private readonly items = new Map<string, { reason: string; seen: number; agreed: number }>();
  private readonly entries: Difference[];

  constructor(list: Difference[], logPattern: RegExp) {
    this.entries = list.filter((d) => logPattern.test(d.log));
    for (const d of this.entries) {
      for (const f of d.fields) this.items.set(DifferenceList.id(d.log, d.key, f), { reason: d.reason, seen: 0, agreed: 0 });
    }
  }

  private static id(log: string, key: string, field: string): string {
    return `${log} ${key} ${field}`;
  }

  /** Whether (log, key, field) is listed; if so records whether it agreed this run. */
  listed(log: string, key: string, field: string, agreed: boolean): boolean {
    const it = this.items.get(DifferenceList.id(log, key, field));
    if (!it) return false;
    it.seen++;
    if (agreed) it.agreed++;
    return true;
  }

  /** Listed items that agree with Zeek now, or that no run met: both mean the item must be deleted. */
  stale(): string[] {
    const out: string[] = [];
    for (const [id, it] of this.items) {
      if (it.seen === 0) out.push(`${id}: listed but not met (baseline or row gone, or key misspelt)`);
      else if (it.agreed > 0) out.push(`${id}: listed as a deliberate difference but now agrees with Zeek; delete it from test/conformance/differences.ts`);
    }
    return out;
  }

  /** Listed rows with their fields and reasons, for the report. */
  describe(): string[] {
    return this.entries.map((d) => `${d.log} ${d.key} (${d.fields.join(', ')}): ${d.reason}`);
  }
}
