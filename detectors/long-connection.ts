/**
 * Long connections: open for an hour or more (RITA's long_connection thresholds), seen from
 * interim records while the connection is still open, so the alert does not wait for its end.
 * Score: duration / the critical band (capped at 1).
 */
import type { ConnRecord } from '../parsers/record/conn';
import type { Severity } from './contract/alert';
import { round3 } from './common';
import type { DetectorConfig } from './config';
import { destEntity, sourceEntity } from './entity';
import { PerConnectionDetector } from './seen';
import type { Finding } from './types';

export const LONG_CONNECTION = 'long-connection';

export class LongConnectionDetector extends PerConnectionDetector {
  readonly name = LONG_CONNECTION;
  constructor(private readonly cfg: DetectorConfig['long-connection']) {
    super();
  }

  observe(r: ConnRecord): void {
    const c = this.cfg;
    if (r.duration < c.min_seconds) return;
    const severity: Severity =
      r.duration >= c.critical_seconds ? 'critical' : r.duration >= c.high_seconds ? 'high' : r.duration >= c.medium_seconds ? 'medium' : 'low';
    const f: Finding = {
      detector: LONG_CONNECTION,
      title: `Connection open ${(r.duration / 3600).toFixed(1)} h`,
      severity,
      score: round3(Math.min(1, r.duration / c.critical_seconds)),
      mitre: ['T1071', 'T1095'],
      source: sourceEntity(r),
      destination: destEntity(r),
      key: `${r.proto}/${r.resp_p}`,
      first_seen: r.ts,
      last_seen: r.ts + r.duration,
      // An interim record and the final one are one connection.
      count: this.seen.first(r.uid) ? 1 : 0,
      uids: [r.uid],
      figures: { duration_s: round3(r.duration), threshold_s: c.min_seconds, interim: r.interim, orig_bytes: r.orig_bytes, resp_bytes: r.resp_bytes },
    };
    this.out.add(f);
  }
}
