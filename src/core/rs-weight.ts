// The lb-rs-weight annotation as the plugin writes it. The one rule: the value a Service carries at
// any moment of an upgrade is a pure function of its value before the upgrade and the set of
// ordinals drained right now. Draining, restoring and resuming are all this one computation.

export const RS_WEIGHT_ANNOTATION = 'service.cloud.tencent.com/lb-rs-weight';
export const TKE_DEFAULT_WEIGHT = 10;

export interface PortKey {
  proto: string;
  port: number;
}

interface WeightEntry {
  weight: number;
  podIndexes: number[];
  [k: string]: unknown;
}
interface StatefulSetEntry {
  name: string;
  weights: WeightEntry[];
  [k: string]: unknown;
}
interface Group {
  key: PortKey & Record<string, unknown>;
  statefulSets?: StatefulSetEntry[];
  [k: string]: unknown;
}
export interface RsWeight {
  defaultWeight?: number;
  groups?: Group[];
  [k: string]: unknown;
}

export class RsWeightError extends Error {}

const isInt = (v: unknown, min: number, max: number) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

/** Parses and checks an existing value; the message says where it is wrong. */
export function parseRsWeight(text: string): RsWeight {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new RsWeightError(`not valid JSON (${(e as Error).message})`);
  }
  const fail = (msg: string): never => {
    throw new RsWeightError(msg);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be a JSON object');
  const v = raw as RsWeight;
  if (v.defaultWeight !== undefined && !isInt(v.defaultWeight, 0, 100)) fail('defaultWeight must be an integer from 0 to 100');
  if (v.groups !== undefined && !Array.isArray(v.groups)) fail('groups must be an array');
  (v.groups ?? []).forEach((g, i) => {
    if (typeof g !== 'object' || g === null) fail(`groups[${i}] must be an object`);
    if (typeof g.key?.proto !== 'string' || !isInt(g.key?.port, 1, 65535)) fail(`groups[${i}].key needs "proto" (a string) and "port" (1-65535)`);
    if (g.statefulSets !== undefined && !Array.isArray(g.statefulSets)) fail(`groups[${i}].statefulSets must be an array`);
    (g.statefulSets ?? []).forEach((s, j) => {
      const at = `groups[${i}].statefulSets[${j}]`;
      if (typeof s?.name !== 'string' || s.name === '') fail(`${at}.name must be a non-empty string`);
      if (!Array.isArray(s.weights)) fail(`${at}.weights must be an array`);
      s.weights.forEach((w, k) => {
        if (!isInt(w?.weight, 0, 100)) fail(`${at}.weights[${k}].weight must be an integer from 0 to 100`);
        if (!Array.isArray(w.podIndexes) || !w.podIndexes.every((x) => isInt(x, 0, 1e9))) fail(`${at}.weights[${k}].podIndexes must be a list of ordinals`);
      });
    });
  });
  return v;
}

const sameKey = (g: Group, k: PortKey) => g.key.proto.toUpperCase() === k.proto.toUpperCase() && g.key.port === k.port;

/**
 * The annotation value for a Service while `drained` ordinals of `statefulSet` are drained:
 * `original` itself (byte for byte, or no annotation) when nothing is drained; otherwise the
 * original with weight 0 for those ordinals in one group per Service port, other StatefulSets'
 * entries and other groups untouched, defaultWeight kept (10 when absent).
 */
export function annotationFor(original: string | undefined, statefulSet: string, ports: PortKey[], drained: number[]): string | undefined {
  if (drained.length === 0) return original;
  const value: RsWeight = original === undefined ? {} : structuredClone(parseRsWeight(original));
  const ordinals = [...new Set(drained)].sort((a, b) => a - b);
  const out: RsWeight = { defaultWeight: value.defaultWeight ?? TKE_DEFAULT_WEIGHT, ...value };
  out.groups = [...(value.groups ?? [])];
  for (const key of ports) {
    let group = out.groups.find((g) => sameKey(g, key));
    if (!group) {
      group = { key: { proto: key.proto.toUpperCase(), port: key.port }, statefulSets: [] };
      out.groups.push(group);
    }
    group.statefulSets = [...(group.statefulSets ?? [])];
    let entry = group.statefulSets.find((s) => s.name === statefulSet);
    if (!entry) {
      entry = { name: statefulSet, weights: [] };
      group.statefulSets.push(entry);
    }
    // Drained ordinals leave any weight they had; everything else keeps its weight.
    entry.weights = entry.weights
      .map((w) => ({ ...w, podIndexes: w.podIndexes.filter((i) => !ordinals.includes(i)) }))
      .filter((w) => w.podIndexes.length > 0);
    entry.weights.push({ weight: 0, podIndexes: ordinals });
  }
  return JSON.stringify(out);
}

/** The weight an annotation gives to ordinal `ordinal` of `statefulSet` on one Service port. */
export function weightOf(annotation: string | undefined, statefulSet: string, key: PortKey, ordinal: number): number {
  if (annotation === undefined) return TKE_DEFAULT_WEIGHT;
  const v = parseRsWeight(annotation);
  const entry = v.groups?.find((g) => sameKey(g, key))?.statefulSets?.find((s) => s.name === statefulSet);
  const listed = entry?.weights.find((w) => w.podIndexes.includes(ordinal));
  return listed ? listed.weight : (v.defaultWeight ?? TKE_DEFAULT_WEIGHT);
}
