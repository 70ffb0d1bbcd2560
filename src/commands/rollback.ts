import type { CloudOpener } from '../cloud/open.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { refuseWithoutUpgrade, rollBack } from '../walk/rollback.js';
import type { Deps } from './common.js';
import { drainCommand, type NextOptions } from './next.js';
import { dryRunContext, underLock } from './walking.js';

export async function runRollback(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  await refuseWithoutUpgrade(cluster, o.name);
  if (o.dryRun) return rollBack(await dryRunContext(o, cluster, ui, now), o.name, true);
  await underLock(o, cluster, ui, now, opener, (ctx) => rollBack(ctx, o.name, false, o.maxBatches));
}

export const rollbackCommand = (deps: Deps) =>
  drainCommand(
    deps,
    'rollback',
    'Go back to the original template and walk the upgraded pods back, as safely as forward',
    [['kubectl zerolossupgrade rollback nginx', 'Then: kubectl zerolossupgrade finish nginx']],
    (o, c, ui, opener) => runRollback(o, c, ui, () => new Date(), opener),
  );
