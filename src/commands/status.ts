import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { SilentExit, UsageError } from '../core/errors.js';
import { RECORD_ANNOTATION, decodeRecord } from '../core/upgrade.js';
import { toStatusView, type StatusView } from '../core/status-view.js';
import type { Cluster } from '../k8s/types.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../ui/formats.js';
import type { Ui } from '../ui/terminal.js';
import { session, type Deps, type GlobalArgs } from './common.js';

export interface StatusArgs extends GlobalArgs {
  statefulset: string;
  output: string;
  watch: boolean;
}

export interface StatusOptions {
  name: string;
  output: OutputFormat;
  /** Re-render until no upgrade is in progress any more (or Ctrl-C). */
  watch?: boolean;
  intervalMs?: number;
}

export function validateStatusOptions(args: Pick<StatusArgs, 'statefulset' | 'output'> & { watch?: boolean }): StatusOptions {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(args.output)) {
    throw new UsageError(`unknown output format "${args.output}": use one of ${OUTPUT_FORMATS.join(', ')}`);
  }
  if (args.watch && args.output !== 'table') throw new UsageError('--watch shows the table; it does not combine with -o json or -o yaml');
  return { name: args.statefulset, output: args.output as OutputFormat, watch: Boolean(args.watch) };
}

/** Exit codes of `status`: scripts and CI gate on them. */
export const STATUS_EXIT = { none: 0, inProgress: 4, failed: 3 } as const;

/** Failed: a pod outside the drained batch is missing or not Ready. */
export function statusExitCode(view: StatusView): number {
  if (!view.upgrade) return STATUS_EXIT.none;
  const broken = view.pods.some((p) => p.step !== 'draining' && (!p.exists || !p.ready));
  return broken ? STATUS_EXIT.failed : STATUS_EXIT.inProgress;
}

async function readView(o: StatusOptions, cluster: Cluster): Promise<StatusView> {
  const { sts, pods } = await cluster.readStatefulSetWithPods(o.name);
  const text = sts.annotations[RECORD_ANNOTATION];
  const record = text ? decodeRecord(text) : undefined;
  return toStatusView(sts, pods, record, record ? await cluster.listLoadBalancerServices() : []);
}

/** Three API calls whatever the replica count (per refresh with --watch). */
export async function runStatus(o: StatusOptions, cluster: Cluster, ui: Ui, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<StatusView> {
  const { renderData, renderStatusTable } = await import('../ui/render.js');
  for (let first = true; ; first = false) {
    const view = await readView(o, cluster);
    if (o.watch && !first) ui.clearScreen();
    ui.result(o.output === 'table' ? renderStatusTable(view, ui.style) : renderData(o.output, view));
    // --watch follows an upgrade to its end; without one there is nothing to follow.
    if (!o.watch || !view.upgrade) return view;
    await sleep(o.intervalMs ?? 2000);
  }
}

export const statusCommand = (deps: Deps): CommandModule<GlobalArgs, StatusArgs> => ({
  command: 'status <statefulset>',
  describe: 'Show the pods of a StatefulSet and where an upgrade stands (exit 0: none, 4: in progress, 3: failed)',
  builder: (y) =>
    y
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' })
      .option('output', { alias: 'o', type: 'string', default: 'table', describe: `Output format: ${OUTPUT_FORMATS.join('|')}` })
      .option('watch', { alias: 'w', type: 'boolean', default: false, describe: 'Refresh every 2 s until no upgrade is in progress (Ctrl-C to stop)' })
      .example('kubectl zerolossupgrade status gateway -n prod', 'Pods of the gateway StatefulSet as a table')
      .example('kubectl zerolossupgrade status gateway -o json', 'The same as JSON, for scripts'),
  handler: async (args: ArgumentsCamelCase<StatusArgs>) => {
    const options = validateStatusOptions(args);
    const { ui, cluster } = session(args, deps);
    const code = statusExitCode(await runStatus(options, await cluster(), ui));
    if (code !== 0) throw new SilentExit(code);
  },
});
