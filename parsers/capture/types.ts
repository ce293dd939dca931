/**
 * Contracts between capture-file readers and everything downstream.
 *
 * A reader owns one mutable CapturedPacket and overwrites it for every packet:
 * consumers must copy what they keep beyond the callback (the bytes in `buf`
 * may be reused or released as soon as the callback returns).
 */

/** LINKTYPE_* values (tcpdump.org/linktypes.html) that the decoders understand (parsers/decode/link.ts). */
export const LinkType = {
  NULL: 0, // BSD loopback, host byte order AF_ value
  ETHERNET: 1,
  PPP: 9, // PPP, with or without HDLC-like framing (RFC 1661/1662)
  PPP_HDLC: 50, // "PPP_SERIAL": PPP in HDLC-like framing, or Cisco HDLC frames
  PPP_ETHER: 51, // PPPoE session header without Ethernet
  RAW: 101, // raw IPv4/IPv6, version from the first nibble
  C_HDLC: 104, // Cisco HDLC
  IEEE802_11: 105, // 802.11 frames without a radio header
  LOOP: 108, // OpenBSD loopback, network byte order AF_ value
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127, // radiotap header, then 802.11
  IPV4: 228,
  IPV6: 229,
  NFLOG: 239, // Linux netfilter log: header, then TLVs, one of which holds the packet
  LINUX_SLL2: 276,
} as const;

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CapturedPacket {
  /** Buffer holding the packet bytes at [offset, offset + caplen). */
  buf: Buffer;
  offset: number;
  /** Bytes present in the capture. */
  caplen: number;
  /** Bytes on the wire (>= caplen when the snap length cut the packet). */
  origlen: number;
  /** Timestamp: whole seconds since the epoch and nanoseconds within the second (0..999_999_999). */
  tsSec: number;
  tsNsec: number;
  /** LINKTYPE of the interface the packet was captured on. */
  linktype: number;
  /** pcapng interface id within its section (0 for classic pcap). */
  interfaceId: number;
  /** pcapng section number, counted from 0 (0 for classic pcap). */
  section: number;
  /** Byte offset of this packet's record (pcap record header / pcapng block) in the decompressed capture stream. */
  fileOffset: number;
  /** 1-based packet number within the capture. */
  index: number;
}

export interface CaptureSummary {
  format: CaptureFormat;
  /** Whether the file on disk was gzip-compressed. */
  compressed: boolean;
  packets: number;
  /** Decompressed bytes consumed. */
  bytes: number;
  /** Distinct link types seen (pcapng may carry several). */
  linktypes: number[];
  /** pcapng blocks skipped (name resolution, statistics, custom, unknown). */
  skippedBlocks: number;
}

export type ReaderKind = 'native' | 'pcap-parser';

export interface ReadOptions {
  /** Classic-pcap reader implementation. Default 'native'. pcapng always uses our reader. */
  reader?: ReaderKind;
  /** Called with decompressed bytes consumed so far and bytes read from disk, roughly every 4 MiB and once at the end. */
  onProgress?: (consumedBytes: number, fileBytesRead: number) => void;
  /**
   * Called between chunks; when it returns a promise, reading waits for it. This is how a slow
   * consumer of the results (output to a pipe, an index) holds the reader back, so memory stays
   * bounded whatever the capture size.
   */
  pace?: () => Promise<void> | undefined;
  /** Largest packet record accepted (caplen), default 256 KiB; larger is reported as corruption. */
  maxPacketBytes?: number;
}

/**
 * A capture that cannot be read further. Everything before `offset` was delivered.
 * `offset` is in the decompressed stream; `record` is the 1-based packet/block number where it failed.
 */
export class CaptureError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly offset: number,
    readonly record?: number,
  ) {
    super(`${file}: ${message} (at byte offset ${offset}${record !== undefined ? `, record ${record}` : ''})`);
    this.name = 'CaptureError';
  }
}
