/**
 * The conformance ratchet (issue 13) and the agreement tallies the Zeek suites share.
 *
 * test/conformance/ratchet.json records, per suite ("conn", "app"), per baseline log and per field,
 * how many values agreed with Zeek out of how many were compared ("agreed/compared"), plus the
 * gate pseudo-field "(gate)" (rows that match on all gate fields). A suite fails on any count
 * below the file and on any gain not yet written into it, so the file only moves up as fixes land.
 * `npm run conformance:ratchet` (RATCHET_UPDATE=1) rewrites the file from a run.
 *
 * The switch: while a suite's section of the file has entries, the ratchet is the gate. When the
 * file (or the section) is gone or empty, the final gates apply instead: the issue's percentage,
 * and no difference from Zeek that test/conformance/differences.ts does not list.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Suite = 'conn' | 'app';

/** Pseudo-field holding a log's rows matched on every gate field. */
export const GATE_FIELD = '(gate)';

/** The file in the source tree (tests run from dist/test/conformance; it is read and written where it is checked in). */
export const RATCHET_FILE = path.resolve(__dirname, '..', '..', '..', 'test', 'conformance', 'ratchet.json');

/** The file as messages name it, relative to the repository. */
export const RATCHET_NAME = 'test/conformance/ratchet.json';

export const RATCHET_COMMAND = 'npm run conformance:ratchet';

/** Set by `npm run conformance:ratchet`: write the run's counts into the ratchet instead of checking them. */
export const RATCHET_UPDATE = process.env.RATCHET_UPDATE === '1';

interface Count {
  agreed: number;
  compared: number;
}

/** Agreement counts of one suite's run, per baseline log and field; also the unlisted differences seen. */
export class Agreement {
  readonly logs = new Map<string, Map<string, Count>>();
  /** Every compared value that differs and is not listed in differences.ts, as printed lines. */
  readonly differences: string[] = [];

  add(log: string, field: string, agreed: boolean): void {
    let fields = this.logs.get(log);
    if (!fields) {
      fields = new Map();
      this.logs.set(log, fields);
    }
    const c = fields.get(field) ?? { agreed: 0, compared: 0 };
    c.compared++;
    if (agreed) c.agreed++;
    fields.set(field, c);
  }

  /** Counts summed over logs, per field. */
  totals(): Map<string, Count> {
    const out = new Map<string, Count>();
    for (const fields of this.logs.values())
      for (const [f, c] of fields) {
        const t = out.get(f) ?? { agreed: 0, compared: 0 };
        t.agreed += c.agreed;
        t.compared += c.compared;
        out.set(f, t);
      }
    return out;
  }

  /** The gate's total: rows matched on every gate field, out of the rows compared. */
  gate(): Count {
    return this.totals().get(GATE_FIELD) ?? { agreed: 0, compared: 0 };
  }
}

/** Per-field agreement lines in the stable format the README quotes: `field  agreed/compared  pct%`. */
export function agreementLines(a: Agreement, order: string[]): string[] {
  const totals = a.totals();
  const fields = [...order.filter((f) => totals.has(f)), ...[...totals.keys()].filter((f) => !order.includes(f) && f !== GATE_FIELD).sort()];
  return fields.map((f) => {
    const c = totals.get(f)!;
    return `      ${f.padEnd(24)} ${`${c.agreed}/${c.compared}`.padStart(9)}  ${percent(c)}`;
  });
}

export function percent(c: Count): string {
  return `${c.compared ? ((c.agreed / c.compared) * 100).toFixed(1) : '-'}%`;
}

type Section = Record<string, Record<string, string>>;

function readFile(): Partial<Record<Suite, Section>> {
  if (!fs.existsSync(RATCHET_FILE)) return {};
  const text = fs.readFileSync(RATCHET_FILE, 'utf8').trim();
  return text ? (JSON.parse(text) as Partial<Record<Suite, Section>>) : {};
}

/** The suite's recorded counts, or null when the file or its section is gone or empty (final gates apply). */
export function loadRatchet(suite: Suite): Section | null {
  const s = readFile()[suite];
  return s && Object.keys(s).length ? s : null;
}

function toSection(a: Agreement): Section {
  const out: Section = {};
  for (const log of [...a.logs.keys()].sort()) {
    const fields = a.logs.get(log)!;
    out[log] = {};
    // Gate first, then by name, so that a rewrite changes only the lines whose counts moved.
    for (const f of [GATE_FIELD, ...[...fields.keys()].filter((k) => k !== GATE_FIELD).sort()]) {
      const c = fields.get(f);
      if (c) out[log][f] = `${c.agreed}/${c.compared}`;
    }
  }
  return out;
}

/**
 * Rewrites the suite's section from this run, keeping the other sections; written as Biome formats
 * JSON. Returns the counts that went down against the old file, so the one updating sees what a
 * rewrite would accept as a regression.
 */
export function writeRatchet(suite: Suite, a: Agreement): string[] {
  const all = readFile();
  const drops = all[suite] ? checkRatchet(a, all[suite]).drops : [];
  all[suite] = toSection(a);
  const sorted = Object.fromEntries((Object.keys(all) as Suite[]).sort().map((s) => [s, all[s]]));
  fs.writeFileSync(RATCHET_FILE, `${JSON.stringify(sorted, null, 2)}\n`);
  return drops;
}

export interface RatchetVerdict {
  /** Counts below the file: regressions. */
  drops: string[];
  /** Counts above the file, new logs or fields, or changed totals compared: the file must be rewritten. */
  gains: string[];
}

/** Compares a run with the recorded section, log by log and field by field. */
export function checkRatchet(a: Agreement, recorded: Section): RatchetVerdict {
  const now = toSection(a);
  const drops: string[] = [];
  const gains: string[] = [];
  const logs = new Set([...Object.keys(recorded), ...Object.keys(now)]);
  for (const log of [...logs].sort()) {
    const was = recorded[log] ?? {};
    const is = now[log] ?? {};
    for (const f of new Set([...Object.keys(was), ...Object.keys(is)])) {
      const [wasAgreed, wasCompared] = (was[f] ?? '0/0').split('/').map(Number);
      const [isAgreed, isCompared] = (is[f] ?? '0/0').split('/').map(Number);
      const line = `${log} ${f}: ${was[f] ?? 'not recorded'} -> ${is[f] ?? 'not compared'}`;
      if (isAgreed < wasAgreed) drops.push(line);
      else if (isAgreed > wasAgreed || isCompared !== wasCompared) gains.push(line);
    }
  }
  return { drops, gains };
}

/** The failure message for a verdict, or null when the run equals the file. */
export function ratchetFailure(v: RatchetVerdict): string | null {
  const parts: string[] = [];
  if (v.drops.length) parts.push(`agreement dropped below ${RATCHET_NAME} (a regression; fix it):\n  ${v.drops.join('\n  ')}`);
  if (v.gains.length)
    parts.push(
      `agreement rose above ${RATCHET_NAME}, or what is compared changed (corpus, differences.ts); ` +
        `write it into the ratchet with \`${RATCHET_COMMAND}\` and commit the file:\n  ${v.gains.join('\n  ')}`,
    );
  return parts.length ? parts.join('\n') : null;
}

/**
 * A suite's closing check: with RATCHET_UPDATE, rewrite its section and say what was recorded
 * lower; while its section has entries, the ratchet; once it is gone, the final gate (`finalGate`
 * of the gate rows) and no difference from Zeek that differences.ts does not list.
 */
export function holdGate(suite: Suite, a: Agreement, finalGate: number): void {
  if (RATCHET_UPDATE) {
    const drops = writeRatchet(suite, a);
    console.log(`    wrote the ${suite} section of ${RATCHET_NAME}`);
    for (const d of drops) console.log(`    WARNING: recorded a drop: ${d}`);
    return;
  }
  const recorded = loadRatchet(suite);
  if (recorded) {
    const failure = ratchetFailure(checkRatchet(a, recorded));
    if (failure) assert.fail(failure);
    return;
  }
  const gate = a.gate();
  assert.ok(
    gate.agreed / gate.compared >= finalGate,
    `${gate.agreed}/${gate.compared} = ${percent(gate)} (< ${finalGate * 100}%); first differences:\n${a.differences.slice(0, 20).join('\n')}`,
  );
  assert.deepEqual(a.differences, [], 'differences from Zeek not listed in test/conformance/differences.ts');
}
