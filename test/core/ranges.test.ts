import { describe, expect, it } from 'vitest';
import { fromRanges, joinRanges, toRanges } from '../../src/core/ranges.js';

describe('ordinal ranges', () => {
  it.each([
    [[], ''],
    [[3], '3'],
    [[0, 1, 2, 3], '0-3'],
    [[0, 1, 5, 7, 8, 9], '0-1,5,7-9'],
    // A walk back keeps its order: a batch drained first, then the rest.
    [[4, 0, 1, 2, 6], '4,0-2,6'],
  ])('%j reads %s and back', (ordinals, text) => {
    expect(toRanges(ordinals)).toBe(text);
    expect(fromRanges(text)).toEqual(ordinals);
  });

  it.each(['x', '1-', '-1', '3-1', '1,,2', '1-2-3', '0-99999999'])('refuses %s', (text) => {
    expect(fromRanges(text)).toBeUndefined();
  });

  it.each([
    ['0-4', '5-9', '0-9'],
    ['0-4', '6', '0-4,6'],
    ['1,3', '4-6,9', '1,3-6,9'],
    ['2', '3', '2-3'],
    ['7,9-10', '11', '7,9-11'],
    ['', '3', '3'],
    ['5', '1-2', '5,1-2'],
  ])('joins %s and %s as %s', (a, b, joined) => {
    expect(joinRanges(a, b)).toBe(joined);
    expect(fromRanges(joined)).toEqual([...fromRanges(a)!, ...fromRanges(b)!]);
  });
});
