import type { CloudOpener } from '../cloud/open.js';
import { CancelledError } from '../core/errors.js';
import { pendingOrdinals, surgeOrdinals } from '../core/upgrade.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import type { Deps } from './common.js';
import { retireSurge } from './finish.js';
import { planRetire, printPlan } from './dry-run.js';
import { withLock } from './lock.js';
import { drainCommand, openWalk, type NextOptions } from './next.js';
import { readUpgrade, waitRebuilt } from './walk.js';

/**
 * Stops an upgrade without rebuilding more pods: pods already upgraded stay upgraded, the others
 * keep the old image (the template keeps the new one, as after argo's abort), the surge pods are
 * drained and removed, the Services get exactly their old annotations, the record goes.
 */
export async function runAbort(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  if (o.dryRun) return printPlan(ui, await planRetire(cluster, await readUpgrade(cluster, o.name), now()));
  const who = await cluster.whoAmI();
  const ctx = await openWalk(o, cluster, ui, now, who, opener);
  await withLock(cluster, ui, o.name, who, o.forceUnlock, async () => {
    let up = await readUpgrade(cluster, o.name);
    const { record } = up;
    const done = record.batches.filter((b) => b.phase === 'done').flatMap((b) => b.ordinals);
    const inFlight = record.batches.find((b) => b.phase === 'deleting' || b.phase === 'rebuilt');
    const names = (ords: number[]) => ords.map((x) => `${o.name}-${x}`).join(', ') || 'none';
    ui.info(ui.errStyle.bold(`Aborting the upgrade of statefulset "${o.name}":`));
    ui.info(`  upgraded, staying on the new images: ${names(done)}`);
    if (inFlight) ui.info(`  being rebuilt, will be waited for: ${names(inFlight.ordinals)}`);
    ui.info(`  staying on the old images: ${names(pendingOrdinals(record).filter((x) => !inFlight?.ordinals.includes(x)))}`);
    ui.info(`  surge pods drained and removed: ${names(record.finish?.phase === 'scaled' ? [] : surgeOrdinals(record))}`);
    ui.info(`  Services ${record.services.map((s) => s.name).join(', ')}: lb-rs-weight back to its value before the upgrade`);
    ui.info('  The template keeps the new images: pods recreated later get them.');
    if (!(await ui.confirm(`Abort the upgrade of "${o.name}"?`))) throw new CancelledError('not aborted; nothing changed');
    if (inFlight) {
      // Deleted pods come back whatever we do; wait for them while they are still drained.
      await waitRebuilt(ctx, up.sts, record, inFlight.ordinals);
      up = await readUpgrade(cluster, o.name);
    }
    await retireSurge(ctx, up, 'UpgradeAborted');
  });
}

export const abortCommand = (deps: Deps) =>
  drainCommand(deps, 'abort', 'Stop an upgrade: rebuild no more pods, remove the surge pods, restore the Services', [['kubectl zerolossupgrade abort nginx', 'Shows what stays and what goes, then asks']], (o, c, ui, opener) =>
    runAbort(o, c, ui, () => new Date(), opener),
  );
