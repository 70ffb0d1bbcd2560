// Turns an upgrade back from wherever it stands: the recorded original ControllerRevision's own
// template comes back in the same conditional patch as the turned-around record, then every
// original ordinal not on that revision walks back with the same drain, confirm, rebuild and
// restore loop. Run again, it continues the walk back; `finish` ends it as usual.
import { CancelledError, GateError } from '../core/errors.js';
import { templateChanges } from '../core/template.js';
import { RECORD_ANNOTATION, driftOf, encodeRecord, rollbackRecord, surgeOrdinals } from '../core/upgrade.js';
import { walkRemaining } from './batch.js';
import { audit, observed, podNames, readUpgrade, saveRecord, type WalkContext } from './context.js';
import { writeHistory } from './history.js';
import { planNextBatch, printPlan, stsPatchStep } from './plan.js';

/** `trigger` 'soak': started unattended by a failed soak (--on-failure rollback), and recorded so. */
export async function rollBack(ctx: WalkContext, name: string, dryRun: boolean, maxBatches = Infinity, trigger?: 'soak'): Promise<void> {
  const { cluster, ui, now, who } = ctx;
  let up = await readUpgrade(cluster, name);
  // A finish whose scale-down landed but was not recorded yet is as far along as a recorded one.
  if (up.record.finish?.phase === 'scaled' || (up.record.finish?.phase === 'confirmed' && up.sts.replicas === up.record.originalReplicas)) {
    throw new GateError(`the upgrade of "${name}" has already scaled back; complete it with: kubectl zerolossupgrade finish ${name}, then walk it back with: kubectl zerolossupgrade rollback ${name}`);
  }
  if (!up.record.rollback) {
    if (up.sts.updateStrategy !== 'OnDelete') {
      throw new GateError(`statefulset "${name}" has updateStrategy ${up.sts.updateStrategy}: putting the old template back now would let its controller replace every pod undrained. Set it back to OnDelete first`);
    }
    const reversed = rollbackRecord(up.record, up.pods, now().toISOString(), who);
    const back = trigger ? { ...reversed, rollback: { ...reversed.rollback!, trigger } } : reversed;
    // A finish under way stops: its surge pods serve again until the walk back ends.
    const finishing = Boolean(up.record.finish);
    delete back.finish;
    const original = up.record.originalRevision;
    ui.info(ui.errStyle.bold(`Rolling back statefulset "${name}" to revision ${original}:`));
    ui.info(`  template back to revision ${original}: ${back.targetImages.map((c) => `${c.name}=${c.image}`).join(', ')}`);
    if (up.record.targetRevision && up.sts.updateRevision && up.sts.updateRevision !== up.record.targetRevision) {
      const changes = templateChanges(await cluster.revisionPatch(up.record.targetRevision), await cluster.revisionPatch(up.sts.updateRevision));
      ui.warn(`the template changed since start (revision ${up.record.targetRevision} -> ${up.sts.updateRevision}); rolling back discards these changes too:`);
      for (const c of changes) ui.info(`    ${c}`);
    }
    ui.info(`  pods walked back (drain, confirm, rebuild, restore): ${podNames(name, back.batches.flatMap((b) => b.ordinals))}`);
    if (finishing) ui.info(`  surge pods ${podNames(name, surgeOrdinals(up.record))} serve again until the walk back ends`);
    const change = { revisionPatch: await cluster.revisionPatch(original), annotations: { [RECORD_ANNOTATION]: encodeRecord(back) } };
    if (dryRun) {
      printPlan(ui, [stsPatchStep(name, up.sts.resourceVersion, change), { request: 'then walk those pods back as `next` does' }]);
      return;
    }
    if (!(await ui.confirm(`Roll back "${name}"?`))) throw new CancelledError('not rolled back; nothing changed');
    const sts = await cluster.patchStatefulSet(name, up.sts.resourceVersion, change);
    ui.info(`template of statefulset "${name}" back at revision ${original}`);
    await audit(ctx, sts, 'RolledBack', `by ${who}${trigger ? ' (triggered by the failed soak, --on-failure rollback)' : ''}: template back to revision ${original}; walking back ${podNames(name, back.batches.flatMap((b) => b.ordinals))}`);
  }
  if (dryRun) return printPlan(ui, await planNextBatch(cluster, up, now()));
  // Every run of the walk back, also one after a crash: the steps below are idempotent.
  const seen = await observed(cluster, name, 30_000);
  up = { ...seen, record: (await readUpgrade(cluster, name)).record };
  const turned = up.record.rollback!;
  await writeHistory(ctx, up.record, (e) => (e.rollback ? e : { ...e, rollback: { at: turned.at, by: turned.by, ...(turned.trigger ? { trigger: turned.trigger } : {}) } }));
  if (seen.sts.updateRevision && seen.sts.updateRevision !== up.record.targetRevision) {
    // The controller reuses an equal revision; should it name the same template anew, pods must reach that one.
    const same = JSON.stringify(await cluster.revisionPatch(seen.sts.updateRevision)) === JSON.stringify(await cluster.revisionPatch(up.record.targetRevision!));
    if (!same) throw new GateError(driftOf(up.record, seen.sts)!);
    ui.warn(`the StatefulSet controller made revision ${seen.sts.updateRevision} for the original template; walking back to it`);
    const retargeted = { ...up.record, targetRevision: seen.sts.updateRevision };
    up = { ...up, sts: await saveRecord(cluster, seen.sts, retargeted), record: retargeted };
  }
  // walkRemaining first gives the surge pods of a stopped finish their weights back.
  await walkRemaining(ctx, name, maxBatches);
}
