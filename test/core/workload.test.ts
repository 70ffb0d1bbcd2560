import { describe, expect, it } from 'vitest';
import { ordinalsOf, parseOrdinal, revisionState } from '../../src/core/workload.js';

describe('parseOrdinal', () => {
  it.each([
    ['gw', 'gw-0', 0],
    ['gw', 'gw-12', 12],
    ['gw-canary', 'gw-canary-3', 3],
    ['gw', 'gw-canary-3', undefined],
    ['gw', 'gw-', undefined],
    ['gw', 'gw-01', undefined],
    ['gw', 'gw-1a', undefined],
    ['gw', 'other-1', undefined],
  ])('%s / %s -> %s', (sts, pod, ordinal) => {
    expect(parseOrdinal(sts, pod)).toBe(ordinal);
  });
});

describe('ordinalsOf', () => {
  it('starts at spec.ordinals.start', () => {
    expect(ordinalsOf({ replicas: 3, ordinalsStart: 0 })).toEqual([0, 1, 2]);
    expect(ordinalsOf({ replicas: 3, ordinalsStart: 5 })).toEqual([5, 6, 7]);
    expect(ordinalsOf({ replicas: 3, ordinalsStart: 5 }, 4)).toEqual([5, 6, 7, 8]);
    expect(ordinalsOf({ replicas: 0, ordinalsStart: 0 })).toEqual([]);
  });
});

describe('revisionState', () => {
  const sts = { currentRevision: 'gw-5d8f7c6b9', updateRevision: 'gw-7f9c8d4b5' };
  it.each([
    ['gw-7f9c8d4b5', 'new'],
    ['gw-5d8f7c6b9', 'old'],
    ['7f9c8d4b5', 'new'], // hash-only labels of older controllers
    ['gw-1111111', 'unknown'],
    [undefined, 'unknown'],
  ] as const)('label %s is %s', (revision, state) => {
    expect(revisionState(sts, { revision })).toBe(state);
  });

  it('calls a pod new when no change is pending (current equals update)', () => {
    expect(revisionState({ currentRevision: 'gw-1', updateRevision: 'gw-1' }, { revision: 'gw-1' })).toBe('new');
  });
});
