import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { UsageError } from '../core/errors.js';
import type { HistoryEntry } from '../core/history.js';
import type { Cluster } from '../k8s/types.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../ui/formats.js';
import type { Ui } from '../ui/terminal.js';
import { readHistory } from '../walk/history.js';
import { session, type Deps, type GlobalArgs } from './common.js';

export interface HistoryArgs extends GlobalArgs {
  statefulset: string;
  output: string;
  upgrade?: number;
}

export interface HistoryOptions {
  name: string;
  output: OutputFormat;
  /** One upgrade in detail, by its number; absent: the list. */
  upgrade?: number;
}

export function validateHistoryOptions(args: Pick<HistoryArgs, 'statefulset' | 'output' | 'upgrade'>): HistoryOptions {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(args.output)) throw new UsageError(`unknown output format "${args.output}": use one of ${OUTPUT_FORMATS.join(', ')}`);
  if (args.upgrade !== undefined && (!Number.isInteger(args.upgrade) || args.upgrade < 1)) throw new UsageError(`--upgrade takes the number of an upgrade from the list, e.g. 3${Number.isNaN(args.upgrade) ? '' : `, not "${args.upgrade}"`}`);
  return { name: args.statefulset, output: args.output as OutputFormat, ...(args.upgrade === undefined ? {} : { upgrade: args.upgrade }) };
}

/** One API call: the history ConfigMap (the StatefulSet need not exist any more). */
export async function runHistory(o: HistoryOptions, cluster: Cluster, ui: Ui): Promise<HistoryEntry[] | HistoryEntry> {
  const { renderData, renderHistoryEntry, renderHistoryList } = await import('../ui/render.js');
  const history = await readHistory(cluster, o.name);
  for (const key of history.unreadable) ui.warn(`the history entry ${key} does not read as one (edited by hand?); it is left out`);
  const newestFirst = history.entries.reverse();
  if (o.upgrade !== undefined) {
    const entry = newestFirst.find((e) => e.number === o.upgrade);
    if (!entry) {
      const known = newestFirst.map((e) => e.number).join(', ');
      throw new UsageError(`statefulset "${o.name}" has no upgrade ${o.upgrade} in its history${known ? ` (it has: ${known})` : ' (it has none)'}`);
    }
    ui.result(o.output === 'table' ? renderHistoryEntry(entry, ui.style) : renderData(o.output, entry));
    return entry;
  }
  if (o.output !== 'table') ui.result(renderData(o.output, newestFirst));
  else if (newestFirst.length === 0) ui.result(`no upgrades of statefulset "${o.name}" in namespace "${cluster.namespace}" are on record`);
  else ui.result(renderHistoryList(newestFirst, ui.style));
  return newestFirst;
}

export const historyCommand = (deps: Deps): CommandModule<GlobalArgs, HistoryArgs> => ({
  command: 'history <statefulset>',
  describe: 'List the past upgrades of a StatefulSet, or one in detail with every confirmation',
  builder: (y) =>
    y
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' })
      .option('output', { alias: 'o', type: 'string', default: 'table', describe: `Output format: ${OUTPUT_FORMATS.join('|')}` })
      .option('upgrade', { type: 'number', describe: 'Show this upgrade (its number in the list) with every batch and confirmation' })
      .example('kubectl zerolossupgrade history gateway', 'Every upgrade on record, newest first')
      .example('kubectl zerolossupgrade history gateway --upgrade 3', 'Who confirmed each drain of upgrade 3, how, and on what evidence'),
  handler: async (args: ArgumentsCamelCase<HistoryArgs>) => {
    const options = validateHistoryOptions(args);
    const { ui, cluster } = session(args, deps);
    await runHistory(options, await cluster(), ui);
  },
});
