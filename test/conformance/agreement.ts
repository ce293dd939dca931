/**
 * The agreement tallies the Zeek suites share, and their gate (issue 13): the issue's percentage
 * of gate rows, and no difference from Zeek that test/conformance/differences.ts does not list.
 * (The ratchet that held agreement while issue 13 was open, test/conformance/ratchet.json, is gone:
 * every difference left is either fixed or listed there with its reason.)
 */
import { strict as assert } from 'node:assert';

/** Pseudo-field holding a log's rows matched on every gate field. */
export const GATE_FIELD = '(gate)';

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

/**
 * A suite's closing check: at least `finalGate` of the gate rows agree, and no difference from
 * Zeek that differences.ts does not list.
 */
export function holdGate(a: Agreement, finalGate: number): void {
  const gate = a.gate();
  assert.ok(
    gate.agreed / gate.compared >= finalGate,
    `${gate.agreed}/${gate.compared} = ${percent(gate)} (< ${finalGate * 100}%); first differences:\n${a.differences.slice(0, 20).join('\n')}`,
  );
  assert.deepEqual(a.differences, [], 'differences from Zeek not listed in test/conformance/differences.ts');
}
