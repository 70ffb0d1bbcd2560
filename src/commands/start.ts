import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { parseDuration } from '../core/duration.js';
import { GateError, UsageError } from '../core/errors.js';
import { toStatusView } from '../core/status-view.js';
import { RS_WEIGHT_ANNOTATION, parseRsWeight, RsWeightError } from '../core/rs-weight.js';
import { RECORD_ANNOTATION, decodeRecord, planBatches, surgeOrdinals, type UpgradeRecord } from '../core/upgrade.js';
import { revisionState, selectsPods, type ContainerImage, type ServiceSnapshot } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { session, type Deps, type GlobalArgs } from './common.js';
import { printPlan, stsPatchStep } from './dry-run.js';
import { withLock } from './lock.js';
import { audit, isRebuilt, observed, saveRecord } from './walk.js';

export const DIRECT_ACCESS_ANNOTATION = 'service.cloud.tencent.com/direct-access';

export interface StartArgs extends GlobalArgs {
  statefulset: string;
  image?: string[];
  batch: number;
  surge?: number;
  service?: string[];
  force: boolean;
  timeout: string;
  'force-unlock': boolean;
  'dry-run': boolean;
}

export interface StartOptions {
  name: string;
  images: ContainerImage[];
  batch: number;
  surge: number;
  services: string[];
  force: boolean;
  timeoutMs: number;
  forceUnlock: boolean;
  dryRun: boolean;
}

// A container image reference: [registry[:port]/]path[:tag][@digest], lower-case path components.
const IMAGE_REF = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export function validateStartOptions(a: Pick<StartArgs, 'statefulset' | 'image' | 'batch' | 'surge' | 'service' | 'force' | 'timeout'> & { 'force-unlock'?: boolean; 'dry-run'?: boolean }): StartOptions {
  const images = (a.image ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--image "${pair}": use CONTAINER=IMAGE, e.g. --image nginx=nginx:1.25.4`);
    const image = pair.slice(eq + 1);
    if (!IMAGE_REF.test(image)) throw new UsageError(`--image "${pair}": "${image}" is not a valid image reference`);
    return { name: pair.slice(0, eq), image };
  });
  if (new Set(images.map((i) => i.name)).size !== images.length) throw new UsageError('--image names a container twice');
  if (!Number.isInteger(a.batch) || a.batch < 1) throw new UsageError(`--batch must be a whole number of at least 1 (got ${a.batch})`);
  const surge = a.surge ?? a.batch;
  if (!Number.isInteger(surge) || surge < 0) throw new UsageError(`--surge must be a whole number of at least 0 (got ${a.surge})`);
  return { name: a.statefulset, images, batch: a.batch, surge, services: a.service ?? [], force: a.force, timeoutMs: parseDuration('timeout', a.timeout), forceUnlock: a['force-unlock'] ?? false, dryRun: a['dry-run'] ?? false };
}

/** The Services whose lb-rs-weight the walk manages: the direct-access LoadBalancers selecting the pods. */
export function pickServices(all: ServiceSnapshot[], podLabels: Record<string, string>, named: string[], stsName: string): ServiceSnapshot[] {
  let services: ServiceSnapshot[];
  if (named.length > 0) {
    services = named.map((n) => {
      const s = all.find((x) => x.name === n);
      if (!s) throw new GateError(`service "${n}" (--service) is not a LoadBalancer Service in this namespace`);
      if (!selectsPods(s, podLabels)) throw new GateError(`service "${n}" does not select the pods of statefulset "${stsName}"`);
      return s;
    });
  } else {
    services = all.filter((s) => selectsPods(s, podLabels));
    if (services.length === 0) {
      throw new GateError(`no LoadBalancer Service selects the pods of statefulset "${stsName}"; create one with ${DIRECT_ACCESS_ANNOTATION}: "true", or name it with --service`);
    }
  }
  for (const s of services) {
    if (s.annotations[DIRECT_ACCESS_ANNOTATION] !== 'true') {
      throw new GateError(`service "${s.name}" is not in CLB direct-to-pod mode: lb-rs-weight only acts on direct access. Set the annotation ${DIRECT_ACCESS_ANNOTATION}: "true" first`);
    }
    const value = s.annotations[RS_WEIGHT_ANNOTATION];
    if (value !== undefined) {
      try {
        parseRsWeight(value);
      } catch (e) {
        if (e instanceof RsWeightError) throw new GateError(`service "${s.name}" has a malformed ${RS_WEIGHT_ANNOTATION} annotation: ${e.message}. Fix or remove it first`);
        throw e;
      }
    }
  }
  return services;
}

export async function runStart(o: StartOptions, cluster: Cluster, ui: Ui, now = () => new Date()): Promise<void> {
  const who = await cluster.whoAmI();
  if (o.dryRun) return startUnderLock(o, cluster, ui, now, who); // reads only: no lock
  await withLock(cluster, ui, o.name, who, o.forceUnlock, () => startUnderLock(o, cluster, ui, now, who));
}

/**
 * The patch is conditional on the StatefulSet read by the preflight. When it moved meanwhile (its
 * controller writes status as pods change), nothing was changed: check everything again and retry.
 */
async function startUnderLock(o: StartOptions, cluster: Cluster, ui: Ui, now: () => Date, who: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await preflightAndStart(o, cluster, ui, now, who);
    } catch (e) {
      if ((e as { status?: number }).status !== 409 || attempt >= 5) throw e;
    }
  }
}

async function preflightAndStart(o: StartOptions, cluster: Cluster, ui: Ui, now: () => Date, who: string): Promise<void> {
  // Preflight: everything read-only, all of it before any change.
  const { sts, pods } = await cluster.readStatefulSetWithPods(o.name);
  if (sts.updateStrategy !== 'OnDelete') {
    throw new GateError(`statefulset "${o.name}" has updateStrategy ${sts.updateStrategy}: its controller would replace pods itself. Set spec.updateStrategy.type to OnDelete first`);
  }
  const existing = sts.annotations[RECORD_ANNOTATION];
  if (existing) {
    const record = decodeRecord(existing);
    const same = o.images.every((i) => record.targetImages.some((t) => t.name === i.name && t.image === i.image));
    // Run again after a crash, `start` picks up its own unfinished work; anything else is refused.
    if (same && record.batches.every((b) => b.phase === 'pending') && !record.finish) return waitForSurge(o, cluster, ui, record);
    throw new GateError(`an upgrade is already recorded on statefulset "${o.name}"; continue it with: kubectl zerolossupgrade next ${o.name}`);
  }
  for (const i of o.images) {
    if (!sts.containers.some((c) => c.name === i.name)) {
      throw new GateError(`statefulset "${o.name}" has no container "${i.name}" (it has: ${sts.containers.map((c) => c.name).join(', ')})`);
    }
  }
  const adopting = o.images.length === 0;
  if (adopting && sts.currentRevision === sts.updateRevision) {
    throw new UsageError(`statefulset "${o.name}" has no pending template change; say what to upgrade with --image CONTAINER=IMAGE`);
  }
  const expected = Array.from({ length: sts.replicas }, (_, i) => sts.ordinalsStart + i);
  const notReady = expected.filter((ord) => {
    const p = pods.find((x) => x.ordinal === ord);
    return !p || !p.ready || p.deleting || revisionState({ currentRevision: sts.currentRevision, updateRevision: sts.currentRevision }, p) !== 'new';
  });
  if (notReady.length > 0 || pods.length !== sts.replicas) {
    throw new GateError(`statefulset "${o.name}" is not settled: every replica must be Ready at the current revision ${sts.currentRevision} (check ordinals ${notReady.join(', ') || 'beyond the replica count'})`);
  }
  const services = pickServices(await cluster.listLoadBalancerServices(), sts.podLabels, o.services, o.name);
  const hpas = await cluster.autoscalersOf(o.name);
  if (hpas.length > 0 && !o.force) {
    throw new GateError(`horizontalpodautoscaler ${hpas.join(', ')} scales statefulset "${o.name}" and would fight the surge; pause it, or pass --force`);
  }
  if (hpas.length > 0) ui.warn(`horizontalpodautoscaler ${hpas.join(', ')} scales this StatefulSet (--force)`);

  const originalImages = pods[0]!.containers;
  const targetImages = sts.containers.map((c) => o.images.find((i) => i.name === c.name) ?? c);
  const record: UpgradeRecord = {
    version: 1,
    statefulSet: o.name,
    startedAt: now().toISOString(),
    startedBy: who,
    originalReplicas: sts.replicas,
    ordinalsStart: sts.ordinalsStart,
    surge: o.surge,
    batchSize: o.batch,
    originalRevision: sts.currentRevision!,
    originalImages,
    targetImages,
    services: services.map((s) => ({
      name: s.name,
      ports: s.ports.map((p) => ({ proto: p.protocol.toUpperCase(), port: p.port })),
      original: s.annotations[RS_WEIGHT_ANNOTATION] ?? null,
    })),
    batches: planBatches(sts.ordinalsStart, sts.replicas, o.batch),
  };
  // One conditional patch: the record, the new images and the surge land together or not at all.
  const change = {
    annotations: { [RECORD_ANNOTATION]: JSON.stringify(record) },
    ...(adopting ? {} : { images: o.images }),
    ...(o.surge > 0 ? { replicas: sts.replicas + o.surge } : {}),
  };
  if (o.dryRun) {
    printPlan(ui, [stsPatchStep(o.name, sts.resourceVersion, change), { request: `wait until surge pods ${surgeOrdinals(record).map((s) => `${o.name}-${s}`).join(', ') || '(none)'} are Running and Ready at the new revision` }]);
    return;
  }
  await cluster.patchStatefulSet(o.name, sts.resourceVersion, change);
  const summary = `${record.batches.length} batches of up to ${o.batch}, surge ${o.surge}; target ${targetImages.map((c) => `${c.name}=${c.image}`).join(', ')}`;
  ui.info(`recorded the upgrade of statefulset "${o.name}": ${summary}`);
  await audit({ cluster, ui }, sts, 'UpgradeStarted', `by ${who}: ${summary}`);

  await waitForSurge(o, cluster, ui, record);
}

/** Records the update revision once the controller has it, then waits for the surge pods. */
async function waitForSurge(o: StartOptions, cluster: Cluster, ui: Ui, record: UpgradeRecord): Promise<void> {
  const seen = await observed(cluster, o.name, 30_000);
  const withTarget: UpgradeRecord = { ...record, targetRevision: seen.sts.updateRevision };
  const current = record.targetRevision === seen.sts.updateRevision ? seen.sts : await saveRecord(cluster, seen.sts, withTarget);
  const surge = surgeOrdinals(withTarget);
  if (surge.length > 0) {
    const names = surge.map((s) => `${o.name}-${s}`).join(', ');
    const progress = ui.progress(`waiting for surge pods ${names} to be Running and Ready at the new revision`);
    try {
      await cluster.waitForPods(current, (ps) => surge.every((s) => isRebuilt(current, withTarget, ps.find((p) => p.ordinal === s))), o.timeoutMs);
    } catch (e) {
      progress.done('surge pods not ready');
      if (e instanceof GateError) {
        throw new GateError(`surge pods did not become Ready within --timeout; the upgrade is recorded. Look at them, then run the same command again, or: kubectl zerolossupgrade next ${o.name}`);
      }
      throw e;
    }
    progress.done(`surge pods ${names} are Running and Ready`);
  }
  const after = await cluster.readStatefulSetWithPods(o.name);
  const { renderStatusTable } = await import('../ui/render.js');
  ui.result(renderStatusTable(toStatusView(after.sts, after.pods), ui.style));
  ui.result(`upgrade of statefulset "${o.name}" started; next: kubectl zerolossupgrade next ${o.name} -n ${cluster.namespace}`);
}

export function walkOptions<T>(y: Argv<T>) {
  return y
    .option('timeout', { type: 'string', default: '5m', describe: 'How long to wait for pods to become Ready' })
    .option('force-unlock', { type: 'boolean', default: false, describe: "Take the StatefulSet's operator lock from another session (only if it is gone)" })
    .option('dry-run', { type: 'boolean', default: false, describe: 'Print the exact patches and deletions, in order, and change nothing' });
}

export const startCommand = (deps: Deps): CommandModule<GlobalArgs, StartArgs> => ({
  command: 'start <statefulset>',
  describe: 'Set the new image, add surge pods and record the upgrade (changes nothing if a check fails)',
  builder: (y) =>
    walkOptions(y)
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet (updateStrategy OnDelete)' })
      .option('image', { type: 'string', array: true, describe: 'CONTAINER=IMAGE; repeat for several containers. Without it, adopt a template already changed (e.g. by helm)' })
      .option('batch', { type: 'number', default: 1, describe: 'Pods drained and rebuilt together' })
      .option('surge', { type: 'number', describe: 'Extra replicas during the upgrade (default: --batch)' })
      .option('service', { type: 'string', array: true, describe: 'The LoadBalancer Service(s) to drain through (default: all that select the pods)' })
      .option('force', { type: 'boolean', default: false, describe: 'Start even though an HPA scales the StatefulSet' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask (scripted use)' })
      .example('kubectl zerolossupgrade start nginx --image nginx=nginx:1.25.4', 'One pod at a time, one surge pod')
      .example('kubectl zerolossupgrade start gateway -n prod --image gw=registry/gw:2.1 --batch 3', 'Three pods per batch, three surge pods') as Argv<StartArgs>,
  handler: async (args: ArgumentsCamelCase<StartArgs>) => {
    const options = validateStartOptions(args);
    const { ui, cluster } = session(args, deps);
    await runStart(options, await cluster(), ui);
  },
});
