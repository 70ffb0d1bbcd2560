// Undo of a finished upgrade: which revision to walk back to, read from the upgrade history, and
// the checks before anything changes. The walk itself is a `start` to that revision's template,
// then the same drain, confirm, rebuild and restore loop as every upgrade.
import { GateError, UsageError } from '../core/errors.js';
import type { HistoryEntry } from '../core/history.js';
import { revisionImages, templateChanges } from '../core/template.js';
import { settledRevision, type ContainerImage, type PodSnapshot } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';
import { readHistory } from './history.js';

export interface UndoTarget {
  /** The ControllerRevision to go back to, and its patch (its template). */
  revision: string;
  patch: Record<string, unknown>;
  images: ContainerImage[];
  /** The history number of the upgrade walked back, when the history knows which one brought the StatefulSet here. */
  undoOf?: number;
  /** What the operator is shown before being asked. */
  summary: string[];
  /** The pods as read for the checks (the evidence's region comes from their nodes). */
  pods: PodSnapshot[];
}

const imagesText = (images: ContainerImage[]) => images.map((c) => `${c.name}=${c.image}`).join(', ');

/**
 * The revision before the last finished upgrade, or `toRevision` (a revision name from the history,
 * or its hash): refused when the StatefulSet is not settled on one revision, when it moved since
 * that upgrade (someone changed the template: say where to go), or when it is there already.
 */
export async function undoTarget(cluster: Cluster, name: string, toRevision?: string): Promise<UndoTarget> {
  const [{ entries: history }, { sts, pods }] = await Promise.all([readHistory(cluster, name), cluster.readStatefulSetWithPods(name)]);
  const settled = settledRevision(sts, pods);
  if ('problem' in settled) throw new GateError(`statefulset "${name}" is not settled: ${settled.problem}. Every replica must be Running and Ready on one revision before it is walked back`);
  if (sts.updateRevision && sts.updateRevision !== settled.revision) {
    throw new GateError(`statefulset "${name}" has a template change no pod runs yet (revision ${sts.updateRevision}); walking back would discard it unseen. Walk it with kubectl zerolossupgrade start ${name}, or revert it first`);
  }
  const finished = history.filter((e): e is HistoryEntry & { toRevision: string } => e.outcome === 'finished' && e.toRevision !== undefined);
  const here = finished.filter((e) => e.toRevision === settled.revision).at(-1);
  let target: string;
  if (toRevision === undefined) {
    const last = finished.at(-1);
    if (!last) throw new GateError(`no finished upgrade of statefulset "${name}" is on record (kubectl zerolossupgrade history ${name}); walk to an image with: kubectl zerolossupgrade start ${name} --image CONTAINER=IMAGE`);
    if (last.toRevision !== settled.revision) {
      throw new GateError(
        `statefulset "${name}" runs revision ${settled.revision}, not ${last.toRevision} where upgrade ${last.number} left it: its template changed since. ` +
          `Name the revision to walk to with --to-revision (kubectl zerolossupgrade history ${name} lists them)`,
      );
    }
    target = last.fromRevision;
  } else {
    const known = [...new Set(history.flatMap((e) => [e.fromRevision, e.toRevision ?? '']).filter((r) => r !== ''))];
    const matches = known.filter((r) => r === toRevision || r.endsWith(`-${toRevision}`));
    if (matches.length !== 1) {
      throw new UsageError(`--to-revision "${toRevision}" ${matches.length === 0 ? 'is not a revision in the history' : 'matches more than one revision'} of statefulset "${name}"${known.length ? ` (it has: ${known.join(', ')})` : ''}`);
    }
    target = matches[0]!;
  }
  if (target === settled.revision) throw new UsageError(`every pod of statefulset "${name}" is on revision ${target} already; nothing to walk back`);
  let patch: Record<string, unknown>;
  try {
    patch = await cluster.revisionPatch(target);
  } catch (e) {
    if ((e as { status?: number }).status !== 404) throw e;
    throw new GateError(`the ControllerRevision ${target} is gone (spec.revisionHistoryLimit keeps only the latest); walk to its images with: kubectl zerolossupgrade start ${name} --image CONTAINER=IMAGE`);
  }
  const images = revisionImages(patch);
  const changes = templateChanges(await cluster.revisionPatch(settled.revision), patch);
  const summary = [
    `Walking statefulset "${name}" back to revision ${target}${here ? `, from before upgrade ${here.number}` : ''}:`,
    `  from revision ${settled.revision}: ${imagesText(sts.containers)}`,
    `  to revision ${target}: ${imagesText(images)}`,
    ...(changes.length ? ['  template changes:', ...changes.map((c) => `    ${c}`)] : []),
    '  every pod walks back one batch at a time (drain, confirm, rebuild, restore); end it with finish, as every upgrade',
  ];
  return { revision: target, patch, images, ...(here ? { undoOf: here.number } : {}), summary, pods };
}
