import type { CloudOpener } from '../cloud/open.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { abortUpgrade } from '../walk/abort.js';
import { readUpgrade } from '../walk/context.js';
import { planRetire, printPlan } from '../walk/plan.js';
import type { Deps } from './common.js';
import { drainCommand, type NextOptions } from './next.js';
import { underLock } from './walking.js';

export async function runAbort(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  if (o.dryRun) return printPlan(ui, await planRetire(cluster, await readUpgrade(cluster, o.name), now()));
  await underLock(o, cluster, ui, now, opener, (ctx) => abortUpgrade(ctx, o.name));
}

export const abortCommand = (deps: Deps) =>
  drainCommand(deps, 'abort', 'Stop an upgrade: rebuild no more pods, remove the surge pods, restore the Services', [['kubectl zerolossupgrade abort nginx', 'Shows what stays and what goes, then asks']], (o, c, ui, opener) =>
    runAbort(o, c, ui, () => new Date(), opener),
  );
