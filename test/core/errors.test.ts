// Every error type ends in the exit code the README's table documents for it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/k8s/client.js';
import { CancelledError, CliError, ConfigError, GateError, NotFoundError, SilentExit, UsageError, exitCodeOf } from '../../src/core/errors.js';
import { RecordError } from '../../src/core/upgrade.js';
import { RsWeightError } from '../../src/core/rs-weight.js';

const table = new Map(
  [...readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8').matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => [Number(m[1]), m[2]!]),
);

describe('exit codes', () => {
  const prompt = Object.assign(new Error('User force closed the prompt'), { name: 'ExitPromptError' });
  it.each([
    ['UsageError', new UsageError('x'), 2],
    ['GateError', new GateError('x'), 3],
    ['CancelledError', new CancelledError(), 130],
    ['an interrupted prompt', prompt, 130],
    ['ConfigError', new ConfigError('x'), 1],
    ['NotFoundError', new NotFoundError('statefulsets', 'gw'), 1],
    ['ApiError', new ApiError('x', 500), 1],
    ['CliError', new CliError('x'), 1],
    ['SilentExit(4)', new SilentExit(4), 4],
    // Core errors never reach the user raw: the walk turns them into gates; if one did, it is a failure (1).
    ['RecordError', new RecordError('x'), 1],
    ['RsWeightError', new RsWeightError('x'), 1],
    ['a plain Error', new Error('x'), 1],
  ] as const)('%s exits %d, a code the README documents', (_, error, code) => {
    expect(exitCodeOf(error)).toBe(code);
    if (code !== 4) expect(table.has(code), `README lacks exit code ${code}`).toBe(true);
  });

  it('the README documents exactly the codes the plugin uses', () => {
    expect([...table.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 130]);
  });
});
