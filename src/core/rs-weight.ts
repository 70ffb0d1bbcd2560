// The lb-rs-weight annotation. The plugin owns exactly one thing in it: the weights of the ordinals
// it has drained, in its own StatefulSet's entries. Every write is computed from the Service's live
// value: drained ordinals go to weight 0 on every port, ordinals being given back get the weight they
// had before the upgrade (the baseline), and everything else in the value passes through untouched.

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
  const keys = new Set<string>();
  (v.groups ?? []).forEach((g, i) => {
    if (typeof g !== 'object' || g === null) fail(`groups[${i}] must be an object`);
    if (typeof g.key?.proto !== 'string' || !isInt(g.key?.port, 1, 65535)) fail(`groups[${i}].key needs "proto" (a string) and "port" (1-65535)`);
    // Two readings of one port would make "drained" depend on which one TKE takes: refused.
    const key = `${g.key.proto.toUpperCase()}/${g.key.port}`;
    if (keys.has(key)) fail(`groups[${i}] repeats the port ${key}`);
    keys.add(key);
    const names = new Set<string>();
    if (g.statefulSets !== undefined && !Array.isArray(g.statefulSets)) fail(`groups[${i}].statefulSets must be an array`);
    (g.statefulSets ?? []).forEach((s, j) => {
      const at = `groups[${i}].statefulSets[${j}]`;
      if (typeof s?.name !== 'string' || s.name === '') fail(`${at}.name must be a non-empty string`);
      if (names.has(s.name)) fail(`${at} repeats the StatefulSet "${s.name}" on ${key}`);
      names.add(s.name);
      if (!Array.isArray(s.weights)) fail(`${at}.weights must be an array`);
      const listed = new Set<number>();
      s.weights.forEach((w, k) => {
        if (!isInt(w?.weight, 0, 100)) fail(`${at}.weights[${k}].weight must be an integer from 0 to 100`);
        if (!Array.isArray(w.podIndexes) || !w.podIndexes.every((x) => isInt(x, 0, 1e9))) fail(`${at}.weights[${k}].podIndexes must be a list of ordinals`);
        for (const o of w.podIndexes) {
          if (listed.has(o)) fail(`${at} lists ordinal ${o} in two weights`);
          listed.add(o);
        }
      });
    });
  });
  return v;
}

const parseOrEmpty = (text: string | undefined): RsWeight => (text === undefined ? {} : parseRsWeight(text));
export const sameKey = (a: PortKey, b: PortKey) => a.proto.toUpperCase() === b.proto.toUpperCase() && a.port === b.port;
const entryOf = (v: RsWeight, statefulSet: string, key: PortKey) => v.groups?.find((g) => sameKey(g.key, key))?.statefulSets?.find((s) => s.name === statefulSet);

/** An ordinal's weight on one port as a value sets it: listed explicitly, or left to defaultWeight. */
export type PriorWeight = { explicit: number } | 'default';

export function priorWeight(annotation: string | undefined, statefulSet: string, key: PortKey, ordinal: number): PriorWeight {
  const listed = entryOf(parseOrEmpty(annotation), statefulSet, key)?.weights.find((w) => w.podIndexes.includes(ordinal));
  return listed ? { explicit: listed.weight } : 'default';
}

/** The weight an annotation gives to ordinal `ordinal` of `statefulSet` on one Service port. */
export function weightOf(annotation: string | undefined, statefulSet: string, key: PortKey, ordinal: number): number {
  if (annotation === undefined) return TKE_DEFAULT_WEIGHT;
  const v = parseRsWeight(annotation);
  const listed = entryOf(v, statefulSet, key)?.weights.find((w) => w.podIndexes.includes(ordinal));
  return listed ? listed.weight : (v.defaultWeight ?? TKE_DEFAULT_WEIGHT);
}

/** One port of a Service as the walk sees it: its key and the value whose weights count as "before". */
export interface PortBaseline {
  key: PortKey;
  /** The annotation value before the upgrade, for this port (undefined: the Service had none). */
  baseline: string | undefined;
}

export interface WeightChange {
  statefulSet: string;
  /** Every port the Service has now. */
  ports: PortBaseline[];
  /**
   * Weights seen right before the walk drained an ordinal, by "PROTO/port" then ordinal: restored in
   * preference to the baseline, so a colleague's change made before the drain is kept.
   */
  priors?: Record<string, Record<number, PriorWeight>>;
  /** Ordinals that must be at weight 0 after this write. */
  drain: number[];
  /** Ordinals the plugin drained and now gives back (ignored if also in `drain`). */
  restore: number[];
  /** The whole value before the upgrade: when the result means the same, it is returned byte for byte. */
  original: string | undefined;
}

const extras = (o: Record<string, unknown>, known: string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => !known.includes(k)).sort(([a], [b]) => a.localeCompare(b)));

/**
 * What a value means to TKE, as one string: the weight of every listed ordinal per port and
 * StatefulSet, defaultWeight, and any field the plugin does not know. Entry order, how ordinals are
 * split between entries of one weight, and empty entries, groups or arrays do not count.
 */
function meaning(v: RsWeight | undefined): string {
  if (v === undefined) return 'none';
  const groups = (v.groups ?? [])
    .map((g) => {
      const statefulSets = (g.statefulSets ?? [])
        .map((s) => {
          const byWeight = new Map<string, number[]>();
          for (const w of s.weights) {
            const k = JSON.stringify([w.weight, extras(w, ['weight', 'podIndexes'])]);
            byWeight.set(k, [...(byWeight.get(k) ?? []), ...w.podIndexes]);
          }
          const weights = [...byWeight].filter(([, ords]) => ords.length > 0).map(([k, ords]) => [k, [...ords].sort((a, b) => a - b)]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
          return { name: s.name, extra: extras(s, ['name', 'weights']), weights };
        })
        .filter((s) => s.weights.length > 0 || Object.keys(s.extra).length > 0)
        .sort((a, b) => a.name.localeCompare(b.name));
      return { key: `${g.key.proto.toUpperCase()}/${g.key.port}`, keyExtra: extras(g.key, ['proto', 'port']), extra: extras(g, ['key', 'statefulSets']), statefulSets };
    })
    .filter((g) => g.statefulSets.length > 0 || Object.keys(g.extra).length > 0 || Object.keys(g.keyExtra).length > 0)
    .sort((a, b) => a.key.localeCompare(b.key));
  return JSON.stringify({ defaultWeight: v.defaultWeight ?? TKE_DEFAULT_WEIGHT, extra: extras(v, ['defaultWeight', 'groups']), groups });
}
const sameMeaning = (a: RsWeight | undefined, b: RsWeight | undefined) => meaning(a) === meaning(b);

function place(entry: StatefulSetEntry, ordinal: number, weight: number): void {
  const target = entry.weights.find((w) => w.weight === weight);
  if (target) target.podIndexes = [...target.podIndexes, ordinal].sort((a, b) => a - b);
  else entry.weights.push({ weight, podIndexes: [ordinal] });
}

/**
 * The value a Service must carry after one step of the walk, computed from its live value:
 * - every ordinal in `drain` is at weight 0 on every port (moved out of whatever entry listed it);
 * - every ordinal in `restore` that the value still lists at 0 goes back to its baseline weight on
 *   that port (listed with that weight, or unlisted when it was left to defaultWeight); one that
 *   someone else already moved away from 0 keeps their weight;
 * - entries, groups and the annotation itself that the plugin created and that are now empty go;
 * - nothing else changes. When the result means what `original` or `live` already say, that text
 *   comes back byte for byte (undefined: no annotation).
 */
export function mergeWeights(live: string | undefined, c: WeightChange): string | undefined {
  const value: RsWeight = structuredClone(parseOrEmpty(live));
  const drain = [...new Set(c.drain)].sort((a, b) => a - b);
  const restore = [...new Set(c.restore)].filter((o) => !drain.includes(o)).sort((a, b) => a - b);
  let touched = false;

  for (const { key, baseline } of c.ports) {
    let group = value.groups?.find((g) => sameKey(g.key, key));
    let entry = group?.statefulSets?.find((s) => s.name === c.statefulSet);
    const toRestore = restore.filter((o) => entry?.weights.some((w) => w.weight === 0 && w.podIndexes.includes(o)));
    if (drain.length === 0 && toRestore.length === 0) continue;
    touched = true;
    value.groups = [...(value.groups ?? [])];
    if (!group) {
      group = { key: { proto: key.proto.toUpperCase(), port: key.port }, statefulSets: [] };
      value.groups.push(group);
    }
    if (!entry) {
      entry = { name: c.statefulSet, weights: [] };
      group.statefulSets = [...(group.statefulSets ?? []), entry];
    }
    const moving = [...drain, ...toRestore];
    entry.weights = entry.weights.map((w) => ({ ...w, podIndexes: w.podIndexes.filter((i) => !moving.includes(i)) }));
    for (const o of drain) place(entry, o, 0);
    for (const o of toRestore) {
      const prior = c.priors?.[`${key.proto.toUpperCase()}/${key.port}`]?.[o] ?? priorWeight(baseline, c.statefulSet, key, o);
      if (prior !== 'default') place(entry, o, prior.explicit);
    }
    // Tidy what this edit emptied: an empty entry or group means nothing. (When the result means
    // what the original meant, the original's own bytes, empties and all, are returned below.)
    entry.weights = entry.weights.filter((w) => w.podIndexes.length > 0 || Object.keys(w).some((k) => k !== 'weight' && k !== 'podIndexes'));
    if (entry.weights.length === 0 && Object.keys(entry).every((k) => k === 'name' || k === 'weights')) group.statefulSets = group.statefulSets!.filter((s) => s !== entry);
    if (group.statefulSets!.length === 0 && Object.keys(group).every((k) => k === 'key' || k === 'statefulSets')) value.groups = value.groups.filter((g) => g !== group);
  }
  if (!touched) return live;
  // A value the walk creates starts as the procedure writes it: defaultWeight 10, then the groups.
  const out: RsWeight = live === undefined ? { defaultWeight: TKE_DEFAULT_WEIGHT, ...value } : value;
  if (c.original !== undefined && sameMeaning(out, parseRsWeight(c.original))) return c.original;
  // Nothing left but TKE's defaults: the same as no annotation, which is what the walk restores to.
  if (meaning(out) === meaning({})) return undefined;
  if (live !== undefined && sameMeaning(out, parseRsWeight(live))) return live;
  return JSON.stringify(out);
}

/** Ordinals this value lists at weight 0 for `statefulSet` on any port: what a lost record leaves behind. */
export function zeroWeightOrdinals(annotation: string | undefined, statefulSet: string): number[] {
  const v = parseOrEmpty(annotation);
  const out = new Set<number>();
  for (const g of v.groups ?? []) for (const s of g.statefulSets ?? []) if (s.name === statefulSet) for (const w of s.weights) if (w.weight === 0) w.podIndexes.forEach((i) => out.add(i));
  return [...out].sort((a, b) => a - b);
}

/** The value with `ordinals` of `statefulSet` no longer listed at weight 0 on any port (left to the default). */
export function withoutZerosOf(annotation: string, statefulSet: string, ordinals: number[]): string | undefined {
  const v = structuredClone(parseRsWeight(annotation));
  let changed = false;
  for (const g of v.groups ?? []) {
    for (const s of g.statefulSets ?? []) {
      if (s.name !== statefulSet) continue;
      for (const w of s.weights) {
        if (w.weight !== 0 || !w.podIndexes.some((o) => ordinals.includes(o))) continue;
        w.podIndexes = w.podIndexes.filter((o) => !ordinals.includes(o));
        changed = true;
      }
      s.weights = s.weights.filter((w) => w.podIndexes.length > 0);
    }
  }
  return changed ? JSON.stringify(v) : annotation;
}

/** The value with every weight-0 entry of `statefulSet` removed (undefined when nothing else is left). */
export function withoutZeroWeights(annotation: string, statefulSet: string): string | undefined {
  const v = structuredClone(parseRsWeight(annotation));
  for (const g of v.groups ?? []) {
    for (const s of g.statefulSets ?? []) if (s.name === statefulSet) s.weights = s.weights.filter((w) => w.weight !== 0);
    g.statefulSets = (g.statefulSets ?? []).filter((s) => s.name !== statefulSet || s.weights.length > 0);
  }
  v.groups = (v.groups ?? []).filter((g) => (g.statefulSets ?? []).length > 0);
  return v.groups.length === 0 && Object.keys(v).every((k) => k === 'groups' || k === 'defaultWeight') ? undefined : JSON.stringify(v);
}
