/**
 * Payload analysis for `analyze`: each TCP or UDP connection gets a multiplexer of the protocol
 * analyzers (parsers/protocols), fed by the tracker's reassembled streams and datagrams; the
 * records they produce come out tied to their connection, and the confirmed protocols become the
 * connection's `service`.
 */
import { AnalyzerMux, type MuxOptions } from '../../parsers/protocols/mux';
import type { AnyAppRecord } from '../../parsers/protocols/records';
import type { PayloadObserverFactory } from '../conntrack/payload';
import type { AppRecordOut } from '../output/app-formats';

export function analyzerFactory(onRecord: (r: AppRecordOut) => void, opts: MuxOptions = {}): PayloadObserverFactory {
  return (info) => {
    if (info.proto !== 'tcp' && info.proto !== 'udp') return null;
    const tie = (rec: AnyAppRecord): void => onRecord({ ...rec, uid: info.uid, conn: info });
    // SSH banners and datastore identification arrive on their own channel (ssh.log, app.log).
    const mux = new AnalyzerMux(info.proto, tie, { ...opts, onIdentify: tie });
    return {
      stream: (isOrig, buf, off, len, ts) => mux.data(isOrig, buf, off, len, ts),
      gap: (isOrig, len) => mux.gap(isOrig, len),
      datagram: (isOrig, buf, off, len, ts) => mux.data(isOrig, buf, off, len, ts),
      end: (ts) => mux.end(ts),
      services: () => mux.services,
    };
  };
}
