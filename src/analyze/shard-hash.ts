/**
 * Where `analyze --threads` tracks a packet's innermost connection: the shard its 5-tuple hashes
 * to, unless the connection belongs with the tunnels' outer layers. A module of its own, so the
 * reading workers (shard-reader.ts) load only what they run.
 */
import type { PacketDecoder } from '../../parsers/decode/decoder';
import type { FlowLayer } from '../../parsers/decode/layers';

/** Symmetric in the two endpoints: (a, p) -> (b, q) and (b, q) -> (a, p) hash alike. */
function endpointHash(buf: Buffer, off: number, len: number, port: number): number {
  let h = 0x9747b28c ^ port;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ buf[off + i], 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

export function shardOf(l: FlowLayer, shards: number): number {
  // Ports only where the tracker keys on them; ICMP and the rest go by addresses (a superset).
  const ports = l.proto === 6 || l.proto === 17;
  const h = (endpointHash(l.buf, l.srcOff, l.addrLen, ports ? l.sport : 0) + endpointHash(l.buf, l.dstOff, l.addrLen, ports ? l.dport : 0)) >>> 0;
  let x = Math.imul(h ^ (h >>> 16) ^ l.proto, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  return (x >>> 0) % shards;
}

/**
 * Whether the innermost layer's connection belongs to the outer layers' tracker: a flow that
 * carries a tunnel in some packets and not in others (ARP inside VXLAN, a packet whose tunnel
 * header is broken) must be one connection, so every flow that can carry one stays there: UDP on
 * a tunnel port, IP-in-IP and GRE, and whatever the decoder found a tunnel header in.
 */
export function carries(decoder: PacketDecoder, l: FlowLayer, innerTunnel: number): boolean {
  if (innerTunnel !== 0) return true;
  const proto = l.proto;
  if (proto === 17) return decoder.isTunnelPort(l.dport) || decoder.isTunnelPort(l.sport);
  return proto === 4 || proto === 41 || proto === 47;
}
