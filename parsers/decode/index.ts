/** Packet decoding: captured frames -> DecodedPacket (see layers.ts for the output contract). */
export { PacketDecoder } from './decoder';
export type { DecoderOptions, DecoderStats } from './decoder';
export * from './layers';
