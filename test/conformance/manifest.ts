/**
 * How Zeek was run for each baseline log in ../shared/corpus, read from MANIFEST.json: the Zeek
 * command recorded in each oracle's note, and the analyze options that reproduce it: checksum
 * verification (Zeek without -C verifies checksums), redefined constants, and in bare mode (-b)
 * the analyzers of the scripts it loaded.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ANALYZER_NAMES, type MuxOptions, OPTIONAL_FACTORIES, selectAnalyzers } from '../../parsers/protocols/mux';
import { CORPUS_DIR } from '../util/corpus';
import { BARE_LIKELY_SERVER_PORTS_TCP, BARE_LIKELY_SERVER_PORTS_UDP } from '../../parsers/conntrack/tracker';

export interface ZeekRun {
  /** The Zeek command line(s) as the manifest records them. */
  commands: string[];
  /** Zeek ran without -C, so it verified checksums (`eastwatch analyze --verify-checksums`). */
  verifyChecksums: boolean;
  /** Script constants the command line redefines (`zeek -r trace dns_max_queries=3`), by name. */
  redefs: Record<string, string>;
  /** The btest file that made the baseline (`scripts/base/protocols/gnutella/max-line-length.zeek`), when the note names it. */
  btest: string | null;
  /** Zeek ran in bare mode (-b): only the scripts it was given were loaded. */
  bare: boolean;
  /** The scripts the run loaded beyond Zeek's own (command line and test file); null when the note does not say. */
  scripts: string[] | null;
  /**
   * Zeek's likely_server_ports for the run when it was `zeek -b` with the scripts it loaded known:
   * bare mode has only the packet-protocol ports, plus those each loaded protocol script adds. It
   * decides which side of a connection seen mid-way is the originator. Undefined: the default set.
   */
  likelyServerPorts?: { tcp: number[]; udp: number[] };
}

/** A Zeek script path as a command line or note names it (`base/protocols/dns`, `frameworks/analyzer/debug-logging.zeek`). */
const SCRIPT = /^(base|policy|protocols|frameworks|files|misc|tuning|integration)(\/[\w.-]+)+$/;

/**
 * The scripts a run loaded, from its command lines and its note: newer notes say what `%INPUT` (the
 * btest file) loads or that it was not loaded; older ones list them after `, loads ` (`conn+http`:
 * two scripts of one directory) or ` + `. Null when neither says (`zeek -b -r TRACE; test x.zeek`).
 */
export function loadedScripts(note: string, commands: string[]): string[] | null {
  const out = new Set<string>();
  let known = false;
  for (const c of commands) {
    for (const t of c.split(/\s+/).slice(1)) {
      if (!SCRIPT.test(t)) continue;
      out.add(t);
      known = true;
    }
  }
  const input = /%INPUT \([^)]*\) loads ([^;]*)/.exec(note);
  if (input) {
    known = true;
    for (const s of input[1].split(',')) if (SCRIPT.test(s.trim())) out.add(s.trim());
  }
  if (/test file not loaded \(no %INPUT\)/.test(note)) known = true;
  const old = /^zeek [^;,+]*?(?:, loads | \+ )([^;]*)/.exec(note);
  if (old) {
    known = true;
    for (const part of old[1].split(',')) {
      const [first, ...more] = part.trim().split(/\s/)[0].split('+');
      if (!SCRIPT.test(first)) continue;
      out.add(first);
      const dir = first.slice(0, first.lastIndexOf('/') + 1);
      for (const m of more) out.add(dir + m);
    }
  }
  return known ? [...out] : null;
}

/** Zeek's protocol script directories, by the analyzer name `selectAnalyzers` takes (where they differ). */
const ZEEK_PROTOCOL_ANALYZER: Record<string, readonly string[]> = { ssl: ['tls', 'dtls'], rdp: ['rdp', 'rdpeudp'] };
/** Analyzers Zeek runs only where a script attaches them. */
const OPTIONAL_NAMES = new Set(OPTIONAL_FACTORIES.map((f) => f.name));
/** Our analyzers with no Zeek counterpart in its distribution: never on in a bare run. */
const OURS_ONLY = new Set(['http2', 'kafka', 'mongodb']);

/**
 * The analyzers a bare run attached: those of the protocol scripts it loaded (base/ or policy/
 * protocols/<name>/...), as ours are named; Zeek's protocols we have no analyzer for drop out.
 */
export function analyzersForScripts(scripts: string[]): string[] {
  const out = new Set<string>();
  for (const s of scripts) {
    const m = /(?:^|\/)protocols\/([a-z0-9_]+)/.exec(s);
    if (!m) continue;
    for (const name of ZEEK_PROTOCOL_ANALYZER[m[1]] ?? [m[1]]) if (ANALYZER_NAMES.includes(name) && !OURS_ONLY.has(name)) out.add(name);
  }
  return [...out];
}

/**
 * The ports each protocol script adds to likely_server_ports (`redef likely_server_ports += ...` in
 * zeek/scripts/base/protocols/<name>/main.zeek). Scripts without ports (conn, frameworks, files)
 * are absent; an unknown base/protocols script leaves the run on the default set.
 */
const SCRIPT_SERVER_PORTS: Record<string, { tcp?: number[]; udp?: number[] }> = {
  conn: {},
  tunnels: {},
  dhcp: { udp: [67] },
  dns: { tcp: [53], udp: [53, 137, 5353, 5355] },
  ftp: { tcp: [21, 2811] },
  http: { tcp: [80, 81, 631, 1080, 3128, 8000, 8080, 8888] },
  irc: { tcp: [6666, 6667, 6668, 6669] },
  ntp: { udp: [123] },
  pop3: { tcp: [110] },
  rdp: { tcp: [3389], udp: [3389] },
  redis: { tcp: [6379] },
  ssh: { tcp: [22] },
  // base/protocols/syslog/main.zeek registers its ports for its analyzers but adds none to likely_server_ports.
  syslog: {},
  ssl: { tcp: [443, 563, 585, 614, 636, 989, 990, 992, 993, 995, 5223], udp: [443] },
};

/**
 * likely_server_ports of a `zeek -b` run whose scripts are known (`loadedScripts`): the bare set
 * plus the ports of each loaded protocol script. Undefined when not bare, when the scripts are
 * not known, or when one is a protocol script whose ports are not in the table above.
 */
function bareServerPorts(bare: boolean, scripts: string[] | null): { tcp: number[]; udp: number[] } | undefined {
  if (!bare || scripts === null) return undefined;
  const tcp = new Set(BARE_LIKELY_SERVER_PORTS_TCP);
  const udp = new Set(BARE_LIKELY_SERVER_PORTS_UDP);
  for (const script of scripts) {
    const m = /^base\/protocols\/([^/]+)/.exec(script.trim());
    if (!m) continue;
    const ports = SCRIPT_SERVER_PORTS[m[1]];
    if (ports === undefined) return undefined;
    for (const p of ports.tcp ?? []) tcp.add(p);
    for (const p of ports.udp ?? []) udp.add(p);
  }
  return { tcp: [...tcp], udp: [...udp] };
}

/** `redef Name = value` statements of the test file, as newer notes list them (`redef X += ...` is not a value). */
export function noteRedefs(note: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of note.matchAll(/(?:^|;)\s*redef ([A-Za-z_][A-Za-z0-9_:]*) = ([^;]+)/g)) out[m[1]] = m[2].trim();
  return out;
}

/**
 * Analyzers a btest file attaches itself, in its zeek_init (Analyzer::register_for_port), which
 * the MANIFEST notes do not record. From the test sources in zeek/zeek testing/btest.
 */
const BTEST_ATTACHED: Readonly<Record<string, readonly string[]>> = {
  // register_for_port(Analyzer::ANALYZER_GNUTELLA, 6346/tcp)
  'scripts/base/protocols/gnutella/max-line-length.zeek': ['gnutella'],
};

/** `name=value` arguments of a Zeek command line: redefinitions of script constants. */
export function commandRedefs(command: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of command.split(/\s+/).slice(1)) {
    const m = /^([A-Za-z_][A-Za-z0-9_:]*)=(\S+)$/.exec(t);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

interface ManifestEntry {
  file: string;
  oracles: { file: string; note: string }[];
}

/** Zeek's short options that take an argument: the token after a cluster ending in one is a value, not flags. */
const TAKES_ARG = new Set(['r', 'w', 'e', 'f', 'i', 'p', 's', 't', 'x', 'X', 'U', 'G', 'F', 'T', 'R', 'j']);

/**
 * The Zeek command lines in a note: each backquoted segment (newer notes quote the btest @TEST-EXEC
 * lines) or the note's text up to the first ',' or ';' (older notes: "zeek -b -C -r TRACE; test ...").
 * A pipeline or env-prefixed command (`zcat < x | zeek -r - %INPUT`) gives the part from `zeek` on.
 */
function zeekCommands(note: string): string[] {
  const quoted = [...note.matchAll(/`([^`]*)`/g)].map((m) => m[1]);
  const segments = quoted.length ? quoted : [note.split(/[;,]/)[0]];
  return segments.flatMap((s) => {
    const m = /(?:^|[\s|])(zeek\s.*)$/.exec(s);
    return m ? [m[1].trim()] : [];
  });
}

/** Whether a Zeek command line carries the single-letter flag (alone or in a cluster such as -Cr or -bC). */
export function hasFlag(command: string, flag: string): boolean {
  const tokens = command.split(/\s+/).slice(1);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (!/^-[A-Za-z]+$/.test(t)) continue;
    // In a cluster, letters after one that takes an argument are that argument, not flags.
    for (let j = 1; j < t.length; j++) {
      if (t[j] === flag) return true;
      if (TAKES_ARG.has(t[j])) break;
    }
    if (TAKES_ARG.has(t[t.length - 1])) i++;
  }
  return false;
}

/** Whether a Zeek command line carries -C. */
export function hasDashC(command: string): boolean {
  return hasFlag(command, 'C');
}

let runs: Map<string, ZeekRun> | null = null;

function load(): Map<string, ZeekRun> {
  const entries = JSON.parse(fs.readFileSync(path.join(CORPUS_DIR, 'MANIFEST.json'), 'utf8')) as ManifestEntry[];
  const out = new Map<string, ZeekRun>();
  for (const e of entries) {
    let previous: string[] = [];
    let previousScripts: string[] | null = null;
    for (const o of e.oracles) {
      // A "same run" note without a command of its own shares the command of the oracle listed before it.
      const own = zeekCommands(o.note);
      const shared = own.length === 0 && /^same run\b/.test(o.note);
      const commands = shared ? previous : own;
      const scripts: string[] | null = shared ? previousScripts : loadedScripts(o.note, commands);
      previous = commands;
      previousScripts = scripts;
      if (!commands.length) continue;
      const withC = commands.map(hasDashC);
      if (withC.some((c) => c !== withC[0])) throw new Error(`MANIFEST.json: ${o.file}: Zeek commands disagree on -C: ${commands.join(' ; ')}`);
      const verifyChecksums = !withC[0];
      // Newer notes also say it in words; a parse that disagrees with them is a bug here, not a fact.
      const said = /no -C: checksums verified/.test(o.note) ? true : /-C: checksums ignored/.test(o.note) ? false : null;
      if (said !== null && said !== verifyChecksums)
        throw new Error(`MANIFEST.json: ${o.file}: note says checksums ${said ? 'verified' : 'ignored'} but the command reads otherwise`);
      const bare = commands.some((c) => hasFlag(c, 'b'));
      out.set(o.file, {
        commands,
        verifyChecksums,
        // The command line's redefinitions win over the test file's (Zeek applies them last).
        redefs: Object.assign(noteRedefs(o.note), ...commands.map(commandRedefs)),
        btest: /btest `([^`]+)`/.exec(o.note)?.[1] ?? null,
        bare,
        scripts,
        likelyServerPorts: bareServerPorts(bare, scripts),
      });
    }
  }
  return out;
}

/** How Zeek produced a baseline (path relative to the corpus, as MANIFEST.json names it); throws when not recorded. */
export function zeekRunFor(baselineRel: string): ZeekRun {
  runs ??= load();
  const r = runs.get(baselineRel.split(path.sep).join('/'));
  if (!r) throw new Error(`MANIFEST.json records no Zeek command for ${baselineRel}`);
  return r;
}

/**
 * The analyzer options that reproduce a run: its redefinitions (only those our analyzers have) and,
 * in bare mode, only the analyzers of the scripts it loaded (`analyze --analyzers`). A bare run
 * whose note does not say what it loaded keeps them all.
 */
export function analyzerOptionsFor(run: ZeekRun): MuxOptions {
  const attached = (run.btest !== null ? BTEST_ATTACHED[run.btest] : undefined) ?? [];
  let o: MuxOptions = {};
  if (run.bare && run.scripts !== null) o = selectAnalyzers([...analyzersForScripts(run.scripts), ...attached]);
  else if (attached.length > 0) o = selectAnalyzers([...ANALYZER_NAMES.filter((n) => !OPTIONAL_NAMES.has(n)), ...attached]);
  const num = (name: string): number | undefined => (run.redefs[name] !== undefined ? Number(run.redefs[name]) : undefined);
  o.dnsMaxQueries = num('dns_max_queries');
  o.gnutellaMaxLineLength = num('Gnutella::max_line_length');
  o.gnutellaMaxHeaderLength = num('Gnutella::max_header_length');
  if (run.redefs['DPD::track_removed_services_in_connection'] === 'T') o.trackRemovedServices = true;
  return o;
}
