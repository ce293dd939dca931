/**
 * `eastwatch pcap --ring DIR --uid UID [-o FILE]`: the packets of connections cut out of the
 * packet ring a live capture keeps (`eastwatch capture --ring DIR`), as one pcap.
 */
import * as fs from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { EXIT_INPUT, EXIT_OK, EXIT_USAGE } from './analyze';

export interface PcapCliOptions {
  ring: string;
  uid: string[];
  out?: string;
  maxPackets?: number;
}

const UID = /^[A-Za-z0-9_-]{1,64}$/;

export async function runPcap(o: PcapCliOptions): Promise<number> {
  if (!o.out && process.stdout.isTTY) {
    process.stderr.write('eastwatch: pcap writes binary: give -o FILE or redirect standard output\n');
    return EXIT_USAGE;
  }
  if (!fs.existsSync(o.ring) || !fs.statSync(o.ring).isDirectory()) {
    process.stderr.write(`eastwatch: --ring ${o.ring}: no such directory\n`);
    return EXIT_INPUT;
  }
  // The ring's reader loads for this command only.
  const { extractFromRing, RingIndexError } = await import('../capture/ring');
  const out = o.out ? fs.createWriteStream(o.out) : process.stdout;
  let code = EXIT_OK;
  try {
    const r = await extractFromRing(o.ring, o.uid, out, { maxPackets: o.maxPackets });
    const notes: string[] = [];
    if (r.unreadable) notes.push(`${r.unreadable} indexed packets not in their segment`);
    if (r.tornIndexes) notes.push(`${r.tornIndexes} indexes read up to a torn record`);
    if (r.otherLinktype) notes.push(`${r.otherLinktype} packets of another link type left out`);
    if (r.truncated) notes.push('stopped at --max-packets');
    process.stderr.write(
      `eastwatch: ${r.packets} packets (${r.bytes} bytes) of ${o.uid.join(', ')} from ${r.segments} segments${notes.length ? `; ${notes.join('; ')}` : ''}\n`,
    );
    if (r.packets === 0) {
      process.stderr.write(`eastwatch: the ring ${o.ring} holds no packets of ${o.uid.join(', ')} (never captured, or its segments were rotated out)\n`);
      code = EXIT_INPUT;
    }
  } catch (e) {
    if (!(e instanceof RingIndexError)) throw e;
    process.stderr.write(`eastwatch: ${e.message}\n`);
    code = EXIT_INPUT;
  }
  if (o.out) await new Promise<void>((resolve, reject) => (out as fs.WriteStream).end((err?: Error | null) => (err ? reject(err) : resolve())));
  return code;
}

function uidArg(v: string, prev: string[] | undefined): string[] {
  if (!UID.test(v)) throw new InvalidArgumentError(`"${v}" is not a connection uid (letters, digits, _ and -, at most 64)`);
  return [...(prev ?? []), v];
}

export function addPcapCommand(program: Command): void {
  program
    .command('pcap')
    .description("Cut connections' packets out of the packet ring of a live capture (eastwatch capture --ring DIR), as one pcap")
    .requiredOption('--ring <dir>', 'the ring directory the capture writes')
    .requiredOption('--uid <uid>', 'the connection (its uid in the records); repeatable', uidArg)
    .option('-o, --out <file>', 'write the pcap here (default: standard output)')
    .option('--max-packets <n>', 'stop after this many packets (default 1000000)', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`--max-packets must be a whole number >= 1, got "${v}"`);
      return Number(v);
    })
    .action(async (o: PcapCliOptions) => {
      process.exitCode = await runPcap(o);
    });
}
