import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/duration.js';
import { UsageError } from '../../src/core/errors.js';

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['30', 30_000],
    ['500ms', 500],
    ['30s', 30_000],
    ['2m', 120_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['1.5s', 1_500],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration('timeout', text)).toBe(ms);
  });

  it.each(['', 'abc', '10x', '-5s', '5 s', 's', '1m30'])('refuses %j with a usage error naming the flag', (text) => {
    expect(() => parseDuration('request-timeout', text)).toThrow(UsageError);
    expect(() => parseDuration('request-timeout', text)).toThrow(/--request-timeout/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [59_999, '59s'],
    [60_000, '1m00s'],
    [125_000, '2m05s'],
    [3_723_000, '1h02m'],
  ])('%d ms reads %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
