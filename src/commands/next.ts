import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { parseDuration } from '../core/duration.js';
import { CancelledError, GateError } from '../core/errors.js';
import { advance, currentBatchIndex, type UpgradeRecord } from '../core/upgrade.js';
import { revisionState, type PodSnapshot } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { session, type Deps, type GlobalArgs } from './common.js';
import { planNextBatch, printPlan } from './dry-run.js';
import { withLock } from './lock.js';
import { walkOptions } from './start.js';
import { applyServiceAnnotations, assertDrained, audit, confirmDrain, readUpgrade, saveRecord, waitRebuilt, type Upgrade, type WalkContext } from './walk.js';

export interface NextArgs extends GlobalArgs {
  statefulset: string;
  yes: boolean;
  'min-drain': string;
  timeout: string;
  'force-unlock': boolean;
  'dry-run': boolean;
}

export interface NextOptions {
  name: string;
  forceUnlock: boolean;
  dryRun: boolean;
  minDrainMs: number;
  timeoutMs: number;
}

export function validateNextOptions(a: Pick<NextArgs, 'statefulset' | 'min-drain' | 'timeout' | 'force-unlock' | 'dry-run'>): NextOptions {
  return { name: a.statefulset, forceUnlock: a['force-unlock'], dryRun: a['dry-run'], minDrainMs: parseDuration('min-drain', a['min-drain']), timeoutMs: parseDuration('timeout', a.timeout) };
}

export function podTable(ui: Ui, pods: PodSnapshot[], ordinals: number[], stsName: string): string[] {
  return ordinals.map((o) => {
    const p = pods.find((x) => x.ordinal === o);
    return `  ${p?.name ?? `${stsName}-${o}`}  ordinal ${o}  IP ${p?.ip ?? '-'}  node ${p?.node ?? '-'}  ${p ? p.containers.map((c) => c.image).join(',') : 'missing'}`;
  });
}

/** Walks one batch from wherever its record says it is to done. Returns the record after it. */
export async function walkBatch(ctx: WalkContext, up: Upgrade, index: number): Promise<Upgrade> {
  let { sts, pods, record } = up;
  const batch = () => record.batches[index]!;
  const ordinals = batch().ordinals;
  const names = ordinals.map((o) => `${sts.name}-${o}`).join(', ');
  const save = async (next: UpgradeRecord) => {
    sts = await saveRecord(ctx.cluster, sts, next);
    record = next;
  };

  if (batch().phase === 'pending') {
    ctx.ui.info(ctx.ui.errStyle.bold(`Batch ${index + 1} of ${record.batches.length}:`));
    for (const l of podTable(ctx.ui, pods, ordinals, sts.name)) ctx.ui.info(l);
    if (!(await ctx.ui.confirm(`Drain ${names} (CLB weight 0 on every Service port)?`))) throw new CancelledError('not drained; nothing changed');
    await save(advance(record, index, 'drained', { drainedAt: ctx.now().toISOString() }));
  }

  if (batch().phase === 'drained' || batch().phase === 'confirmed') {
    // Applying is idempotent, so a resumed run asks again (the CLB may have moved). When the patch
    // lands now, the drain starts now, and so does --min-drain: not at the intent recorded before it.
    if (await applyServiceAnnotations(ctx, record)) {
      await save({ ...record, batches: record.batches.map((b, i) => (i === index ? { ...b, drainedAt: ctx.now().toISOString() } : b)) });
      ctx.ui.info(`drained ${names}: lb-rs-weight set on ${record.services.map((s) => s.name).join(', ')}`);
      await audit(ctx, sts, 'Drained', `${names}: CLB weight 0 requested on ${record.services.map((s) => s.name).join(', ')} by ${ctx.who}`);
    }
    const confirmation = await confirmDrain(ctx, record, pods, ordinals, batch().drainedAt!);
    await save(batch().phase === 'drained' ? advance(record, index, 'confirmed', { confirmation }) : { ...record, batches: record.batches.map((b, i) => (i === index ? { ...b, confirmation } : b)) });
    ctx.ui.info(`confirmed by ${confirmation.by} after ${confirmation.afterSeconds}s`);
    await audit(ctx, sts, 'DrainConfirmed', `${names}: weight 0 and connections drained, confirmed by ${confirmation.by} ${confirmation.afterSeconds}s after the drain`);
  }

  if (batch().phase === 'confirmed') {
    const fresh = await ctx.cluster.readStatefulSetWithPods(sts.name);
    pods = fresh.pods;
    // Only pods still on the old revision are deleted, each by the uid seen now.
    const toDelete = pods.filter((p) => ordinals.includes(p.ordinal) && !p.deleting && revisionState(fresh.sts, p) !== 'new');
    await save(advance(record, index, 'deleting', { deleted: toDelete.map((p) => ({ pod: p.name, uid: p.uid })) }));
  }

  if (batch().phase === 'deleting') {
    await assertDrained(ctx, record, ordinals);
    const current = (await ctx.cluster.readStatefulSetWithPods(sts.name)).pods;
    for (const d of batch().deleted ?? []) {
      const p = current.find((x) => x.name === d.pod);
      if (p && p.uid === d.uid && !p.deleting) {
        if (await ctx.cluster.deletePod(d.pod, d.uid)) ctx.ui.info(`deleted pod ${d.pod} (uid ${d.uid})`);
      }
    }
    pods = await waitRebuilt(ctx, sts, record, ordinals);
    await save(advance(record, index, 'rebuilt', { rebuiltAt: ctx.now().toISOString() }));
    await audit(ctx, sts, 'PodsRebuilt', `${names}: deleted and back at revision ${sts.updateRevision}, Running and Ready`);
    for (const l of podTable(ctx.ui, pods, ordinals, sts.name)) ctx.ui.info(l);
  }

  if (batch().phase === 'rebuilt') {
    await save(advance(record, index, 'done', { doneAt: ctx.now().toISOString() }));
    await applyServiceAnnotations(ctx, record);
    ctx.ui.info(`restored ${names}: they serve real traffic again`);
    await audit(ctx, sts, 'Restored', `${names}: CLB weight restored by ${ctx.who}`);
  }
  return { sts, pods, record };
}

export async function runNext(o: NextOptions, cluster: Cluster, ui: Ui, now = () => new Date()): Promise<void> {
  if (o.dryRun) {
    const up = await readUpgrade(cluster, o.name);
    printPlan(ui, await planNextBatch(cluster, up, now()));
    return;
  }
  const who = await cluster.whoAmI();
  await withLock(cluster, ui, o.name, who, o.forceUnlock, () => walkRemaining(o, cluster, ui, { cluster, ui, now, who, minDrainMs: o.minDrainMs, timeoutMs: o.timeoutMs }));
}

export async function walkRemaining(o: NextOptions, cluster: Cluster, ui: Ui, ctx: WalkContext): Promise<void> {
  // Read under the lock: what another operator did before we got it counts.
  let up = await readUpgrade(cluster, o.name);
  if (up.record.finish) throw new GateError(`the upgrade of "${o.name}" is finishing; run: kubectl zerolossupgrade finish ${o.name}`);
  for (;;) {
    const index = currentBatchIndex(up.record);
    if (index < 0) {
      ui.result(`every pod of statefulset "${o.name}" is upgraded; next: kubectl zerolossupgrade finish ${o.name} -n ${cluster.namespace}`);
      return;
    }
    up = await walkBatch(ctx, up, index);
    const left = up.record.batches.filter((b) => b.phase !== 'done').length;
    if (left === 0) continue;
    const choice = await ui.choose(
      `Batch ${index + 1} done, ${left} to go. Watch the new pods under real traffic first?`,
      [
        { value: 'continue', name: 'Continue with the next batch' },
        { value: 'soak', name: 'Stop here to soak; come back with `next`' },
      ],
      'continue',
    );
    if (choice === 'soak') {
      ui.result(`stopped after batch ${index + 1}; continue with: kubectl zerolossupgrade next ${o.name} -n ${cluster.namespace}`);
      return;
    }
  }
}

export function drainOptions<T>(y: Argv<T>) {
  return walkOptions(y)
    .option('min-drain', { type: 'string', default: '30s', describe: 'Confirmation is refused until this long after the drain' })
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Answer yes (scripted use); --min-drain still applies' });
}

/** The yargs module of a command that walks (next, abort, rollback): same flags, same wiring. */
export function drainCommand(
  deps: Deps,
  verb: string,
  describe: string,
  examples: [string, string][],
  run: (o: NextOptions, cluster: Cluster, ui: Ui) => Promise<void>,
): CommandModule<GlobalArgs, NextArgs> {
  return {
    command: `${verb} <statefulset>`,
    describe,
    builder: (y) => {
      let b = drainOptions(y).positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' });
      for (const [cmd, what] of examples) b = b.example(cmd, what);
      return b as Argv<NextArgs>;
    },
    handler: async (args: ArgumentsCamelCase<NextArgs>) => {
      const options = validateNextOptions(args);
      const { ui, cluster } = session(args, deps);
      await run(options, await cluster(), ui);
    },
  };
}

export const nextCommand = (deps: Deps) =>
  drainCommand(
    deps,
    'next',
    'Drain, confirm, rebuild and restore the next batch of pods (resumes where it stopped)',
    [
      ['kubectl zerolossupgrade next nginx', 'Walk the next batch, asking before each step'],
      ['kubectl zerolossupgrade next nginx --yes --min-drain 2m', 'Walk every batch unattended, draining each at least 2 minutes'],
    ],
    (o, c, ui) => runNext(o, c, ui),
  );
