/** NetFlow v5 / v9 / IPFIX decoding and conversion to connection records. */
export { NetflowDecoder, type DecoderOptions, type ExporterStats, type FlowSink, type NetflowProblem } from './decoder';
export { FlowConverter, tcpConnState, tcpHistory, payloadEstimate, type ConverterOptions } from './to-conn';
export { IE, newFlowFields, type FlowFields } from './fields';
export { TemplateStore, VARLEN, type Template, type TemplateStoreOptions } from './templates';
export { FlowStitcher, mergePair, type StitchOptions, type StitchStats } from './stitch';
export { NetflowRecords, type NetflowRecordsOptions, type NetflowRecordCounts } from './records';
