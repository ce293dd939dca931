/** Types for the untyped npm package pcap-parser 0.2.1 (classic pcap, microsecond magics only). */
declare module 'pcap-parser' {
  import { EventEmitter } from 'node:events';

  export interface GlobalHeader {
    magicNumber: number;
    majorVersion: number;
    minorVersion: number;
    gmtOffset: number;
    timestampAccuracy: number;
    snapshotLength: number;
    linkLayerType: number;
  }

  export interface PacketHeader {
    timestampSeconds: number;
    timestampMicroseconds: number;
    capturedLength: number;
    originalLength: number;
  }

  export interface Packet {
    header: PacketHeader;
    data: Buffer;
  }

  export interface Parser extends EventEmitter {
    on(event: 'globalHeader', listener: (header: GlobalHeader) => void): this;
    on(event: 'packetHeader', listener: (header: PacketHeader) => void): this;
    on(event: 'packetData', listener: (data: Buffer) => void): this;
    on(event: 'packet', listener: (packet: Packet) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'end', listener: () => void): this;
  }

  /** Reads a path (fs.createReadStream) or any readable stream; starts on the next tick. */
  export function parse(input: string | NodeJS.ReadableStream): Parser;
}
