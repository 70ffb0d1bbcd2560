// How TKE's service controller turns `service.cloud.tencent.com/lb-rs-weight` into CLB backend
// weights, as documented (see docs/simulator.md). Written apart from the plugin's own annotation
// code on purpose: the simulator is the independent referee of what the plugin writes.

import type { Termination } from './backends.js';

export const RS_WEIGHT = 'service.cloud.tencent.com/lb-rs-weight';
export const DEFAULT_WEIGHT = 10;

export interface ServicePortSpec {
  name?: string;
  protocol: string;
  port: number;
  targetPort: number | string;
}

export interface SimPod {
  name: string;
  namespace: string;
  uid: string;
  ip?: string;
  labels: Record<string, string>;
  /** Name of the controlling StatefulSet, if any. */
  statefulSet?: string;
  ordinal?: number;
  deleting: boolean;
  ports: { name?: string; containerPort: number; protocol: string }[];
  image: string;
  terminationGracePeriodSeconds: number;
  /** How the pod's application takes SIGTERM. */
  termination: Termination;
}

export interface DesiredTarget {
  pod: string;
  uid: string;
  ip: string;
  port: number;
  weight: number;
}

export interface DesiredListener {
  protocol: string;
  port: number;
  targets: DesiredTarget[];
}

interface WeightConfig {
  defaultWeight: number;
  groups: { proto: string; port: number; statefulSets: { name: string; weights: { weight: number; podIndexes: number[] }[] }[] }[];
}

const isInt = (v: unknown, min: number, max: number) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** Parses the annotation strictly; throws an Error whose message the Warning Event carries. */
export function parseWeightConfig(text: string): WeightConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`lb-rs-weight is not valid JSON: ${(e as Error).message}`);
  }
  const fail = (what: string): never => {
    throw new Error(`lb-rs-weight: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be a JSON object');
  const obj = raw as Record<string, unknown>;
  if (obj.defaultWeight !== undefined && !isInt(obj.defaultWeight, 0, 100)) fail('defaultWeight must be an integer from 0 to 100');
  if (obj.groups !== undefined && !Array.isArray(obj.groups)) fail('groups must be an array');
  const groups = ((obj.groups as unknown[]) ?? []).map((g, i) => {
    const group = g as Record<string, unknown>;
    const key = group?.key as Record<string, unknown> | undefined;
    if (!key || typeof key.proto !== 'string' || !isInt(key.port, 1, 65535)) fail(`groups[${i}].key needs proto (string) and port (1-65535)`);
    if (group.statefulSets !== undefined && !Array.isArray(group.statefulSets)) fail(`groups[${i}].statefulSets must be an array`);
    const statefulSets = ((group.statefulSets as unknown[]) ?? []).map((s, j) => {
      const sts = s as Record<string, unknown>;
      if (typeof sts?.name !== 'string' || sts.name === '') fail(`groups[${i}].statefulSets[${j}].name must be a non-empty string`);
      if (!Array.isArray(sts.weights)) fail(`groups[${i}].statefulSets[${j}].weights must be an array`);
      const weights = (sts.weights as unknown[]).map((w, k) => {
        const entry = w as Record<string, unknown>;
        const where = `groups[${i}].statefulSets[${j}].weights[${k}]`;
        if (!isInt(entry?.weight, 0, 100)) fail(`${where}.weight must be an integer from 0 to 100`);
        if (!Array.isArray(entry.podIndexes) || !entry.podIndexes.every((x) => isInt(x, 0, 1e9))) fail(`${where}.podIndexes must be an array of ordinals`);
        return { weight: entry.weight as number, podIndexes: entry.podIndexes as number[] };
      });
      return { name: sts.name as string, weights };
    });
    return { proto: (key!.proto as string).toUpperCase(), port: key!.port as number, statefulSets };
  });
  return { defaultWeight: (obj.defaultWeight as number | undefined) ?? DEFAULT_WEIGHT, groups };
}

function backendPort(pod: SimPod, port: ServicePortSpec): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  if (/^\d+$/.test(port.targetPort)) return Number(port.targetPort);
  return pod.ports.find((p) => p.name === port.targetPort && p.protocol === port.protocol)?.containerPort;
}

/**
 * The listeners and target weights the CLB should end up with for one direct-access Service:
 * one listener per Service port, a target per selected pod with an IP; unlisted pods get
 * defaultWeight (10 without the annotation); a terminating pod gets 0.
 */
export function desiredListeners(ports: ServicePortSpec[], pods: SimPod[], annotation: string | undefined): DesiredListener[] {
  const config = annotation === undefined ? { defaultWeight: DEFAULT_WEIGHT, groups: [] } : parseWeightConfig(annotation);
  return ports.map((sp) => {
    const group = config.groups.find((g) => g.proto === sp.protocol.toUpperCase() && g.port === sp.port);
    const targets: DesiredTarget[] = [];
    for (const pod of pods) {
      const port = backendPort(pod, sp);
      if (!pod.ip || port === undefined) continue;
      let weight = config.defaultWeight;
      const entry = group?.statefulSets.find((s) => s.name === pod.statefulSet);
      const listed = pod.ordinal === undefined ? undefined : entry?.weights.find((w) => w.podIndexes.includes(pod.ordinal!));
      if (listed) weight = listed.weight;
      if (pod.deleting) weight = 0;
      targets.push({ pod: pod.name, uid: pod.uid, ip: pod.ip, port, weight });
    }
    targets.sort((a, b) => a.pod.localeCompare(b.pod, 'en', { numeric: true }));
    return { protocol: sp.protocol.toUpperCase(), port: sp.port, targets };
  });
}
