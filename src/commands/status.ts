import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { UsageError } from '../core/errors.js';
import { toStatusView, type StatusView } from '../core/status-view.js';
import type { Cluster } from '../k8s/types.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../ui/formats.js';
import type { Ui } from '../ui/terminal.js';
import { session, type Deps, type GlobalArgs } from './common.js';

export interface StatusArgs extends GlobalArgs {
  statefulset: string;
  output: string;
}

export interface StatusOptions {
  name: string;
  output: OutputFormat;
}

export function validateStatusOptions(args: Pick<StatusArgs, 'statefulset' | 'output'>): StatusOptions {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(args.output)) {
    throw new UsageError(`unknown output format "${args.output}": use one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  return { name: args.statefulset, output: args.output as OutputFormat };
}

export async function runStatus(o: StatusOptions, cluster: Cluster, ui: Ui): Promise<StatusView> {
  const { sts, pods } = await cluster.readStatefulSetWithPods(o.name);
  const view = toStatusView(sts, pods);
  const { renderData, renderStatusTable } = await import('../ui/render.js');
  ui.result(o.output === 'table' ? renderStatusTable(view, ui.style) : renderData(o.output, view));
  return view;
}

export const statusCommand = (deps: Deps): CommandModule<GlobalArgs, StatusArgs> => ({
  command: 'status <statefulset>',
  describe: 'Show the pods of a StatefulSet: ordinal, IP, node, images, revision, readiness',
  builder: (y) =>
    y
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' })
      .option('output', { alias: 'o', type: 'string', default: 'table', describe: `Output format: ${OUTPUT_FORMATS.join('|')}` })
      .example('kubectl zerolossupgrade status gateway -n prod', 'Pods of the gateway StatefulSet as a table')
      .example('kubectl zerolossupgrade status gateway -o json', 'The same as JSON, for scripts'),
  handler: async (args: ArgumentsCamelCase<StatusArgs>) => {
    const options = validateStatusOptions(args);
    const { ui, cluster } = session(args, deps);
    await runStatus(options, await cluster(), ui);
  },
});
