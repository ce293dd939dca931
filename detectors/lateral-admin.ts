/**
 * Lateral remote administration: SSH, RDP, WinRM, SMB, VNC and telnet sessions between pods
 * (by port, or SSH confirmed by the analyzer on any port). Only sessions the responder accepted
 * count: refused probes are the scan detector's business.
 */
import type { ConnRecord } from '../parsers/record/conn';
import { workloadAllowed, type DetectorConfig } from './config';
import { answered, destEntity, podWorkload, respIsWorkload, sourceEntity } from './entity';
import { PerConnectionDetector } from './seen';

export const LATERAL_ADMIN = 'lateral-admin';

const MITRE: Record<string, string> = {
  ssh: 'T1021.004',
  rdp: 'T1021.001',
  smb: 'T1021.002',
  vnc: 'T1021.005',
  winrm: 'T1021.006',
  telnet: 'T1021',
};

export class LateralAdminDetector extends PerConnectionDetector {
  readonly name = LATERAL_ADMIN;
  constructor(private readonly cfg: DetectorConfig['lateral-admin']) {
    super();
  }

  observe(r: ConnRecord): void {
    if (r.proto !== 'tcp') return;
    // The port as a number names the same property as its text, without making the text per record.
    const proto = r.service.includes('ssh') ? 'ssh' : (this.cfg.ports as Record<number, string | undefined>)[r.resp_p];
    if (proto === undefined) return;
    const wl = podWorkload(r);
    if (wl === null || !respIsWorkload(r) || !answered(r)) return;
    if (workloadAllowed(this.cfg.allow_workloads, wl)) return;
    this.out.add({
      detector: LATERAL_ADMIN,
      title: `${proto.toUpperCase()} session between pods`,
      severity: 'high',
      score: 0.9,
      mitre: [MITRE[proto] ?? 'T1021'],
      source: sourceEntity(r),
      destination: destEntity(r),
      key: `${proto}/${r.resp_p}`,
      first_seen: r.ts,
      last_seen: r.ts + r.duration,
      count: this.seen.first(r.uid) ? 1 : 0,
      uids: [r.uid],
      figures: { protocol: proto, port: r.resp_p, confirmed_by_payload: r.service.includes(proto), orig_bytes: r.orig_bytes, resp_bytes: r.resp_bytes },
    });
  }
}
