/** The detectors by name, built from the configuration. */
import { BeaconDetector } from './beacon';
import type { DetectorConfig, DetectorName } from './config';
import { DnsTunnelDetector } from './dns-tunnel';
import { ExfiltrationDetector } from './exfiltration';
import { LateralAdminDetector } from './lateral-admin';
import { LongConnectionDetector } from './long-connection';
import { NewEdgeDetector } from './new-edge';
import { PolicyViolationDetector } from './policy-violation';
import { ScanDetector } from './scan';
import { SensitiveDestinationDetector } from './sensitive-destination';
import type { Detector } from './types';

export function buildDetector(name: DetectorName, cfg: DetectorConfig): Detector {
  switch (name) {
    case 'new-edge':
      return new NewEdgeDetector(cfg['new-edge']);
    case 'policy-violation':
      return new PolicyViolationDetector(cfg['policy-violation']);
    case 'scan':
      return new ScanDetector(cfg.scan);
    case 'beacon':
      return new BeaconDetector(cfg.beacon);
    case 'dns-tunnel':
      return new DnsTunnelDetector(cfg['dns-tunnel']);
    case 'exfiltration':
      return new ExfiltrationDetector(cfg.exfiltration);
    case 'sensitive-destination':
      return new SensitiveDestinationDetector(cfg['sensitive-destination']);
    case 'lateral-admin':
      return new LateralAdminDetector(cfg['lateral-admin']);
    case 'long-connection':
      return new LongConnectionDetector(cfg['long-connection']);
  }
}

export { parseDetectorList } from './names';
