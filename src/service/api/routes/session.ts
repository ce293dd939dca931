/**
 * A connection's session for the analyst's workbench: the packets the pcap route would cut,
 * decoded here with the project's decoder (every link type and tunnel it knows, the record's
 * own layer found as the tracker found it) and answered as JSON, with each direction's payload
 * reassembled. The web UI draws it; it decodes nothing itself.
 */
import { PassThrough } from 'node:stream';
import { z } from 'zod';
import { cutPackets } from '../../../analyze/extract';
import { readCaptureStream } from '../../../../parsers/capture/open';
import type { CapturedPacket } from '../../../../parsers/capture/types';
import { type SessionPayload, SessionBuilder } from '../../../../parsers/session/session';
import { fetchAgentPcap } from '../../agent-pcap';
import type { ServiceContext } from '../../context';
import { parseAgentCapture } from '../../flow-ingest';
import { ApiError, defineRoute, type RouteKit } from '../route';
import type { SessionPayloadWire, SessionWire } from '../wire';
import { captureFile } from './pcap';
import { ConnectionUid } from '../schemas';

/** Payload kept per direction: enough to read a request and its response, and the page stays light. */
export const MAX_PAYLOAD = 256 * 1024;

const Hop = z
  .object({
    tunnel: z.string().openapi({ description: 'How the next layer inward was carried: gre, vxlan, geneve, ip-in-ip, teredo, ayiya, gtpv1' }),
    tunnelId: z.number().int().nullable().openapi({ description: "The tunnel header's id (VNI, GRE key, TEID) when it carries one" }),
    src: z.string(),
    dst: z.string(),
    proto: z.number().int().openapi({ description: 'IP protocol of the carrying flow' }),
    sport: z.number().int(),
    dport: z.number().int(),
  })
  .openapi('SessionHop');

const Packet = z
  .object({
    n: z.number().int().openapi({ description: "Its number in the connection's pcap (GET /connections/{uid}/pcap), from 1" }),
    ts: z.number().openapi({ description: 'Seconds since the epoch' }),
    dir: z.enum(['orig', 'resp']).openapi({ description: "orig: sent by the record's id.orig_h/orig_p; resp: by its responder" }),
    src: z.string().openapi({ description: "The connection's own (innermost) layer" }),
    dst: z.string(),
    sport: z.number().int().openapi({ description: 'Port; ICMP: type' }),
    dport: z.number().int().openapi({ description: 'Port; ICMP: code' }),
    transport: z.enum(['tcp', 'udp', 'icmp', 'other']),
    flags: z.string().openapi({ description: "TCP flags as letters in the order S A P F R U E C; '' otherwise" }),
    seq: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "Relative, as Wireshark shows it (from the SYN's, else one before the direction's first); null without TCP" }),
    ack: z.number().int().nullable().openapi({ description: "Relative to the other direction's base; null without the ACK flag" }),
    ipLen: z.number().int().openapi({ description: 'IP bytes per its header' }),
    payloadLen: z.number().int().openapi({ description: 'Transport payload bytes per the IP length' }),
    encap: z.array(Hop).openapi({ description: 'The layers it was tunnelled in, outermost first; empty when none' }),
  })
  .openapi('SessionPacket');

const Payload = z
  .object({
    data: z.string().openapi({ description: 'The first bytes of the payload (at most maxPayload), base64', format: 'byte' }),
    bytes: z.number().int().openapi({ description: 'Bytes in data' }),
    total: z.number().int().openapi({ description: 'Payload bytes the direction carried in all (TCP: in sequence order, each byte once)' }),
    missing: z.number().int().openapi({ description: "TCP: bytes between the direction's first and last that the capture never saw" }),
    truncated: z.boolean().openapi({ description: 'More than maxPayload bytes: data holds the first maxPayload' }),
  })
  .openapi('SessionPayload');

const Session = z
  .object({
    uid: z.string(),
    packets: z.array(Packet),
    orig: Payload,
    resp: Payload,
    skipped: z.number().int().openapi({ description: "Packets of the cut that were not the connection's (not IP, undecodable)" }),
    truncated: z.boolean().openapi({ description: 'The cut reached maxPackets (limits.sessionPackets) or limits.pcapBytes: later packets are left out' }),
    maxPackets: z.number().int(),
    maxPayload: z.number().int(),
    problem: z.string().nullable().openapi({ description: 'What stopped the capture being read to its end, when something did' }),
  })
  .openapi('Session');

function wirePayload(p: SessionPayload): SessionPayloadWire {
  return { data: p.data.toString('base64'), bytes: p.data.length, total: p.total, missing: p.missing, truncated: p.truncated };
}

export function sessionRoutes(kit: RouteKit, ctx: ServiceContext): void {
  const maxPackets = Math.min(ctx.cfg.limits.sessionPackets, ctx.cfg.limits.pcapPackets);
  const maxBytes = ctx.cfg.limits.pcapBytes;

  defineRoute(kit, {
    method: 'get',
    path: '/connections/:uid/session',
    scope: 'filtered',
    operationId: 'getConnectionSession',
    tag: 'pcap',
    roles: ['analyst'],
    expensive: true,
    summary: "One connection's packets decoded, and its payload per direction",
    description:
      "The packets GET /connections/{uid}/pcap gives, decoded by the service (every link type and tunnel the analysis decodes; the connection is its innermost layer of the record's flow): time, direction, TCP flags, relative sequence and acknowledgement numbers, lengths and the tunnels around it; and each direction's payload (TCP in sequence order, retransmitted bytes once, holes counted as missing; other transports' datagrams one after another), the first 256 KiB of it. At most limits.sessionPackets packets.",
    params: ConnectionUid,
    responses: {
      200: { description: 'The session', content: { 'application/json': { schema: Session } } },
      404: { description: 'No such connection' },
      409: { description: "The connection came from flow logs, or its capture (or its agent's ring) no longer holds it" },
      502: { description: 'The agent whose ring holds the packets is unreachable, refused the token, answered an error or sent a pcap that does not read' },
      504: { description: 'The agent whose ring holds the packets did not answer in time (limits.agentTimeoutMs)' },
    },
    async handler({ res, params, store }) {
      const r = await store.get(params.uid);
      if (!r) throw new ApiError(404, `no connection ${params.uid}`);
      if (!r.capture) throw new ApiError(409, `connection ${params.uid} came from flow logs: there are no packets to decode`);
      const b = new SessionBuilder(r, { maxPackets, maxPayload: MAX_PAYLOAD });
      let truncated = false;
      let problem: string | null = null;
      const live = parseAgentCapture(r.capture);
      if (live !== null) {
        const where = `agent ${live.agent}`;
        const pass = new PassThrough();
        let readError: Error | null = null;
        const reading = readCaptureStream(pass, `the pcap of ${where}`, (p: CapturedPacket) => void b.add(p)).catch((e: Error) => {
          readError = e;
          pass.resume();
        });
        try {
          // One packet more than listed: the builder then knows whether there were more.
          const got = await fetchAgentPcap(ctx.cfg, live.agent, live.uid, () => pass, {
            maxBytes,
            maxPackets: maxPackets + 1,
            timeoutMs: ctx.cfg.limits.agentTimeoutMs,
          });
          truncated = got.truncated;
        } finally {
          pass.end();
          await reading;
        }
        if (readError !== null) throw new ApiError(502, `${where} sent a pcap that does not read: ${(readError as Error).message}`);
      } else {
        const file = captureFile(ctx, r.capture);
        if (!file) throw new ApiError(409, `the capture ${r.capture} of connection ${params.uid} is no longer kept (retention)`);
        let bytes = 0;
        try {
          await cutPackets(file, [r], (p) => {
            if (bytes + p.caplen > maxBytes) {
              truncated = true;
              return false;
            }
            bytes += p.caplen;
            return b.add(p);
          });
        } catch (e) {
          // The analysis read the same file: a fault here is one it met too, after the packets before it.
          problem = (e as Error).message;
        }
      }
      const s = b.finish();
      const answer: SessionWire = {
        uid: params.uid,
        packets: s.packets,
        orig: wirePayload(s.orig),
        resp: wirePayload(s.resp),
        skipped: s.skipped,
        truncated: truncated || s.truncated,
        maxPackets,
        maxPayload: MAX_PAYLOAD,
        problem,
      };
      res.set('Cache-Control', 'no-store').json(answer);
    },
  });
}
