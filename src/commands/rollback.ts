import type { CloudOpener } from '../cloud/open.js';
import { CancelledError, GateError } from '../core/errors.js';
import { RECORD_ANNOTATION, encodeRecord, rollbackRecord } from '../core/upgrade.js';
import { revisionState } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import type { Deps } from './common.js';
import { planNextBatch, printPlan, stsPatchStep } from './dry-run.js';
import { withLock } from './lock.js';
import { drainCommand, openWalk, walkRemaining, type NextOptions } from './next.js';
import { applyServiceAnnotations, audit, observed, readUpgrade } from './walk.js';

/**
 * Turns an upgrade back from wherever it stands: the original template (the recorded original
 * ControllerRevision) comes back in the same conditional patch as the turned-around record, then the
 * pods already on the new revision walk back with the same drain, confirm, rebuild, restore loop.
 * Run again, it continues the walk back; `finish` ends it as usual.
 */
export async function runRollback(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  const who = await cluster.whoAmI();
  const ctx = await openWalk(o, cluster, ui, now, who, opener);
  const run = async () => {
    const up = await readUpgrade(cluster, o.name);
    if (up.record.finish) {
      throw new GateError(`the upgrade of "${o.name}" is already finishing (surge pods being removed); complete it with: kubectl zerolossupgrade finish ${o.name}, then start an upgrade back to the old image`);
    }
    if (!up.record.rollback) {
      const onNew = up.pods.filter((p) => revisionState(up.sts, p) === 'new').map((p) => p.ordinal);
      const back = rollbackRecord(up.record, onNew, now().toISOString(), who);
      const names = back.batches.flatMap((b) => b.ordinals).map((x) => `${o.name}-${x}`).join(', ') || 'none';
      ui.info(ui.errStyle.bold(`Rolling back statefulset "${o.name}" to revision ${up.record.originalRevision}:`));
      ui.info(`  template back to ${back.targetImages.map((c) => `${c.name}=${c.image}`).join(', ')}`);
      ui.info(`  pods walked back (drain, confirm, rebuild, restore): ${names}`);
      const change = { revisionPatch: await cluster.revisionPatch(up.record.originalRevision), annotations: { [RECORD_ANNOTATION]: encodeRecord(back) } };
      if (o.dryRun) {
        printPlan(ui, [stsPatchStep(o.name, up.sts.resourceVersion, change), { request: 'then walk those pods back as `next` does' }]);
        return;
      }
      if (!(await ui.confirm(`Roll back "${o.name}"?`))) throw new CancelledError('not rolled back; nothing changed');
      const sts = await cluster.patchStatefulSet(o.name, up.sts.resourceVersion, change);
      await audit(ctx, sts, 'RolledBack', `by ${who}: template back to revision ${up.record.originalRevision}; walking back ${names}`);
      await observed(cluster, o.name, 30_000);
      await applyServiceAnnotations(ctx, back);
    }
    if (o.dryRun) return printPlan(ui, await planNextBatch(cluster, await readUpgrade(cluster, o.name), now()));
    await walkRemaining(o, cluster, ui, ctx);
  };
  // A dry run only reads: no lock.
  await (o.dryRun ? run() : withLock(cluster, ui, o.name, who, o.forceUnlock, run));
}

export const rollbackCommand = (deps: Deps) =>
  drainCommand(
    deps,
    'rollback',
    'Go back to the original template and walk the upgraded pods back, as safely as forward',
    [['kubectl zerolossupgrade rollback nginx', 'Then: kubectl zerolossupgrade finish nginx']],
    (o, c, ui, opener) => runRollback(o, c, ui, () => new Date(), opener),
  );
