import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { CloudOpener } from '../cloud/open.js';
import { CancelledError, UsageError } from '../core/errors.js';
import { RECORD_ANNOTATION } from '../core/upgrade.js';
import type { Cluster } from '../k8s/types.js';
import { NO_TTY_MESSAGE, type Ui } from '../ui/terminal.js';
import { walkRemaining } from '../walk/batch.js';
import { upgradeOf } from '../walk/context.js';
import { DrainEvidence } from '../walk/evidence.js';
import { planNextBatch, printPlan } from '../walk/plan.js';
import { DEFAULT_CLB_BACKEND_QUOTA } from '../walk/start.js';
import { rollBack } from '../walk/rollback.js';
import { undoTarget } from '../walk/undo.js';
import { session, type Deps, type GlobalArgs } from './common.js';
import { drainOptions, validateNextOptions, type NextArgs, type NextOptions } from './next.js';
import { runStart, walkChoices } from './start.js';
import { dryRunContext, underLock } from './walking.js';

export interface RollbackArgs extends NextArgs {
  'to-revision'?: string;
  batch: number;
  surge?: number;
  service?: string[];
  force: boolean;
  'clb-backend-quota': number;
}

/** With no upgrade in progress, the walk back is started as `start` is: the same choices. */
export interface RollbackOptions extends NextOptions, ReturnType<typeof walkChoices> {
  /** The revision to walk back to (default: the one before the last finished upgrade). */
  toRevision?: string;
}

export function validateRollbackOptions(a: Omit<RollbackArgs, keyof GlobalArgs | 'yes'>): RollbackOptions {
  if (a['to-revision'] !== undefined && !/^[a-z0-9.-]+$/.test(a['to-revision'])) throw new UsageError(`--to-revision "${a['to-revision']}": give a revision name or its hash, as kubectl zerolossupgrade history shows them`);
  return { ...validateNextOptions(a), ...walkChoices(a), ...(a['to-revision'] ? { toRevision: a['to-revision'] } : {}) };
}

export async function runRollback(o: RollbackOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  const read = await cluster.readStatefulSetWithPods(o.name);
  if (!read.sts.annotations[RECORD_ANNOTATION]) return undoFinished(o, cluster, ui, now, opener);
  if (o.toRevision) throw new UsageError(`--to-revision walks back a finished upgrade, but an upgrade of "${o.name}" is in progress: rollback without it turns that one back to where it started`);
  // A walk back of a finished upgrade already under way: the same command continues it.
  const up = upgradeOf(o.name, read);
  if (up.record.undo && !up.record.rollback) {
    ui.info(`the walk back${up.record.undo.upgrade !== undefined ? ` of upgrade ${up.record.undo.upgrade}` : ''} to revision ${up.record.targetRevision ?? '-'} is under way: continuing it`);
    if (o.dryRun) return printPlan(ui, await planNextBatch(cluster, up, now()));
    return underLock(o, cluster, ui, now, opener, (ctx) => walkRemaining(ctx, o.name, o.maxBatches));
  }
  if (o.dryRun) return rollBack(await dryRunContext(o, cluster, ui, now), o.name, true);
  await underLock(o, cluster, ui, now, opener, (ctx) => rollBack(ctx, o.name, false, o.maxBatches));
}

/** No upgrade in progress: a new walk to the revision before the last finished upgrade (or --to-revision). */
async function undoFinished(o: RollbackOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  const target = await undoTarget(cluster, o.name, o.toRevision);
  // What would stop the walk right after the start is refused before it: no terminal to ask on,
  // or --require-evidence without the evidence.
  if (!o.dryRun && !ui.canAsk) throw new UsageError(NO_TTY_MESSAGE);
  if (!o.dryRun && o.evidence.requireEvidence) await DrainEvidence.open(o.evidence, cluster, undefined, target.pods, opener);
  for (const line of target.summary) ui.info(line);
  if (!o.dryRun && !(await ui.confirm(`Walk "${o.name}" back to revision ${target.revision}?`))) throw new CancelledError('not rolled back; nothing changed');
  const revision = { name: target.revision, patch: target.patch, images: target.images, ...(target.undoOf !== undefined ? { undoOf: target.undoOf } : {}) };
  const { batch, surge, services, force, clbBackendQuota } = o;
  await runStart({ name: o.name, images: [], revision, batch, surge, services, force, clbBackendQuota, keepZeroWeights: false, timeoutMs: o.timeoutMs, dryRun: o.dryRun, forceUnlock: o.forceUnlock }, cluster, ui, now);
  if (o.dryRun) return;
  await underLock(o, cluster, ui, now, opener, (ctx) => walkRemaining(ctx, o.name, o.maxBatches));
}

export const rollbackCommand = (deps: Deps): CommandModule<GlobalArgs, RollbackArgs> => ({
  command: 'rollback <statefulset>',
  describe: 'Turn an upgrade in progress back, or walk a finished one back to the revision before it, as safely as forward',
  builder: (y) =>
    drainOptions(y)
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' })
      .option('to-revision', { type: 'string', describe: 'With no upgrade in progress: walk back to this revision from the history (name or hash) instead of the one before the last upgrade' })
      .option('batch', { type: 'number', default: 1, describe: 'With no upgrade in progress: pods walked back together' })
      .option('surge', { type: 'number', describe: 'With no upgrade in progress: extra replicas during the walk back (default: --batch)' })
      .option('service', { type: 'string', array: true, describe: 'With no upgrade in progress: the LoadBalancer Service(s) to drain through (default: all that select the pods)' })
      .option('force', { type: 'boolean', default: false, describe: 'With no upgrade in progress: walk back even though an HPA scales the StatefulSet' })
      .option('clb-backend-quota', { type: 'number', default: DEFAULT_CLB_BACKEND_QUOTA, describe: 'With no upgrade in progress: backends one CLB takes (warns when replicas + surge exceed it)' })
      .example('kubectl zerolossupgrade rollback nginx', 'Turn the upgrade in progress back; or, after finish, walk back to the revision before it')
      .example('kubectl zerolossupgrade rollback nginx --to-revision nginx-5d4f8c7b9', 'Walk back to a revision from kubectl zerolossupgrade history nginx') as Argv<RollbackArgs>,
  handler: async (args: ArgumentsCamelCase<RollbackArgs>) => {
    const options = validateRollbackOptions(args);
    const { ui, cluster } = session(args, deps);
    await runRollback(options, await cluster(), ui, () => new Date(), deps.openCloud);
  },
});
