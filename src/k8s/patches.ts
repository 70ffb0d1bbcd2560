// The exact request bodies the plugin sends, built in one place: the Kubernetes layer sends them,
// --dry-run prints them. No client code here.
import type { StatefulSetChange } from './types.js';

/**
 * A strategic-merge patch of the StatefulSet. resourceVersion in a patch makes it conditional: the
 * server refuses it (409) if the object moved since it was read.
 */
export function statefulSetPatch(resourceVersion: string, change: StatefulSetChange): Record<string, unknown> {
  // A revision's own patch (rollback) first; our metadata and fields on top.
  const body: Record<string, unknown> = { ...change.revisionPatch, metadata: { resourceVersion, ...(change.annotations ? { annotations: change.annotations } : {}) } };
  // The revision's spec.template and our spec.replicas go in one spec (an undo with surge has both).
  const spec: Record<string, unknown> = { ...((change.revisionPatch?.spec as Record<string, unknown> | undefined) ?? {}) };
  if (change.replicas !== undefined) spec.replicas = change.replicas;
  if (change.images) spec.template = { spec: { containers: change.images.map((c) => ({ name: c.name, image: c.image })) } };
  if (Object.keys(spec).length > 0) body.spec = spec;
  return body;
}

/** A merge patch setting (or with undefined removing) one annotation, conditional on resourceVersion. */
export function annotationPatch(resourceVersion: string, key: string, value: string | undefined): Record<string, unknown> {
  return { metadata: { resourceVersion, annotations: { [key]: value ?? null } } };
}
