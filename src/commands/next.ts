import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { parseDuration } from '../core/duration.js';
import { CREDENTIAL_MODES, type CredentialMode } from '../cloud/types.js';
import type { CloudOpener } from '../cloud/open.js';
import { CancelledError, GateError, UsageError } from '../core/errors.js';
import { serving, weightsUnreadable } from '../core/evidence.js';
import { advance, confirmationText, currentBatchIndex, type UpgradeRecord } from '../core/upgrade.js';
import { revisionState, type PodSnapshot } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { session, type Deps, type GlobalArgs } from './common.js';
import { planNextBatch, printPlan } from './dry-run.js';
import { withLock } from './lock.js';
import { walkOptions } from './start.js';
import { confirmDrain } from './confirm.js';
import { DrainEvidence, type EvidenceOptions } from './evidence.js';
import { applyServiceAnnotations, assertDrained, audit, readUpgrade, saveRecord, waitRebuilt, type Upgrade, type WalkContext } from './walk.js';

export interface NextArgs extends GlobalArgs {
  statefulset: string;
  yes: boolean;
  'min-drain': string;
  timeout: string;
  'force-unlock': boolean;
  'dry-run': boolean;
  region?: string;
  'cloud-credentials': CredentialMode;
  'cloud-endpoint'?: string;
  'require-evidence': boolean;
  'zero-points': number;
  'drain-timeout': string;
  'force-after-timeout': boolean;
  'evidence-interval': string;
}

export interface NextOptions {
  name: string;
  forceUnlock: boolean;
  dryRun: boolean;
  minDrainMs: number;
  timeoutMs: number;
  evidence: EvidenceOptions;
}

export function validateNextOptions(a: Omit<NextArgs, keyof GlobalArgs | 'yes'>): NextOptions {
  const zeroPoints = a['zero-points'];
  if (!Number.isInteger(zeroPoints) || zeroPoints < 1) {
    throw new UsageError(`--zero-points must be a whole number of 1 or more${Number.isNaN(zeroPoints) ? ', e.g. 3' : `, not "${zeroPoints}"`}`);
  }
  if (a['force-after-timeout'] && !a['require-evidence']) throw new UsageError('--force-after-timeout is the policy of --require-evidence when --drain-timeout passes; pass both');
  return {
    name: a.statefulset,
    forceUnlock: a['force-unlock'],
    dryRun: a['dry-run'],
    minDrainMs: parseDuration('min-drain', a['min-drain']),
    timeoutMs: parseDuration('timeout', a.timeout),
    evidence: {
      credentials: a['cloud-credentials'],
      region: a.region,
      endpoint: a['cloud-endpoint'],
      requireEvidence: a['require-evidence'],
      zeroPoints,
      drainTimeoutMs: parseDuration('drain-timeout', a['drain-timeout']),
      forceAfterTimeout: a['force-after-timeout'],
      intervalMs: parseDuration('evidence-interval', a['evidence-interval']),
    },
  };
}

/**
 * The context of a walking command. The evidence opens before the lock is taken, so that
 * --require-evidence without usable credentials is refused with the cluster untouched; a dry run
 * does not open it.
 */
export async function openWalk(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date, who: string, opener: CloudOpener): Promise<WalkContext> {
  const up = await readUpgrade(cluster, o.name);
  const evidence = o.dryRun ? DrainEvidence.none(o.evidence, 'not read in a dry run') : await DrainEvidence.open(o.evidence, cluster, up.record, up.pods, opener);
  return { cluster, ui, now, who, minDrainMs: o.minDrainMs, timeoutMs: o.timeoutMs, evidence };
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
    if (index === 0) for (const w of await ctx.evidence.listenerWarnings(ctx.cluster, record)) ctx.ui.warn(w);
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
    ctx.ui.info(confirmationText(confirmation));
    await audit(ctx, sts, 'DrainConfirmed', `${names}: ${confirmationText(confirmation)}`, confirmation.how === 'forced-after-timeout' ? 'Warning' : 'Normal');
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
    await showRestored(ctx, record, pods, ordinals);
  }
  return { sts, pods, record };
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
  if (!serving(view)) ctx.ui.warn(`the CLB does not yet show ${ordinals.map((o) => `${record.statefulSet}-${o}`).join(', ')} with weight above 0 and healthy on every listener`);
}

export async function runNext(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  if (o.dryRun) {
    const up = await readUpgrade(cluster, o.name);
    printPlan(ui, await planNextBatch(cluster, up, now()));
    return;
  }
  const who = await cluster.whoAmI();
  const ctx = await openWalk(o, cluster, ui, now, who, opener);
  await withLock(cluster, ui, o.name, who, o.forceUnlock, () => walkRemaining(o, cluster, ui, ctx));
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
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Answer yes (scripted use); --min-drain still applies' })
    .option('region', { type: 'string', describe: 'Tencent Cloud region of the CLB (default: TENCENTCLOUD_REGION, else the nodes\' region label)' })
    .option('cloud-credentials', { choices: CREDENTIAL_MODES, default: 'auto' as CredentialMode, describe: 'Where the drain evidence gets Tencent Cloud credentials: auto = environment, then ~/.tencentcloud/credentials, then TKE OIDC' })
    .option('cloud-endpoint', { type: 'string', describe: 'Tencent Cloud API domain (e.g. internal.tencentcloudapi.com) or a URL for every service' })
    .option('require-evidence', { type: 'boolean', default: false, describe: 'Delete only when the evidence says drained: weight 0 on every listener and --zero-points zero connection points' })
    .option('zero-points', { type: 'number', default: 3, describe: 'Consecutive zero ConNum points (present, after weight 0) that count as drained' })
    .option('drain-timeout', { type: 'string', default: '15m', describe: 'How long one run waits for the evidence before it stops (nothing deleted)' })
    .option('force-after-timeout', { type: 'boolean', default: false, describe: 'With --require-evidence: when --drain-timeout passes with weight 0 but connections not drained, delete anyway' })
    .option('evidence-interval', { type: 'string', default: '10s', describe: 'How often the evidence is read again' });
}

/** The yargs module of a command that walks (next, abort, rollback): same flags, same wiring. */
export function drainCommand(
  deps: Deps,
  verb: string,
  describe: string,
  examples: [string, string][],
  run: (o: NextOptions, cluster: Cluster, ui: Ui, opener: CloudOpener) => Promise<void>,
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
      await run(options, await cluster(), ui, deps.openCloud);
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
    (o, c, ui, opener) => runNext(o, c, ui, () => new Date(), opener),
  );
