import { describe, expect, it } from 'vitest';
import { annotationFor, parseRsWeight, weightOf, RsWeightError } from '../../src/core/rs-weight.js';

const http = { proto: 'TCP', port: 80 };
const admin = { proto: 'TCP', port: 8080 };

describe('annotationFor', () => {
  it('nothing drained gives the original back byte for byte, or no annotation', () => {
    const original = '{ "defaultWeight": 10, "groups": [] }';
    expect(annotationFor(original, 'gw', [http], [])).toBe(original);
    expect(annotationFor(undefined, 'gw', [http], [])).toBeUndefined();
  });

  it('from no annotation: one group per port with the drained ordinals at 0, defaultWeight 10', () => {
    expect(JSON.parse(annotationFor(undefined, 'gw', [http, admin], [2, 0])!)).toEqual({
      defaultWeight: 10,
      groups: [
        { key: { proto: 'TCP', port: 80 }, statefulSets: [{ name: 'gw', weights: [{ weight: 0, podIndexes: [0, 2] }] }] },
        { key: { proto: 'TCP', port: 8080 }, statefulSets: [{ name: 'gw', weights: [{ weight: 0, podIndexes: [0, 2] }] }] },
      ],
    });
  });

  it('the procedure document\'s value for pod 0 on port 80', () => {
    expect(annotationFor(undefined, 'nginx', [http], [0])).toBe(
      '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"nginx","weights":[{"weight":0,"podIndexes":[0]}]}]}]}',
    );
  });

  it('merges into an existing value: other StatefulSets, other groups and defaultWeight untouched', () => {
    const original = JSON.stringify({
      defaultWeight: 50,
      groups: [
        { key: { proto: 'TCP', port: 80 }, statefulSets: [{ name: 'edge', weights: [{ weight: 0, podIndexes: [3] }] }] },
        { key: { proto: 'UDP', port: 53 }, statefulSets: [{ name: 'gw', weights: [{ weight: 20, podIndexes: [1] }] }] },
      ],
    });
    expect(JSON.parse(annotationFor(original, 'gw', [http], [1])!)).toEqual({
      defaultWeight: 50,
      groups: [
        { key: { proto: 'TCP', port: 80 }, statefulSets: [{ name: 'edge', weights: [{ weight: 0, podIndexes: [3] }] }, { name: 'gw', weights: [{ weight: 0, podIndexes: [1] }] }] },
        { key: { proto: 'UDP', port: 53 }, statefulSets: [{ name: 'gw', weights: [{ weight: 20, podIndexes: [1] }] }] },
      ],
    });
  });

  it('a drained ordinal leaves the weight it had; the others keep theirs', () => {
    const original = '{"groups":[{"key":{"proto":"tcp","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":30,"podIndexes":[1,2]},{"weight":5,"podIndexes":[4]}]}]}]}';
    const out = JSON.parse(annotationFor(original, 'gw', [http], [2, 4])!);
    expect(out.groups).toHaveLength(1);
    expect(out.groups[0].statefulSets[0].weights).toEqual([{ weight: 30, podIndexes: [1] }, { weight: 0, podIndexes: [2, 4] }]);
    expect(out.defaultWeight).toBe(10);
  });

  it('keeps fields it does not know', () => {
    const out = JSON.parse(annotationFor('{"future":true,"groups":[]}', 'gw', [http], [0])!);
    expect(out.future).toBe(true);
  });

  it('is a function of (original, drained) only: draining step by step equals draining at once', () => {
    const original = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"edge","weights":[{"weight":0,"podIndexes":[0]}]}]}]}';
    expect(annotationFor(original, 'gw', [http, admin], [1, 2])).toBe(annotationFor(original, 'gw', [http, admin], [2, 1]));
    for (const drained of [[0], [1], [0, 1, 2], [7]]) {
      const value = annotationFor(original, 'gw', [http, admin], drained);
      for (const o of [0, 1, 2, 3, 7]) {
        for (const key of [http, admin]) expect(weightOf(value, 'gw', key, o)).toBe(drained.includes(o) ? 0 : 10);
      }
      expect(weightOf(value, 'edge', http, 0)).toBe(0);
    }
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
