/**
 * A live-captured connection's packets, fetched from the capture agent whose ring holds them
 * (`eastwatch capture --ring DIR --metrics-port P`, src/capture/agent-http.ts) and streamed to the
 * client, as Arkime's viewer fetches a session's packets from the capture node that wrote them.
 * The service authenticates to the agent with the agent's endpoint token (config agents); the
 * agent authenticated to the service when it shipped the record (its ingest key, bound to its name
 * in the registry). Bounded: the agent is told the byte and packet limits and cuts at a packet; a
 * pcap beyond them anyway is cut here at the last whole packet. An agent that is away, slow or
 * refusing is a 502 or 504 naming it.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Writable } from 'node:stream';
import { ApiError } from './api/route';
import { agentTokens, type ServiceConfig } from './config';

const PCAP_HEADER = 24;
const RECORD_HEADER = 16;

export interface AgentPcapResult {
  bytes: number;
  packets: number;
  /** Cut here at the byte limit (the agent sent more than it was asked to). */
  truncated: boolean;
}

/**
 * Writes the pcap of the agent's connection `uid` to `out`, setting the response headers through
 * `start` once the agent has answered 200 (before that, failures are ApiErrors the route answers).
 */
export function fetchAgentPcap(
  cfg: ServiceConfig,
  agentName: string,
  uid: string,
  start: () => Writable,
  o: { maxBytes: number; maxPackets: number; timeoutMs: number },
): Promise<AgentPcapResult> {
  const agent = cfg.agents.find((a) => a.name === agentName);
  if (agent === undefined)
    return Promise.reject(
      new ApiError(409, `the packets are in the ring of agent ${agentName}, which is not in the service's agents registry (configuration: agents)`),
    );
  const token = agentTokens(cfg).get(agentName) as string;
  const url = new URL(`connections/${encodeURIComponent(uid)}/pcap`, agent.url.endsWith('/') ? agent.url : `${agent.url}/`);
  url.searchParams.set('maxBytes', String(o.maxBytes));
  url.searchParams.set('maxPackets', String(o.maxPackets));
  const where = `agent ${agentName} (${agent.url})`;
  const secs = `${Math.round(o.timeoutMs / 100) / 10} s`;

  return new Promise<AgentPcapResult>((resolve, reject) => {
    let settled = false;
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(e);
    };
    const get = url.protocol === 'https:' ? https.get : http.get;
    const req = get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (text.length < 500) text += d;
        });
        res.on('end', () => {
          const said = text.trim().slice(0, 300);
          if (res.statusCode === 404)
            fail(new ApiError(409, `${where} no longer holds the packets of this connection in its ring (rotated out, or the ring was cleared): ${said}`));
          else if (res.statusCode === 401)
            fail(new ApiError(502, `${where} refused the service's token (401): the agent's token and the registry's tokenFile differ`));
          else fail(new ApiError(502, `${where} answered ${res.statusCode}: ${said}`));
        });
        res.on('error', (e) => fail(new ApiError(502, `${where} broke off its answer: ${e.message}`)));
        return;
      }
      // Headers go out now: from here a failure can only cut the download short.
      const out = start();
      const cut = new PcapCutter(o.maxBytes);
      res.on('data', (chunk: Buffer) => {
        let keep: Buffer;
        try {
          keep = cut.take(chunk);
        } catch (e) {
          fail(e as Error);
          return;
        }
        if (keep.length > 0 && !out.write(keep)) {
          res.pause();
          out.once('drain', () => res.resume());
        }
        if (cut.full) {
          settled = true;
          req.destroy();
          resolve({ bytes: cut.bytes, packets: cut.packets, truncated: true });
        }
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        if (!cut.whole) reject(new Error(`${where} ended its pcap in the middle of a packet (${cut.bytes} bytes)`));
        else resolve({ bytes: cut.bytes, packets: cut.packets, truncated: false });
      });
      res.on('error', (e) => fail(new Error(`${where} broke off the pcap after ${cut.bytes} bytes: ${e.message}`)));
      out.once('close', () => fail(new ApiError(499, 'the client closed the download')));
    });
    // No answer, or a pause in the pcap, longer than the timeout.
    req.setTimeout(o.timeoutMs, () => fail(new ApiError(504, `${where} did not answer within ${secs}`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      const why = e.code ?? e.message;
      fail(new ApiError(502, `${where} is unreachable: ${why}`));
    });
  });
}

/**
 * Passes a classic pcap through whole packets only, up to `max` bytes: a pcap cut at the limit
 * still reads to its end.
 */
export class PcapCutter {
  bytes = 0;
  packets = 0;
  full = false;
  private pending: Buffer = Buffer.alloc(0);
  private le: boolean | null = null;

  constructor(private readonly max: number) {}

  /** Nothing held back: the stream so far ends at a packet boundary. */
  get whole(): boolean {
    return this.pending.length === 0 && this.le !== null;
  }

  /** The bytes of `chunk` (with what was held) that complete the header or whole packets within the bound. */
  take(chunk: Buffer): Buffer {
    if (this.full) return Buffer.alloc(0);
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let o = 0;
    if (this.le === null) {
      if (this.pending.length < PCAP_HEADER) return Buffer.alloc(0);
      const magic = this.pending.readUInt32LE(0);
      if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.le = true;
      else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) this.le = false;
      else throw new ApiError(502, `the agent's answer is not a pcap (magic ${magic.toString(16)})`);
      o = PCAP_HEADER;
    }
    while (o + RECORD_HEADER <= this.pending.length) {
      const incl = this.le ? this.pending.readUInt32LE(o + 8) : this.pending.readUInt32BE(o + 8);
      const end = o + RECORD_HEADER + incl;
      if (end > this.pending.length) break;
      if (this.bytes + end > this.max) {
        this.full = true;
        break;
      }
      o = end;
      this.packets++;
    }
    const out = this.pending.subarray(0, o);
    this.pending = this.pending.subarray(o);
    this.bytes += out.length;
    return out;
  }
}
