// Stops an upgrade without rebuilding more pods: upgraded pods stay upgraded, the others keep the
// old image (the template keeps the new one, as after Argo Rollouts' abort), the surge pods are
// drained and removed, every drained ordinal gets its weight back, the record goes.
import { CancelledError } from '../core/errors.js';
import { SURGE_SOAK } from '../core/soak.js';
import { pendingOrdinals, soakSubject, surgeOrdinals } from '../core/upgrade.js';
import { podTrouble } from '../core/workload.js';
import { podNames, readUpgrade, type WalkContext } from './context.js';
import { isRebuilt, waitRebuilt } from './pods.js';
import { retireSurge } from './retire.js';

export async function abortUpgrade(ctx: WalkContext, name: string): Promise<void> {
  const { ui, cluster } = ctx;
  let up = await readUpgrade(cluster, name);
  const { record } = up;
  const done = record.batches.filter((b) => b.phase === 'done').flatMap((b) => b.ordinals);
  const inFlight = record.batches.find((b) => b.phase === 'deleting' || b.phase === 'rebuilt');
  // Pods of the batch in flight that really left (their recorded uid is gone): they come back whatever we do.
  const left = inFlight
    ? inFlight.ordinals.filter((o) => {
        const pod = up.pods.find((p) => p.ordinal === o);
        const recorded = inFlight.deleted?.find((d) => d.pod === `${name}-${o}`);
        return !pod || pod.deleting || (recorded !== undefined && pod.uid !== recorded.uid);
      })
    : [];
  ui.info(ui.errStyle.bold(`Aborting the upgrade of statefulset "${name}":`));
  ui.info(`  upgraded, staying on the new images: ${podNames(name, done)}`);
  if (left.length > 0) ui.info(`  deleted and coming back, waited for while drained: ${podNames(name, left)}`);
  ui.info(`  staying as they are: ${podNames(name, pendingOrdinals(record).filter((x) => !left.includes(x)))}`);
  ui.info(`  surge pods drained and removed: ${podNames(name, record.finish?.phase === 'scaled' ? [] : surgeOrdinals(record))}`);
  ui.info(`  Services ${record.services.map((s) => s.name).join(', ')}: every drained pod gets its weight back`);
  ui.info('  The template keeps the new images: pods recreated later get them.');
  if (record.soak?.failed) {
    const what = soakSubject(record, record.soak);
    ui.warn(
      record.soak.batch === SURGE_SOAK
        ? `the soak of ${what} failed (${record.soak.failed.reason}); abort removes them, but the template keeps the failed release for every pod recreated later: rollback puts it back`
        : `the soak of ${what} failed (${record.soak.failed.reason}); aborting leaves them, and the template, on the failed release: rollback walks them back instead`,
    );
  }
  if (!(await ui.confirm(`Abort the upgrade of "${name}"?`))) throw new CancelledError('not aborted; nothing changed');
  if (left.length > 0) {
    try {
      await waitRebuilt(ctx, up, left);
    } catch (e) {
      // A pod that came back broken does not hold the abort: it gets its weight back and its
      // readiness keeps the CLB's traffic off it until it is healthy.
      up = await readUpgrade(cluster, name);
      const broken = left.filter((o) => !isRebuilt(up.record, up.pods.find((p) => p.ordinal === o)));
      if (broken.length === 0) throw e;
      for (const o of broken) ui.warn(`${name}-${o} did not come back Ready (${podTrouble(up.pods.find((p) => p.ordinal === o)) ?? 'not at the new revision'}); aborting anyway`);
    }
    up = await readUpgrade(cluster, name);
  }
  await retireSurge(ctx, up, 'UpgradeAborted');
}
