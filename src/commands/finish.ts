import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { formatDuration } from '../core/duration.js';
import type { CloudOpener } from '../cloud/open.js';
import { GateError } from '../core/errors.js';
import { confirmationText, pendingOrdinals, surgeOrdinals, type UpgradeRecord } from '../core/upgrade.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { session, type Deps, type GlobalArgs } from './common.js';
import { confirmDrain } from './confirm.js';
import { drainOptions, openWalk, validateNextOptions, type NextArgs, type NextOptions } from './next.js';
import { planRetire, printPlan } from './dry-run.js';
import { withLock } from './lock.js';
import { applyServiceAnnotations, audit, readUpgrade, saveRecord, type Upgrade, type WalkContext } from './walk.js';

export interface FinishArgs extends NextArgs {
  force: boolean;
}

export interface FinishOptions extends NextOptions {
  force: boolean;
}

export async function runFinish(o: FinishOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  const who = await cluster.whoAmI();
  const ctx = await openWalk(o, cluster, ui, now, who, opener);
  if (o.dryRun) return finishUnderLock(o, ctx); // reads only: no lock
  await withLock(cluster, ui, o.name, who, o.forceUnlock, () => finishUnderLock(o, ctx));
}

async function finishUnderLock(o: FinishOptions, ctx: WalkContext): Promise<void> {
  const { cluster, ui, now } = ctx;
  const up = await readUpgrade(cluster, o.name);
  const pending = pendingOrdinals(up.record);
  if (pending.length > 0 && !up.record.finish && !o.force) {
    throw new GateError(`pods not yet upgraded: ${pending.map((p) => `${o.name}-${p}`).join(', ')}; walk them with: kubectl zerolossupgrade next ${o.name} (or pass --force)`);
  }
  if (o.dryRun) return printPlan(ui, await planRetire(cluster, up, now()));
  await retireSurge(ctx, up, 'UpgradeFinished');
}

/**
 * The end of every upgrade, finished or aborted: drain and confirm the surge pods, scale back,
 * give each Service exactly its value from before, clear the record. Resumable like the rest.
 */
export async function retireSurge(ctx: WalkContext, up: Upgrade, reason: 'UpgradeFinished' | 'UpgradeAborted'): Promise<void> {
  const { cluster, ui, now, who } = ctx;
  const o = { name: up.sts.name, timeoutMs: ctx.timeoutMs };
  let { sts, pods, record } = up;
  const save = async (next: UpgradeRecord) => {
    sts = await saveRecord(cluster, sts, next);
    record = next;
  };
  const surge = surgeOrdinals(record);

  if (surge.length > 0) {
    // Scaling down without draining would cut the surge pods' connections: drain them first.
    if (!record.finish) {
      await save({ ...record, finish: { phase: 'drained', drainedAt: now().toISOString() } });
      ui.info(`drained surge pods ${surge.map((s) => `${o.name}-${s}`).join(', ')}`);
      await audit(ctx, sts, 'Drained', `surge pods ${surge.map((s) => `${o.name}-${s}`).join(', ')}: CLB weight 0 requested by ${who}`);
    }
    // --min-drain counts from the moment the Services actually carry the drain.
    if ((await applyServiceAnnotations(ctx, record)) && record.finish!.phase === 'drained') {
      await save({ ...record, finish: { ...record.finish!, drainedAt: now().toISOString() } });
    }
    if (record.finish!.phase === 'drained') {
      const confirmation = await confirmDrain(ctx, record, pods, surge, record.finish!.drainedAt);
      await save({ ...record, finish: { ...record.finish!, phase: 'confirmed', confirmation } });
      await audit(ctx, sts, 'DrainConfirmed', `surge pods: ${confirmationText(confirmation)}`, confirmation.how === 'forced-after-timeout' ? 'Warning' : 'Normal');
    }
    if (record.finish!.phase === 'confirmed') {
      sts = await cluster.patchStatefulSet(o.name, sts.resourceVersion, { replicas: record.originalReplicas });
      const progress = ui.progress(`scaling back to ${record.originalReplicas} replicas`);
      await cluster.waitForPods(sts, (ps) => ps.every((p) => !surge.includes(p.ordinal)), o.timeoutMs);
      progress.done(`scaled back to ${record.originalReplicas} replicas; surge pods gone`);
      sts = (await cluster.readStatefulSetWithPods(o.name)).sts;
      await save({ ...record, finish: { ...record.finish!, phase: 'scaled' } });
    }
  }

  // Each Service gets back exactly what it had before the upgrade (no annotation if it had none).
  await applyServiceAnnotations(ctx, record, true);
  sts = await saveRecord(cluster, sts, null);
  const confirmations = record.batches.filter((b) => b.confirmation).length + (record.finish?.confirmation ? 1 : 0);
  const upgraded = record.batches.filter((b) => b.phase === 'done').flatMap((b) => b.ordinals).length;
  const images = record.targetImages.map((c) => `${c.name}=${c.image}`).join(', ');
  const verb = reason === 'UpgradeFinished' ? 'finished' : 'aborted';
  await audit(ctx, sts, reason, `${verb} by ${who}: ${upgraded} of ${record.originalReplicas} pods on ${images}; Service annotations restored`);
  ui.result(
    `upgrade of statefulset "${o.name}" ${verb} after ${formatDuration(now().getTime() - new Date(record.startedAt).getTime())}: ` +
      `${upgraded} of ${record.originalReplicas} pods upgraded, ${confirmations} drains confirmed, images ${images}; Service annotations restored`,
  );
}

export const finishCommand = (deps: Deps): CommandModule<GlobalArgs, FinishArgs> => ({
  command: 'finish <statefulset>',
  describe: 'Drain and remove the surge pods, restore the Services, clear the record',
  builder: (y) =>
    drainOptions(y)
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' })
      .option('force', { type: 'boolean', default: false, describe: 'Finish even though some pods are not upgraded' })
      .example('kubectl zerolossupgrade finish nginx', 'After the last batch') as Argv<FinishArgs>,
  handler: async (args: ArgumentsCamelCase<FinishArgs>) => {
    const options = { ...validateNextOptions(args), force: args.force };
    const { ui, cluster } = session(args, deps);
    await runFinish(options, await cluster(), ui, () => new Date(), deps.openCloud);
  },
});
