// One batch from wherever its record says it is to done: drain, confirm, delete, rebuild, restore.
// Every step is written to the record before the next starts, and the world is read again right
// before every irreversible one: the StatefulSet (drift), the pods (health), the Services (the
// drain still holds, on every port of every Service that selects the pods now).
import { CancelledError, GateError } from '../core/errors.js';
import { serving, weightsUnreadable } from '../core/evidence.js';
import { advance, capturePriors, confirmationText, currentBatchIndex, driftOf, redrain, surgeSoakDue, type UpgradeRecord } from '../core/upgrade.js';
import { onRevision, type PodSnapshot } from '../core/workload.js';
import { historyConfirmation, withBatch } from '../core/history.js';
import type { PodFeed } from '../k8s/types.js';
import { confirmDrain } from './confirm.js';
import { retireSurge } from './retire.js';
import { rollBack } from './rollback.js';
import { soakGate, soakMsFor, soakState, beginSoak } from './soak.js';
import { SURGE_SOAK } from '../core/soak.js';
import { writeHistory } from './history.js';
import { audit, observed, podNames, readUpgrade, saveRecord, type Upgrade, type WalkContext } from './context.js';
import { assertServing, evictWhenAllowed, waitRebuilt } from './pods.js';
import { discoverServices, lostDrainCounter, lostDrains, restoreStoppedFinish, syncWeights } from './services.js';

export function podLines(pods: PodSnapshot[], ordinals: number[], stsName: string): string[] {
  return ordinals.map((o) => {
    const p = pods.find((x) => x.ordinal === o);
    return `  ${p?.name ?? `${stsName}-${o}`}  ordinal ${o}  IP ${p?.ip ?? '-'}  node ${p?.node ?? '-'}  ${p ? p.containers.map((c) => c.image).join(',') : 'missing'}`;
  });
}

/**
 * The StatefulSet and its pods now, once its controller has seen the latest spec; stops on drift.
 * With a feed whose watch is established the pods come from it: one small read of the StatefulSet
 * instead of a list of every pod. Otherwise (a watch reconnecting) both are read live.
 */
export async function freshAndUndrifted(ctx: WalkContext, up: Upgrade, feed?: PodFeed): Promise<Upgrade> {
  const watched = feed?.pods();
  const now = watched ? { sts: await ctx.cluster.readStatefulSet(up.sts.name), pods: watched } : await ctx.cluster.readStatefulSetWithPods(up.sts.name);
  const seen = now.sts.observedGeneration >= now.sts.generation ? now : await observed(ctx.cluster, up.sts.name, 30_000);
  const drift = driftOf(up.record, seen.sts);
  if (drift) throw new GateError(drift);
  return { ...up, ...seen };
}

export async function walkBatch(ctx: WalkContext, start: Upgrade, index: number): Promise<Upgrade> {
  let up = start;
  const batch = () => up.record.batches[index]!;
  const ordinals = batch().ordinals;
  const names = podNames(up.record.statefulSet, ordinals);
  const save = async (record: UpgradeRecord) => {
    up = { ...up, sts: await saveRecord(ctx.cluster, up.sts, record), record };
  };
  const drainLost = lostDrainCounter(ctx, names);
  const stillDrained = async () => {
    const r = await lostDrains(ctx, up, ordinals);
    up = r.up;
    if (r.lost.length > 0) drainLost(r.lost);
    return r.lost.length === 0;
  };

  for (;;) {
    switch (batch().phase) {
      case 'pending': {
        up = await freshAndUndrifted(ctx, up);
        assertServing(up, ordinals, `draining ${names}`);
        if (!ctx.warned.has('listeners')) {
          ctx.warned.add('listeners');
          for (const w of await ctx.evidence.listenerWarnings(ctx.cluster, up.record)) ctx.ui.warn(w);
        }
        ctx.ui.info(ctx.ui.errStyle.bold(`Batch ${index + 1} of ${up.record.batches.length}:`));
        for (const l of podLines(up.pods, ordinals, up.sts.name)) ctx.ui.info(l);
        if (!(await ctx.ui.confirm(`Drain ${names} (CLB weight 0 on every Service port)?`))) throw new CancelledError('not drained; nothing changed');
        // What the Services give these pods right now is what they get back after the rebuild.
        const found = await discoverServices(ctx, up);
        up = found.up;
        await save(advance(up.record, index, 'drained', { drainedAt: ctx.now().toISOString(), prior: capturePriors(up.record, found.live, ordinals) }));
        break;
      }
      case 'drained':
      case 'confirmed': {
        // A resumed run asks again (the CLB may have moved). When a write lands now, the drain
        // starts now, and so does --min-drain: not at the intent recorded before it.
        const synced = await syncWeights(ctx, up);
        up = synced.up;
        if (synced.changed) {
          await save({ ...up.record, batches: up.record.batches.map((b, i) => (i === index ? { ...b, drainedAt: ctx.now().toISOString() } : b)) });
          const on = up.record.services.map((s) => s.name).join(', ');
          ctx.ui.info(`drained ${names}: lb-rs-weight set on ${on}`);
          await audit(ctx, up.sts, 'Drained', `${names}: CLB weight 0 requested on ${on} by ${ctx.who}`);
        }
        const confirmation = await confirmDrain(ctx, up.record, up.pods, ordinals, batch().drainedAt!);
        // Confirming can take long: what was confirmed must still hold.
        if (!(await stillDrained())) {
          await save(redrain(up.record, index, ctx.now().toISOString()));
          break;
        }
        const confirmed = batch().phase === 'drained' ? advance(up.record, index, 'confirmed', { confirmation }) : { ...up.record, batches: up.record.batches.map((b, i) => (i === index ? { ...b, confirmation } : b)) };
        await save(confirmed);
        // Who let these pods go, how and on what evidence: on record in the history before they go.
        await writeHistory(ctx, up.record, (e) => withBatch(e, up.record, index, { drainedAt: batch().drainedAt!, confirmation: historyConfirmation(confirmation) }), true);
        ctx.ui.info(`${names}: ${confirmationText(confirmation)}`);
        await audit(ctx, up.sts, 'DrainConfirmed', `${names}: ${confirmationText(confirmation)}`, confirmation.how === 'forced-after-timeout' ? 'Warning' : 'Normal');
        up = await freshAndUndrifted(ctx, up);
        assertServing(up, ordinals, `deleting ${names}`);
        // Only pods not yet on the target revision leave, each by the uid seen now.
        const leaving = up.pods.filter((p) => ordinals.includes(p.ordinal) && !p.deleting && !onRevision(p, up.record.targetRevision));
        await save(advance(up.record, index, 'deleting', { deleted: leaving.map((p) => ({ pod: p.name, uid: p.uid })) }));
        break;
      }
      case 'deleting': {
        let undone = false;
        // One watch of the pods for the batch: the health check before each eviction and the wait
        // for the rebuild read it, so a batch costs the same calls and bytes at 100 replicas as at
        // 1,000. The StatefulSet (drift) and the Services (the drain holds) are read live each time.
        const feed = await ctx.cluster.followPods(up.sts);
        try {
          for (const d of batch().deleted ?? []) {
            // The world right before each eviction: drift, and every other pod still serving.
            up = await freshAndUndrifted(ctx, up, feed);
            const p = up.pods.find((x) => x.name === d.pod);
            if (!p || p.uid !== d.uid || p.deleting) continue;
            assertServing(up, ordinals, `deleting ${d.pod}`);
            // Checked right before each eviction, not once for the batch.
            if (!(await evictWhenAllowed(ctx, d, stillDrained))) {
              undone = true;
              break;
            }
          }
          if (!undone) up = { ...up, pods: await waitRebuilt(ctx, up, ordinals, feed) };
        } finally {
          feed.close();
        }
        if (undone) {
          await save(redrain(up.record, index, ctx.now().toISOString()));
          break;
        }
        await save(advance(up.record, index, 'rebuilt', { rebuiltAt: ctx.now().toISOString() }));
        await audit(ctx, up.sts, 'PodsRebuilt', `${names}: deleted and back at revision ${up.record.targetRevision}, Running and Ready`);
        for (const l of podLines(up.pods, ordinals, up.sts.name)) ctx.ui.info(l);
        break;
      }
      case 'rebuilt': {
        // Give the weights back first, then the history, then record it done: a crash anywhere
        // in between does all three again (the history write is the same again).
        up = (await syncWeights(ctx, up, ordinals)).up;
        ctx.ui.info(`restored ${names}: they serve real traffic again`);
        const doneAt = ctx.now().toISOString();
        await writeHistory(ctx, up.record, (e) => withBatch(e, up.record, index, { rebuiltAt: batch().rebuiltAt!, restoredAt: doneAt }));
        // The soak begins with the restore, in the same write: a crash right after still soaks.
        const soak = soakState(ctx, up, index, doneAt);
        await save({ ...advance(up.record, index, 'done', { doneAt }), ...(soak ? { soak } : {}) });
        await audit(ctx, up.sts, 'Restored', `${names}: CLB weight restored by ${ctx.who}`);
        await showRestored(ctx, up.record, up.pods, ordinals);
        return up;
      }
      case 'done':
        return up;
    }
  }
}

/** With evidence on: the CLB weight and health of pods just back in service, once they read it (or a warning). */
async function showRestored(ctx: WalkContext, record: UpgradeRecord, pods: PodSnapshot[], ordinals: number[]): Promise<void> {
  const ev = ctx.evidence;
  if (!ev.cloud) return;
  const deadline = ctx.now().getTime() + Math.min(ev.options.drainTimeoutMs, 60_000);
  let view = await ev.read(ctx.cluster, record, pods, ordinals, new Date(), ctx.now().getTime(), false);
  while (!serving(view) && !weightsUnreadable(view) && ctx.now().getTime() < deadline) {
    await new Promise((r) => setTimeout(r, ev.options.intervalMs));
    view = await ev.read(ctx.cluster, record, pods, ordinals, new Date(), ctx.now().getTime(), false);
  }
  const { renderEvidence } = await import('../ui/render.js');
  ctx.ui.info(renderEvidence(view, ctx.ui.errStyle));
  if (!serving(view)) ctx.ui.warn(`the CLB does not yet show ${podNames(record.statefulSet, ordinals)} with weight above 0 and healthy on every listener`);
}

/**
 * Walks the remaining batches (at most `maxBatches`). Between them, the soak gate when one is set;
 * otherwise the question whether to go on or stop to watch the new pods.
 */
export async function walkRemaining(ctx: WalkContext, name: string, maxBatches = Infinity): Promise<void> {
  // Read under the lock: what another operator did before we got it counts.
  let up = await readUpgrade(ctx.cluster, name);
  if (up.record.finish) throw new GateError(`the upgrade of "${name}" is finishing; run: kubectl zerolossupgrade finish ${name}`);
  if (!up.record.targetRevision) throw new GateError(`the start of the upgrade of "${name}" did not finish; run it again: kubectl zerolossupgrade start ${name}`);
  up = await restoreStoppedFinish(ctx, up);
  // A walk back a failed soak started unattended goes the whole way and out, whatever --batches says,
  // also when run again after a crash: the surge pods run the failed release too.
  const soakRollback = up.record.rollback?.trigger === 'soak' && ctx.ui.yes;
  if (soakRollback) maxBatches = Infinity;
  const toGo = (walked: number, left: number) => `walked ${walked} batch${walked === 1 ? '' : 'es'} (--batches); ${left} to go: kubectl zerolossupgrade next ${name} -n ${ctx.cluster.namespace}`;
  for (let walked = 0; ; ) {
    if (surgeSoakDue(up.record, soakMsFor(ctx, up.record))) {
      // The surge pods run the new release and serve already: they prove it before any pod is drained.
      const soak = beginSoak(up, SURGE_SOAK, ctx.now().toISOString(), soakMsFor(ctx, up.record));
      const record = { ...up.record, soak };
      up = { ...up, sts: await saveRecord(ctx.cluster, up.sts, record), record };
    }
    if (up.record.soak) {
      const after = await soakGate(ctx, up);
      // Unattended, the walk back is the soak's (and ends the upgrade, below); a person's choice is theirs.
      if (after.next === 'rollback') return rollBack(ctx, name, false, ctx.ui.yes ? Infinity : maxBatches, ctx.ui.yes ? 'soak' : undefined);
      if (after.next === 'stop') {
        const left = after.up.record.soak;
        if (!left) ctx.ui.result(`stopped after the soak; continue with: kubectl zerolossupgrade next ${name} -n ${ctx.cluster.namespace}`);
        else if (!left.failed) ctx.ui.result(`stopped during the soak; resume it with: kubectl zerolossupgrade next ${name} -n ${ctx.cluster.namespace}`);
        return;
      }
      up = after.up;
    }
    const index = currentBatchIndex(up.record);
    if (index < 0 && soakRollback) {
      // Every original pod is back; the surge pods leave as at finish (drained first), and a script sees exit 3.
      await retireSurge(ctx, up, 'UpgradeFinished');
      throw new GateError(`the soak failed and the upgrade of "${name}" was rolled back and finished: every pod is on revision ${up.record.targetRevision} again and the surge pods are gone (see kubectl zerolossupgrade history ${name} -n ${ctx.cluster.namespace})`);
    }
    if (index < 0) {
      ctx.ui.result(`every pod of statefulset "${name}" is ${up.record.rollback ? 'back on the original revision' : up.record.undo ? `back on revision ${up.record.targetRevision}` : 'upgraded'}; next: kubectl zerolossupgrade finish ${name} -n ${ctx.cluster.namespace}`);
      return;
    }
    if (walked >= maxBatches) {
      ctx.ui.result(toGo(walked, up.record.batches.filter((b) => b.phase !== 'done').length));
      return;
    }
    up = await walkBatch(ctx, up, index);
    walked++;
    // The soak decides, and asks, at its end.
    if (up.record.soak) continue;
    const left = up.record.batches.filter((b) => b.phase !== 'done').length;
    if (left === 0) continue;
    if (walked >= maxBatches) {
      ctx.ui.result(toGo(walked, left));
      return;
    }
    const choice = await ctx.ui.choose(
      `Batch ${index + 1} done, ${left} to go. Watch the new pods under real traffic first?`,
      [
        { value: 'continue', name: 'Continue with the next batch' },
        { value: 'soak', name: 'Stop here to soak; come back with `next`' },
      ],
      'continue',
    );
    if (choice === 'soak') {
      ctx.ui.result(`stopped after batch ${index + 1}; continue with: kubectl zerolossupgrade next ${name} -n ${ctx.cluster.namespace}`);
      return;
    }
  }
}
