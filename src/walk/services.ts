// The walk's view of the Services: found live before every drain, deletion and scale-down, and
// written from their live value, changing only the plugin's own ordinals.
import { GateError } from '../core/errors.js';
import { RS_WEIGHT_ANNOTATION, mergeWeights, weightOf } from '../core/rs-weight.js';
import { classifyServices, indirectWarning, malformedWeights } from '../core/services.js';
import { drainedOrdinals, reconcileServices, surgeOrdinals, weightChange, type ServiceRecord, type UpgradeRecord } from '../core/upgrade.js';
import type { ServiceSnapshot } from '../core/workload.js';
import { FIELD_MANAGER_NAME } from '../k8s/types.js';
import { podNames, saveRecord, type Upgrade, type WalkContext } from './context.js';

const weights = (s: ServiceSnapshot) => s.annotations[RS_WEIGHT_ANNOTATION];

/**
 * Writes a Service's lb-rs-weight as `compute` makes it from the live value, conditionally on its
 * resourceVersion; a conflict reads it again and recomputes. Returns whether a write landed.
 */
async function writeFromLive(ctx: WalkContext, name: string, current: ServiceSnapshot, compute: (live: string | undefined) => string | undefined): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const desired = compute(weights(current));
    if (desired === weights(current)) return false;
    try {
      await ctx.cluster.setServiceAnnotation(name, current.resourceVersion, RS_WEIGHT_ANNOTATION, desired);
      return true;
    } catch (e) {
      if ((e as { status?: number }).status !== 409 || attempt >= 10) throw e;
      current = await ctx.cluster.readService(name);
    }
  }
}

/**
 * How discovery treats a world that no longer fits the walk. Walking forward it refuses; on the way
 * out (finish, abort) it must not: a direct-access Service left out by --service is drained too, and
 * no Service left at all means there is nothing to drain behind.
 */
export type Discovery = 'walk' | 'exit';

/**
 * Gives back the weights the walk took on a Service, or on some of its ports, that leave the walk
 * (its selector changed, direct access was switched off, a port was removed), so no zero of ours is
 * left behind on it.
 */
async function restoreLeaving(ctx: WalkContext, record: UpgradeRecord, leaving: ServiceRecord[]): Promise<void> {
  const ordinals = drainedOrdinals(record);
  if (ordinals.length === 0) return;
  for (const svc of leaving) {
    let current: ServiceSnapshot;
    try {
      current = await ctx.cluster.readService(svc.name);
    } catch (e) {
      if ((e as { kind?: string }).kind === 'services') continue; // gone: nothing left to restore on it
      throw e;
    }
    const malformed = malformedWeights(current);
    if (malformed) {
      // Someone broke its lb-rs-weight: it leaves the walk anyway, and must not block the way out.
      ctx.ui.warn(`service "${svc.name}" leaves the walk, but its ${RS_WEIGHT_ANNOTATION} cannot be read (${malformed}); give ${podNames(record.statefulSet, ordinals)} their weights back on it by hand`);
      continue;
    }
    await writeFromLive(ctx, svc.name, current, (live) => mergeWeights(live, { ...weightChange(record, svc, ordinals), drain: [] }));
  }
}

/**
 * Reads the LoadBalancer Services that select the pods now and brings the record up to date: a new
 * Service or port joins the walk (its value now counts as "before"), one that leaves gets the
 * weights the walk took back and is dropped. The record is saved before any Service is written, so
 * a crash never leaves a drain it does not know.
 */
export async function discoverServices(ctx: WalkContext, up: Upgrade, mode: Discovery = 'walk'): Promise<{ up: Upgrade; live: ServiceSnapshot[] }> {
  const { cluster, ui } = ctx;
  const { sts, pods, record } = up;
  const classes = classifyServices(await cluster.listLoadBalancerServices(), sts, pods, record.servicesNamed);
  if (classes.excluded.length > 0 && mode === 'exit') {
    for (const s of classes.excluded) ui.warn(`service "${s.name}" (direct access) selects these pods but is not one of --service: it is drained too, so the surge pods leave without losing its traffic`);
    classes.managed.push(...classes.excluded);
  } else if (classes.excluded.length > 0) {
    const names = classes.excluded.map((s) => `"${s.name}"`).join(', ');
    throw new GateError(
      `service ${names} (direct access) also sends traffic to the pods of statefulset "${sts.name}" but is not one of --service (${record.servicesNamed!.join(', ')}): deleting behind it would lose its traffic. Nothing more was done. ` +
        `Abort (kubectl zerolossupgrade abort ${sts.name}) and start again with --service for it too, or remove it from the pods' selector`,
    );
  }
  for (const s of classes.indirect) {
    const key = `indirect ${s.name}`;
    if (ctx.warned.has(key)) continue;
    ctx.warned.add(key);
    ui.warn(indirectWarning(s));
  }
  for (const s of classes.managed) {
    const bad = malformedWeights(s);
    if (bad) throw new GateError(`service "${s.name}" now has a malformed ${RS_WEIGHT_ANNOTATION} annotation: ${bad}. Nothing more was done; fix it, then run the same command again`);
  }
  if (classes.managed.length === 0 && mode === 'walk') {
    throw new GateError(`no direct-access LoadBalancer Service selects the pods of statefulset "${sts.name}" any more; nothing more was done. Put the Service back, or abort`);
  }
  const diff = reconcileServices(record, classes.managed, weights);
  if (diff.record === record) return { up, live: classes.managed };
  // What leaves: whole Services, and ports of Services that stay.
  const leaving: ServiceRecord[] = record.services.flatMap((old) => {
    const now = diff.record.services.find((s) => s.name === old.name);
    if (!now) return [old];
    const ports = old.ports.filter((p) => !now.ports.some((q) => q.proto === p.proto && q.port === p.port));
    return ports.length > 0 ? [{ ...old, ports }] : [];
  });
  await restoreLeaving(ctx, record, leaving);
  for (const name of diff.added) ui.warn(`service "${name}" now selects the pods too: it joins the walk and is drained with the others`);
  for (const port of diff.newPorts) ui.warn(`service port ${port} is new: it joins the walk and is drained with the others`);
  for (const name of diff.removed) ui.warn(`service "${name}" no longer selects the pods (or is gone): it leaves the walk`);
  const saved = await saveRecord(cluster, sts, diff.record);
  return { up: { ...up, sts: saved, record: diff.record }, live: classes.managed };
}

/**
 * Makes every Service carry what the record implies, each computed from its live value and written
 * conditionally on its resourceVersion; a conflict reads it again and recomputes. `restoring` are
 * the ordinals being given back their weights. Returns whether any Service had to change.
 */
export async function syncWeights(ctx: WalkContext, start: Upgrade, restoring: number[] = [], mode: Discovery = 'walk'): Promise<{ up: Upgrade; changed: boolean }> {
  const { up, live } = await discoverServices(ctx, start, mode);
  let changed = false;
  for (const svc of up.record.services) {
    const current = live.find((s) => s.name === svc.name)!;
    if (await writeFromLive(ctx, svc.name, current, (value) => mergeWeights(value, weightChange(up.record, svc, restoring)))) changed = true;
  }
  return { up, changed };
}

/**
 * Where the drain of `ordinals` does not hold right now, on every port of every selecting Service,
 * each with who last wrote the annotation; empty when it holds everywhere.
 */
export async function lostDrains(ctx: WalkContext, start: Upgrade, ordinals: number[], mode: Discovery = 'walk'): Promise<{ up: Upgrade; lost: string[] }> {
  const { up, live } = await discoverServices(ctx, start, mode);
  const lost: string[] = [];
  for (const svc of up.record.services) {
    const current = live.find((s) => s.name === svc.name)!;
    for (const port of svc.ports) {
      const open = ordinals.filter((o) => weightOf(weights(current), up.record.statefulSet, port, o) !== 0);
      if (open.length === 0) continue;
      // The annotation's own writer; when it was removed (no owner left), whoever changed the Service last.
      const owner = current.annotationWriters[RS_WEIGHT_ANNOTATION];
      const writer = owner && owner !== FIELD_MANAGER_NAME ? owner : !owner && current.lastWriter !== FIELD_MANAGER_NAME ? current.lastWriter : undefined;
      const by = writer ? ` (lb-rs-weight last written by ${writer})` : '';
      lost.push(`service "${svc.name}" ${port.proto}/${port.port} gives ${podNames(up.record.statefulSet, open)} a weight above 0${by}`);
    }
  }
  return { up, lost };
}

/**
 * A rollback that stopped a finish leaves the surge pods drained: the first command of the walk to
 * run after it (rollback itself, next, finish, abort) gives them their weights back, then forgets.
 */
export async function restoreStoppedFinish(ctx: WalkContext, start: Upgrade, mode: Discovery = 'walk'): Promise<Upgrade> {
  if (!start.record.surgePrior || start.record.finish) return start;
  const { up } = await syncWeights(ctx, start, surgeOrdinals(start.record), mode);
  const { surgePrior: _, ...record } = up.record;
  return { ...up, sts: await saveRecord(ctx.cluster, up.sts, record), record };
}

/** How often one run drains again after someone undid the drain, before it gives up. */
const MAX_DRAINS_LOST = 3;

/**
 * Counts the drains a run had to apply again. A writer that keeps undoing it (an unpaused GitOps
 * loop) would keep the walk waiting for ever: past the limit the run stops, with nothing deleted.
 */
export function lostDrainCounter(ctx: WalkContext, what: string) {
  let count = 0;
  return (lost: string[]): void => {
    if (++count > MAX_DRAINS_LOST) {
      throw new GateError(`the drain of ${what} was undone ${count} times in this run (${lost.join('; ')}); nothing was deleted. Stop whatever keeps rewriting lb-rs-weight (pause its auto-sync), then run the same command again`);
    }
    reportLostDrain(ctx, lost);
  };
}

/** Says what undid the drain and what to do about it, once per cause. */
function reportLostDrain(ctx: WalkContext, lost: string[]): void {
  ctx.ui.warn(`the drain no longer holds: ${lost.join('; ')}. Draining again; --min-drain and the confirmation start over`);
  if (lost.some((l) => l.includes('last written by')) && !ctx.warned.has('reverted')) {
    ctx.warned.add('reverted');
    ctx.ui.warn('another writer reverted lb-rs-weight: if a GitOps tool (Argo CD, Flux) self-heals this Service, pause its auto-sync for the upgrade');
  }
}
