/**
 * The output formats `collect` writes (no table: it runs until stopped). Apart from the collector
 * so that the command line can offer them without loading the NetFlow decoders.
 */
import type { OutputFormat } from '../output/formats';

export type CollectFormat = Exclude<OutputFormat, 'table'>;
export const COLLECT_FORMATS: readonly CollectFormat[] = ['ndjson', 'zeek-json', 'zeek'];
