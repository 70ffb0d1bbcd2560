// The end of every upgrade, finished or aborted: drain and confirm the surge pods, scale back (only
// while spec.replicas is still what the walk set, and only while the drain holds), give every
// ordinal the walk drained its weight back, clear the record. Resumable like every other step.
import { formatDuration } from '../core/duration.js';
import { GateError } from '../core/errors.js';
import { capturePriors, confirmationText, drainedOrdinals, driftOf, surgeOrdinals, type UpgradeRecord } from '../core/upgrade.js';
import { historyConfirmation } from '../core/history.js';
import { toRanges } from '../core/ranges.js';
import { confirmDrain } from './confirm.js';
import { writeHistory } from './history.js';
import { audit, podNames, saveRecord, type Upgrade, type WalkContext } from './context.js';
import { discoverServices, lostDrainCounter, lostDrains, restoreStoppedFinish, syncWeights } from './services.js';

export async function retireSurge(ctx: WalkContext, start: Upgrade, reason: 'UpgradeFinished' | 'UpgradeAborted'): Promise<void> {
  const { cluster, ui, now, who } = ctx;
  let up = await restoreStoppedFinish(ctx, start, 'exit');
  const name = up.sts.name;
  const save = async (record: UpgradeRecord) => {
    up = { ...up, sts: await saveRecord(cluster, up.sts, record), record };
  };
  const surge = surgeOrdinals(up.record);
  const surgeNames = podNames(name, surge);
  const drainLost = lostDrainCounter(ctx, `the surge pods ${surgeNames}`);
  const drainAgain = async (lost: string[]) => {
    drainLost(lost);
    await save({ ...up.record, finish: { ...up.record.finish!, phase: 'drained', drainedAt: now().toISOString() } });
  };
  // On the way out nothing refuses a changed set of Services: every one selecting the pods is drained.
  const stillDrained = async () => {
    const r = await lostDrains(ctx, up, surge, 'exit');
    up = r.up;
    return r.lost;
  };
  // finish keeps the walk's rules; abort is the way out of a drifted walk, so only what makes the
  // scale-down itself unsafe (the ordinals it removes) stops it.
  const undrifted = () => {
    const drift = driftOf(up.record, up.sts, { strategy: reason === 'UpgradeFinished', revision: reason === 'UpgradeFinished' && !up.record.rollback });
    if (drift) throw new GateError(drift);
  };

  const scaledBack = async () => {
    const progress = ui.progress(`scaling back to ${up.record.originalReplicas} replicas`);
    let gone = false;
    try {
      gone = (await cluster.waitForPods(up.sts, (ps) => ps.every((p) => !surge.includes(p.ordinal)), ctx.timeoutMs)).met;
    } finally {
      progress.done(gone ? `scaled back to ${up.record.originalReplicas} replicas` : 'surge pods not gone yet');
    }
    if (!gone) throw new GateError(`surge pods ${surgeNames} are still there after --timeout (${formatDuration(ctx.timeoutMs)}); they are drained. Run the same command again to keep waiting`);
    up = { ...up, ...(await cluster.readStatefulSetWithPods(name)) };
    await save({ ...up.record, finish: { ...up.record.finish!, phase: 'scaled' } });
  };

  while (surge.length > 0 && up.record.finish?.phase !== 'scaled') {
    // A run that died right after its scale-down landed left the record one step behind.
    if (up.record.finish?.phase === 'confirmed') {
      up = { ...up, ...(await cluster.readStatefulSetWithPods(name)) };
      if (up.sts.replicas === up.record.originalReplicas) {
        await scaledBack();
        break;
      }
    }
    // Scaling down without draining would cut the surge pods' connections: drain them first.
    if (!up.record.finish) {
      up = { ...up, ...(await cluster.readStatefulSetWithPods(name)) };
      undrifted();
      const found = await discoverServices(ctx, up, 'exit');
      up = found.up;
      await save({ ...up.record, finish: { phase: 'drained', drainedAt: now().toISOString(), prior: capturePriors(up.record, found.live, surge) } });
      ui.info(`drained surge pods ${surgeNames}`);
      await audit(ctx, up.sts, 'Drained', `surge pods ${surgeNames}: CLB weight 0 requested by ${who}`);
    }
    // --min-drain counts from the moment the Services actually carry the drain.
    const synced = await syncWeights(ctx, up, [], 'exit');
    up = synced.up;
    if (synced.changed) await save({ ...up.record, finish: { ...up.record.finish!, phase: 'drained', drainedAt: now().toISOString() } });
    const confirmation = await confirmDrain(ctx, up.record, up.pods, surge, up.record.finish!.drainedAt);
    let lost = await stillDrained();
    if (lost.length > 0) {
      await drainAgain(lost);
      continue;
    }
    await save({ ...up.record, finish: { ...up.record.finish!, phase: 'confirmed', confirmation } });
    // On record before the scale-down it allows.
    const drainedAt = up.record.finish!.drainedAt;
    await writeHistory(ctx, up.record, (e) => ({ ...e, surgeDrain: { ordinals: toRanges(surge), drainedAt, confirmation: historyConfirmation(confirmation) } }), true);
    ui.info(`surge pods ${surgeNames}: ${confirmationText(confirmation)}`);
    await audit(ctx, up.sts, 'DrainConfirmed', `surge pods: ${confirmationText(confirmation)}`, confirmation.how === 'forced-after-timeout' ? 'Warning' : 'Normal');

    // Right before the scale-down: the StatefulSet as the walk left it, and the drain in place.
    // A conflict (the controller wrote status meanwhile) checks both again; it does not ask again.
    let scaled = false;
    let drainLost = false;
    let landed = false;
    for (let attempt = 1; !scaled && !drainLost; attempt++) {
      up = { ...up, ...(await cluster.readStatefulSetWithPods(name)) };
      // A retried scale-down whose first attempt landed comes back as a conflict: it is ours.
      if (attempt > 1 && up.sts.replicas === up.record.originalReplicas) {
        landed = true;
        break;
      }
      // Drift includes spec.replicas: scaling back from a count someone else set would remove undrained pods.
      undrifted();
      lost = await stillDrained();
      if (lost.length > 0) {
        drainLost = true;
        break;
      }
      try {
        up = { ...up, sts: await cluster.patchStatefulSet(name, up.sts.resourceVersion, { replicas: up.record.originalReplicas }) };
        scaled = true;
      } catch (e) {
        if ((e as { status?: number }).status !== 409 || attempt >= 10) throw e;
      }
    }
    if (drainLost) {
      await drainAgain(lost);
      continue;
    }
    if (landed) up = { ...up, ...(await cluster.readStatefulSetWithPods(name)) };
    await scaledBack();
  }

  // Every ordinal the walk drained gets back the weight it had before; nothing else changes.
  up = (await syncWeights(ctx, up, drainedOrdinals(up.record), 'exit')).up;
  const record = up.record;
  const outcome = reason === 'UpgradeFinished' ? (record.rollback ? 'rolled back' : 'finished') : 'aborted';
  // The history says how it ended before the record goes: a crash in between writes it again.
  await writeHistory(ctx, record, (e) => ({ ...e, outcome, endedAt: now().toISOString(), endedBy: who }));
  const sts = await saveRecord(cluster, up.sts, null);
  const upgraded = record.batches.filter((b) => b.phase === 'done').reduce((n, b) => n + b.ordinals.length, 0);
  const images = record.targetImages.map((c) => `${c.name}=${c.image}`).join(', ');
  const verb = outcome;
  await audit(ctx, sts, reason, `${verb} by ${who}: ${upgraded} of ${record.originalReplicas} pods walked to ${images}; Service annotations restored`);
  ui.result(
    `upgrade of statefulset "${name}" ${verb} after ${formatDuration(now().getTime() - new Date(record.startedAt).getTime())}: ` +
      `${upgraded} of ${record.originalReplicas} pods walked, images ${images}; Service annotations restored. Every confirmation: kubectl zerolossupgrade history ${name}`,
  );
}
