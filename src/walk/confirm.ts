// The gate before any pod is deleted. A person confirms the drain (with the evidence from Tencent
// Cloud beside the prompt when there is any), or --yes does after --min-drain, or with
// --yes --require-evidence the evidence alone does: weight 0 everywhere and N zero connection
// points, within --drain-timeout. Whatever decided is recorded with the confirmation.
import { EVIDENCE_HOWTO } from '../cloud/credentials.js';
import { formatDuration } from '../core/duration.js';
import { GateError } from '../core/errors.js';
import { allWeightsZero, noWeightAboveZero, type EvidenceView } from '../core/evidence.js';
import type { Confirmation, UpgradeRecord } from '../core/upgrade.js';
import type { PodSnapshot } from '../core/workload.js';
import { allDrained, LOADBALANCE_ID_ANNOTATION, serviceControllerEvents } from './evidence.js';
import type { WalkContext } from './context.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const podNames = (record: UpgradeRecord, ordinals: number[]) => ordinals.map((o) => `${record.statefulSet}-${o}`).join(', ');

async function waitMinDrain(ctx: WalkContext, drainedAt: Date): Promise<void> {
  const wait = drainedAt.getTime() + ctx.minDrainMs - ctx.now().getTime();
  if (wait <= 0) return;
  const p = ctx.ui.progress(`waiting for the minimum drain time (--min-drain ${formatDuration(ctx.minDrainMs)})`);
  await sleep(wait);
  p.done(`minimum drain time passed (${formatDuration(ctx.minDrainMs)})`);
}

async function describeDrain(ctx: WalkContext, record: UpgradeRecord, pods: PodSnapshot[], ordinals: number[], drainedAt: Date): Promise<void> {
  const { ui } = ctx;
  ui.info(ui.errStyle.bold(`Drained ${formatDuration(ctx.now().getTime() - drainedAt.getTime())} ago: ordinals ${ordinals.join(', ')}`));
  for (const o of ordinals) {
    const p = pods.find((x) => x.ordinal === o);
    ui.info(`  ${p?.name ?? `${record.statefulSet}-${o}`}  IP ${p?.ip ?? '-'}  node ${p?.node ?? '-'}`);
  }
  for (const svc of record.services) {
    const lb = (await ctx.cluster.readService(svc.name).catch(() => undefined))?.annotations[LOADBALANCE_ID_ANNOTATION];
    ui.info(`  service ${svc.name}: listeners ${svc.ports.map((p) => `${p.proto}/${p.port}`).join(', ')}${lb ? `; CLB ${lb}: https://console.cloud.tencent.com/clb/detail?id=${lb}` : ''}`);
  }
}

async function showEvidence(ctx: WalkContext, view: EvidenceView): Promise<void> {
  const { renderEvidence } = await import('../ui/render.js');
  ctx.ui.info(renderEvidence(view, ctx.ui.errStyle));
}

/** Reads the evidence every --evidence-interval until `done` holds or the deadline passes, with a line of progress. */
async function pollEvidence(ctx: WalkContext, record: UpgradeRecord, pods: PodSnapshot[], ordinals: number[], drainedAt: Date, what: string, done: (v: EvidenceView) => boolean, deadline: number): Promise<EvidenceView> {
  const ev = ctx.evidence;
  const progress = ctx.ui.progress(what);
  for (;;) {
    const view = await ev.read(ctx.cluster, record, pods, ordinals, drainedAt, ctx.now().getTime());
    const state = view.verdicts.map((v) => `${v.pod} ${v.verdict.state}${v.verdict.reasons[0] ? ` (${v.verdict.reasons[0]})` : ''}`).join(', ');
    if (done(view) || ctx.now().getTime() >= deadline) {
      progress.done(`${what}: ${state}`);
      return view;
    }
    progress.update(`${what}: ${state}`);
    await sleep(Math.min(ev.options.intervalMs, Math.max(0, deadline - ctx.now().getTime())));
  }
}

async function askPerson(ctx: WalkContext, names: string, drainedAt: Date, view?: EvidenceView): Promise<Confirmation> {
  const weightZero = await ctx.ui.confirm(`Does the CLB show weight 0 for ${names} on every listener?`);
  if (!weightZero) throw new GateError(`not confirmed: the weight of ${names} is not 0 yet; nothing was deleted. Run the same command again to re-check`);
  const connectionsDrained = await ctx.ui.confirm(`Have the connections to ${names} drained to 0?`);
  if (!connectionsDrained) throw new GateError(`not confirmed: connections to ${names} have not drained; nothing was deleted. Run the same command again to re-check`);
  return stamp(ctx, drainedAt, { weightZero, connectionsDrained, how: ctx.ui.yes ? 'yes' : 'prompt' }, view);
}

function stamp(ctx: WalkContext, drainedAt: Date, c: Pick<Confirmation, 'weightZero' | 'connectionsDrained' | 'how'>, view?: EvidenceView): Confirmation {
  const at = ctx.now();
  return { by: ctx.who, at: at.toISOString(), ...c, afterSeconds: Math.round((at.getTime() - drainedAt.getTime()) / 1000), ...(view ? { evidence: ctx.evidence.summary(view) } : {}) };
}

/** Unattended: proceed on the evidence alone, or stop (or, if asked, force) when --drain-timeout runs out. */
async function confirmOnEvidence(ctx: WalkContext, record: UpgradeRecord, pods: PodSnapshot[], ordinals: number[], drainedAt: Date): Promise<Confirmation> {
  const o = ctx.evidence.options;
  const names = podNames(record, ordinals);
  // The timeout counts from the start of this wait: a run started again after a timeout waits again.
  const deadline = ctx.now().getTime() + o.drainTimeoutMs;
  const minDrainEnd = drainedAt.getTime() + ctx.minDrainMs;
  const view = await pollEvidence(ctx, record, pods, ordinals, drainedAt, `waiting for the drain evidence of ${names}`, (v) => allDrained(v) && ctx.now().getTime() >= minDrainEnd, deadline);
  await showEvidence(ctx, view);
  if (allDrained(view)) {
    await waitMinDrain(ctx, drainedAt);
    ctx.ui.info(`${names}: drained on the evidence (--require-evidence)`);
    return stamp(ctx, drainedAt, { weightZero: true, connectionsDrained: true, how: 'evidence' }, view);
  }
  const weightZero = allWeightsZero(view);
  const why = view.verdicts.filter((v) => v.verdict.state !== 'drained').map((v) => `${v.pod} ${v.verdict.state}: ${v.verdict.reasons.join('; ')}`).join('; ');
  if (o.forceAfterTimeout && weightZero) {
    ctx.ui.warn(`--drain-timeout (${formatDuration(o.drainTimeoutMs)}) passed without the evidence saying drained (${why}); proceeding because of --force-after-timeout`);
    return stamp(ctx, drainedAt, { weightZero: true, connectionsDrained: false, how: 'forced-after-timeout' }, view);
  }
  const force = o.forceAfterTimeout
    ? ' --force-after-timeout does not apply: the CLB does not read weight 0 on every listener'
    : ' To delete anyway once the weight reads 0, pass --force-after-timeout';
  throw new GateError(
    `the drain of ${names} was not confirmed by the evidence within --drain-timeout (${formatDuration(o.drainTimeoutMs)}): ${why}. ` +
      `Nothing was deleted; the pods stay drained. Run the same command again to keep waiting.${force}`,
  );
}

/** Interactive with evidence: live weights until they read 0, then the table, then a choice. */
async function confirmWithEvidence(ctx: WalkContext, record: UpgradeRecord, pods: PodSnapshot[], ordinals: number[], drainedAt: Date): Promise<Confirmation> {
  const names = podNames(record, ordinals);
  const o = ctx.evidence.options;
  let view = await pollEvidence(ctx, record, pods, ordinals, drainedAt, `reading CLB weights of ${names}`, noWeightAboveZero, ctx.now().getTime() + o.drainTimeoutMs);
  for (;;) {
    await showEvidence(ctx, view);
    const drained = allDrained(view);
    type Choice = 'confirm' | 'refresh' | 'stop';
    const choices: { value: Choice; name: string }[] = [
      ...(drained ? [{ value: 'confirm' as const, name: 'Drained: go on to confirm' }] : []),
      { value: 'refresh', name: `Read the evidence again in ${formatDuration(o.intervalMs)}` },
      ...(!drained && !o.requireEvidence ? [{ value: 'confirm' as const, name: 'I have checked myself: go on to confirm anyway' }] : []),
      { value: 'stop', name: 'Stop here (nothing is deleted; the pods stay drained)' },
    ];
    const choice = await ctx.ui.choose(drained ? `The evidence says ${names} drained.` : `The evidence does not say ${names} drained yet.`, choices, 'refresh');
    if (choice === 'stop') throw new GateError(`stopped before deleting ${names}; nothing was deleted and they stay drained. Run the same command again to continue`);
    if (choice === 'confirm') return askPerson(ctx, names, drainedAt, view);
    await sleep(o.intervalMs);
    view = await ctx.evidence.read(ctx.cluster, record, pods, ordinals, drainedAt, ctx.now().getTime());
  }
}

export async function confirmDrain(ctx: WalkContext, record: UpgradeRecord, pods: PodSnapshot[], ordinals: number[], drainedAtIso: string): Promise<Confirmation> {
  const drainedAt = new Date(drainedAtIso);
  const ev = ctx.evidence;
  if (ev.cloud && ctx.ui.yes && ev.options.requireEvidence) {
    ctx.ui.info(ev.describeOn());
    return confirmOnEvidence(ctx, record, pods, ordinals, drainedAt);
  }
  await waitMinDrain(ctx, drainedAt);
  await describeDrain(ctx, record, pods, ordinals, drainedAt);
  const names = podNames(record, ordinals);
  if (!ev.cloud) {
    ctx.ui.info(`  ${ev.describeOff()}; ${EVIDENCE_HOWTO}`);
    ctx.ui.info('  Check in the CLB console (the CLB above > Listeners > backend services) that each IP shows weight 0,');
    ctx.ui.info('  then in CLB monitoring (filter by listener and backend) that its connections have fallen to 0.');
    const { events } = await serviceControllerEvents(ctx.cluster, record, drainedAt);
    if (events.length === 0) ctx.ui.info('  no service controller events since the drain yet');
    for (const e of events) ctx.ui.info(`  ${e}`);
    return askPerson(ctx, names, drainedAt);
  }
  ctx.ui.info(ev.describeOn());
  if (ctx.ui.yes) {
    // --yes without --require-evidence keeps its meaning (--min-drain stands for the connections),
    // but it never deletes while the CLB reads a weight above 0 for a drained pod.
    const view = await pollEvidence(ctx, record, pods, ordinals, drainedAt, `reading CLB weights of ${names}`, noWeightAboveZero, ctx.now().getTime() + ev.options.drainTimeoutMs);
    await showEvidence(ctx, view);
    if (!noWeightAboveZero(view)) {
      throw new GateError(`the CLB still gives ${names} a weight above 0 after --drain-timeout (${formatDuration(ev.options.drainTimeoutMs)}); nothing was deleted and they stay drained. Check the service controller's events, then run the same command again`);
    }
    return askPerson(ctx, names, drainedAt, view);
  }
  return confirmWithEvidence(ctx, record, pods, ordinals, drainedAt);
}
