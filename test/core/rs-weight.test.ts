import { describe, expect, it } from 'vitest';
import { mergeWeights, parseRsWeight, priorWeight, weightOf, withoutZeroWeights, zeroWeightOrdinals, RsWeightError, type PortBaseline } from '../../src/core/rs-weight.js';

const http = { proto: 'TCP', port: 80 };
const admin = { proto: 'TCP', port: 8080 };
const portsOf = (baseline: string | undefined, ...keys: { proto: string; port: number }[]): PortBaseline[] => keys.map((key) => ({ key, baseline }));
const drainOn = (live: string | undefined, original: string | undefined, drain: number[], restore: number[] = [], keys = [http], sts = 'gw') =>
  mergeWeights(live, { statefulSet: sts, ports: portsOf(original, ...keys), drain, restore, original });

describe('mergeWeights: the plugin owns only its drained ordinals', () => {
  it('from no annotation: the procedure document\'s value, one group per port', () => {
    expect(drainOn(undefined, undefined, [0], [], [http])).toBe(
      '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[0]}]}]}]}',
    );
    expect(JSON.parse(drainOn(undefined, undefined, [2, 0], [], [http, admin])!).groups.map((g: { key: unknown; statefulSets: unknown }) => [g.key, g.statefulSets])).toEqual([
      [{ proto: 'TCP', port: 80 }, [{ name: 'gw', weights: [{ weight: 0, podIndexes: [0, 2] }] }]],
      [{ proto: 'TCP', port: 8080 }, [{ name: 'gw', weights: [{ weight: 0, podIndexes: [0, 2] }] }]],
    ]);
  });

  it('restoring everything gives the original back byte for byte, or removes the annotation it created', () => {
    const pretty = '{ "defaultWeight": 50,\n  "groups": [ {"key": {"proto":"tcp","port":80}, "statefulSets":[{"name":"gw","weights":[{"weight":30,"podIndexes":[2,1]}]}]} ] }';
    const drained = drainOn(pretty, pretty, [1, 3])!;
    expect(weightOf(drained, 'gw', http, 1)).toBe(0);
    expect(weightOf(drained, 'gw', http, 2)).toBe(30);
    expect(drainOn(drained, pretty, [], [1, 3])).toBe(pretty);
    const created = drainOn(undefined, undefined, [0, 1], [], [http, admin]);
    expect(drainOn(created, undefined, [], [0, 1], [http, admin])).toBeUndefined();
  });

  it('gives each ordinal back its own baseline weight: explicit entries and defaults, per port', () => {
    const original = JSON.stringify({ defaultWeight: 10, groups: [{ key: http, statefulSets: [{ name: 'gw', weights: [{ weight: 30, podIndexes: [1] }, { weight: 5, podIndexes: [4] }] }] }] });
    const drained = drainOn(original, original, [1, 2, 4], [], [http, admin])!;
    for (const o of [1, 2, 4]) for (const k of [http, admin]) expect(weightOf(drained, 'gw', k, o)).toBe(0);
    const partly = drainOn(drained, original, [2], [1, 4], [http, admin])!;
    expect([1, 2, 4].map((o) => [weightOf(partly, 'gw', http, o), weightOf(partly, 'gw', admin, o)])).toEqual([[30, 10], [0, 0], [5, 10]]);
    expect(priorWeight(partly, 'gw', admin, 1)).toBe('default');
    expect(drainOn(partly, original, [], [2], [http, admin])).toBe(original);
  });

  it("leaves everyone else's part of the value as it is now, not as it was at start", () => {
    const original = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"edge","weights":[{"weight":0,"podIndexes":[2]}]}]}]}';
    const drained = drainOn(original, original, [0])!;
    // A colleague restores edge-2, adds a custom weight for another StatefulSet, and a new field.
    const edited = JSON.stringify({ ...JSON.parse(drained), owner: 'team-x', groups: [...JSON.parse(drained).groups.map((g: { statefulSets: { name: string }[] }) => ({ ...g, statefulSets: g.statefulSets.filter((s) => s.name !== 'edge') })), { key: { proto: 'UDP', port: 53 }, statefulSets: [{ name: 'dns', weights: [{ weight: 40, podIndexes: [0] }] }] }] });
    const next = drainOn(edited, original, [1], [0])!;
    const v = JSON.parse(next);
    expect(v.owner).toBe('team-x');
    expect(weightOf(next, 'edge', http, 2)).toBe(10);
    expect(weightOf(next, 'dns', { proto: 'UDP', port: 53 }, 0)).toBe(40);
    expect([weightOf(next, 'gw', http, 0), weightOf(next, 'gw', http, 1)]).toEqual([10, 0]);
    const end = JSON.parse(drainOn(next, original, [], [1])!);
    // The TCP/80 group, emptied (by the colleague and the walk), means nothing and goes.
    expect(end).toEqual({ defaultWeight: 10, owner: 'team-x', groups: [{ key: { proto: 'UDP', port: 53 }, statefulSets: [{ name: 'dns', weights: [{ weight: 40, podIndexes: [0] }] }] }] });
  });

  it('a restore does not undo what someone else set meanwhile on a drained ordinal', () => {
    const drained = drainOn(undefined, undefined, [0, 1])!;
    const v = JSON.parse(drained);
    v.groups[0].statefulSets[0].weights = [{ weight: 0, podIndexes: [1] }, { weight: 70, podIndexes: [0] }];
    const after = drainOn(JSON.stringify(v), undefined, [], [0, 1])!;
    expect(weightOf(after, 'gw', http, 0)).toBe(70);
    expect(weightOf(after, 'gw', http, 1)).toBe(10);
  });

  it('when nothing of ours is in the value there is nothing to write: the live text comes back', () => {
    const live = '{"defaultWeight": 20}';
    expect(drainOn(live, undefined, [], [3])).toBe(live);
    expect(drainOn(undefined, '{"defaultWeight":10}', [], [3])).toBeUndefined();
  });

  it('an empty group or entry it created goes; an original with empties comes back byte for byte', () => {
    const original = '{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[]}]}';
    expect(drainOn(drainOn(original, original, [0], [], [http, admin]), original, [], [0], [http, admin])).toBe(original);
    const withOther = '{"groups":[{"key":{"proto":"TCP","port":80}}]}';
    const edited = JSON.stringify({ ...JSON.parse(drainOn(withOther, withOther, [0])!), note: 'x' });
    expect(JSON.parse(drainOn(edited, withOther, [], [0])!)).toEqual({ groups: [], note: 'x' });
  });

  it('refuses values with two readings of one port: repeated groups, repeated StatefulSets, an ordinal in two weights', () => {
    const g = (sts: string) => `{"key":{"proto":"TCP","port":80},"statefulSets":[${sts}]}`;
    expect(() => parseRsWeight(`{"groups":[${g('')},${g('')}]}`)).toThrow('groups[1] repeats the port TCP/80');
    expect(() => parseRsWeight(`{"groups":[${g('{"name":"gw","weights":[]},{"name":"gw","weights":[]}')}]}`)).toThrow('repeats the StatefulSet "gw" on TCP/80');
    expect(() => parseRsWeight(`{"groups":[${g('{"name":"gw","weights":[{"weight":10,"podIndexes":[0]},{"weight":50,"podIndexes":[0]}]}')}]}`)).toThrow('lists ordinal 0 in two weights');
  });

  it('restores the weight seen right before the drain, in preference to the baseline', () => {
    const colleague = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":50,"podIndexes":[2]}]}]}]}';
    const base = { statefulSet: 'gw', ports: portsOf(undefined, http), original: undefined, priors: { 'TCP/80': { 2: { explicit: 50 } } } };
    const drained = mergeWeights(colleague, { ...base, drain: [2], restore: [] });
    expect(weightOf(drained, 'gw', http, 2)).toBe(0);
    expect(mergeWeights(drained, { ...base, drain: [], restore: [2] })).toBe(colleague);
  });

  it('a port added mid-walk restores to the value it had when it was first seen', () => {
    const original = undefined;
    const seenLater = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":443},"statefulSets":[{"name":"gw","weights":[{"weight":60,"podIndexes":[0]}]}]}]}';
    const https = { proto: 'TCP', port: 443 };
    const ports: PortBaseline[] = [{ key: http, baseline: original }, { key: https, baseline: seenLater }];
    const drained = mergeWeights(seenLater, { statefulSet: 'gw', ports, drain: [0], restore: [], original })!;
    expect(weightOf(drained, 'gw', https, 0)).toBe(0);
    const back = mergeWeights(drained, { statefulSet: 'gw', ports, drain: [], restore: [0], original })!;
    expect(weightOf(back, 'gw', https, 0)).toBe(60);
    expect(weightOf(back, 'gw', http, 0)).toBe(10);
  });

  it('two walks of two StatefulSets behind one Service, interleaved, with a colleague editing: every ordinal ends as before', () => {
    // A seeded walk of random interleavings; the model is the expected weight of every ordinal.
    let seed = 7;
    const rand = (n: number) => {
      // mulberry32: small, seeded, evenly spread
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    for (let run = 0; run < 200; run++) {
      const original = rand(2) ? undefined : JSON.stringify({ defaultWeight: 10, groups: [{ key: http, statefulSets: [{ name: 'a', weights: [{ weight: 20, podIndexes: [1] }] }, { name: 'b', weights: [{ weight: 0, podIndexes: [3] }] }] }] });
      let live = original;
      let edits = 0;
      const walkers = ['a', 'b'].map((sts) => ({ sts, original: live, next: 0, drained: [] as number[] }));
      const weightsBefore = (sts: string) => [0, 1, 2, 3].map((o) => [weightOf(original, sts, http, o), weightOf(original, sts, admin, o)]);
      const expected = { a: weightsBefore('a'), b: weightsBefore('b') };
      for (let left = walkers.filter((w) => w.next <= 4); left.length > 0; left = walkers.filter((w) => w.next <= 4)) {
        const w = left[rand(left.length)]!;
        // Each step: restore what it had drained, drain the next ordinal (none after the last).
        const drain = w.next < 4 ? [w.next] : [];
        live = mergeWeights(live, { statefulSet: w.sts, ports: portsOf(w.original, http, admin), drain, restore: w.drained, original: w.original });
        for (const o of drain) expect(weightOf(live, w.sts, http, o)).toBe(0);
        w.drained = drain;
        w.next++;
        if (rand(4) === 0) {
          // A colleague adds another StatefulSet's custom weight meanwhile.
          const v = live === undefined ? { groups: [] } : JSON.parse(live);
          v.groups = [...(v.groups ?? []), { key: { proto: 'TCP', port: 9000 + edits++ }, statefulSets: [{ name: 'other', weights: [{ weight: 55, podIndexes: [rand(5)] }] }] }];
          live = JSON.stringify(v);
        }
      }
      for (const w of walkers) expect([0, 1, 2, 3].map((o) => [weightOf(live, w.sts, http, o), weightOf(live, w.sts, admin, o)])).toEqual(expected[w.sts as 'a' | 'b']);
      expect(zeroWeightOrdinals(live, 'a')).toEqual([]);
      expect(zeroWeightOrdinals(live, 'b')).toEqual(original ? [3] : []);
    }
  });
});

describe('lost drains', () => {
  it('finds weight-0 entries of a StatefulSet and gives the value without them', () => {
    const v = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[2,0]},{"weight":30,"podIndexes":[5]}]},{"name":"edge","weights":[{"weight":0,"podIndexes":[1]}]}]}]}';
    expect(zeroWeightOrdinals(v, 'gw')).toEqual([0, 2]);
    expect(JSON.parse(withoutZeroWeights(v, 'gw')!).groups[0].statefulSets).toEqual([{ name: 'gw', weights: [{ weight: 30, podIndexes: [5] }] }, { name: 'edge', weights: [{ weight: 0, podIndexes: [1] }] }]);
    expect(withoutZeroWeights(drainOn(undefined, undefined, [0])!, 'gw')).toBeUndefined();
  });
});

describe('parseRsWeight', () => {
  it.each([
    ['{', /not valid JSON/],
    ['"x"', /must be a JSON object/],
    ['{"defaultWeight":-1}', /defaultWeight must be an integer from 0 to 100/],
    ['{"groups":[{"key":{"port":80}}]}', /groups\[0\]\.key needs "proto"/],
    ['{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[-1]}]}]}]}', /podIndexes must be a list of ordinals/],
  ])('refuses %s', (text, message) => {
    expect(() => parseRsWeight(text)).toThrow(RsWeightError);
    expect(() => parseRsWeight(text)).toThrow(message);
  });
});

describe('weightOf', () => {
  it('reads defaultWeight, listed weights, and 10 without annotation', () => {
    const v = '{"defaultWeight":40,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]}]}';
    expect(weightOf(undefined, 'gw', http, 1)).toBe(10);
    expect(weightOf(v, 'gw', http, 1)).toBe(0);
    expect(weightOf(v, 'gw', http, 2)).toBe(40);
    expect(weightOf(v, 'gw', admin, 1)).toBe(40);
  });
});
