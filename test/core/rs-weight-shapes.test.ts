// mergeWeights on annotation shapes the walk can meet (found by a review): only the plugin's own
// drained ordinals change, the restored value is the original, ambiguous values are refused.
import { describe, expect, it } from 'vitest';
import { mergeWeights, parseRsWeight, weightOf, type WeightChange } from '../../src/core/rs-weight.js';

const TCP80 = { proto: 'TCP', port: 80 };
const change = (original: string | undefined, drain: number[], restore: number[] = []): WeightChange => ({
  statefulSet: 'gw',
  ports: [{ key: TCP80, baseline: original }],
  drain,
  restore,
  original,
});
const walk = (original: string, ordinal: number) => {
  const drained = mergeWeights(original, change(original, [ordinal]));
  return { drained, restored: mergeWeights(drained, change(original, [], [ordinal])) };
};

describe('mergeWeights: round trip to the original', () => {
  it('two weight entries with the same weight: the restored value is not the original', () => {
    const original = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":50,"podIndexes":[1]},{"weight":50,"podIndexes":[2]}]}]}]}';
    const { restored } = walk(original, 2);
    // Nobody else touched the annotation: the claim is byte-equal.
    expect(restored).toBe(original);
  });

  it('an ordinal listed in two weight entries: refused (two readings of one ordinal)', () => {
    const original = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":10,"podIndexes":[0]},{"weight":50,"podIndexes":[0]}]}]}]}';
    expect(() => parseRsWeight(original)).toThrow('lists ordinal 0 in two weights');
  });
});

describe('mergeWeights: ambiguous values are refused, never half drained', () => {
  it('two groups for the same port: the second still gives the drained ordinal weight 50', () => {
    const original = '{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[]},{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":50,"podIndexes":[0]}]}]}]}';
    // Refused, so start and discoverServices stop instead of draining one reading of two.
    expect(() => parseRsWeight(original)).toThrow('repeats the port TCP/80');
  });

  it('two entries for the same StatefulSet in one group: the second keeps ordinal 0 at 50', () => {
    const original = '{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":10,"podIndexes":[1]}]},{"name":"gw","weights":[{"weight":50,"podIndexes":[0]}]}]}]}';
    expect(() => parseRsWeight(original)).toThrow('repeats the StatefulSet "gw"');
  });
});

describe('mergeWeights: a colleague edit of an ordinal before the walk reaches it', () => {
  it('is kept: the weight seen right before the drain is restored', () => {
    const original = undefined;
    // Mid-walk, before batch 2, a colleague gives gw-2 weight 50 (the annotation did not exist at start).
    const colleague = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":50,"podIndexes":[2]}]}]}]}';
    // The walk records the weight it saw right before draining (the colleague's 50) and restores that.
    const priors = { 'TCP/80': { 2: { explicit: 50 } } };
    const drained = mergeWeights(colleague, { ...change(original, [2]), priors });
    const restored = mergeWeights(drained, { ...change(original, [], [2]), priors });
    // The colleague's 50 is gone: gw-2 ends at the default 10 (annotation removed).
    expect(weightOf(restored, 'gw', TCP80, 2)).toBe(50);
  });
});

describe('mergeWeights: keys the original did not have', () => {
  it('an original with defaultWeight only comes back with "groups":[] added', () => {
    const { restored } = walk('{"defaultWeight":50}', 0);
    expect(restored).toBe('{"defaultWeight":50}');
  });

  it('a group without statefulSets comes back with "statefulSets":[] added', () => {
    const { restored } = walk('{"groups":[{"key":{"proto":"TCP","port":80}}]}', 0);
    expect(restored).toBe('{"groups":[{"key":{"proto":"TCP","port":80}}]}');
  });
});
