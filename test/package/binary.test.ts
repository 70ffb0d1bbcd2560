// The linux/amd64 single executable (built by the e2e global setup) runs on its own.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binary, root, runPlugin } from '../e2e/support.js';

const version = `v${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}`;

describe('single executable', () => {
  it('is a native executable with the embedded Node runtime', () => {
    expect(statSync(binary).mode & 0o111).not.toBe(0);
    expect(readFileSync(binary).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46])); // ELF
  });

  it('prints its version with --version and with `version`', async () => {
    expect((await runPlugin(['--version'])).stdout).toBe(`${version}\n`);
    const r = await runPlugin(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^kubectl-zerolossupgrade ${version.replace(/\./g, '\\.')} \\(node v26\\.\\d+\\.\\d+, linux/x64\\)\\n$`));
  });

  it('prints usage that reads as a kubectl command, with no warnings', async () => {
    const r = await runPlugin(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('Usage: kubectl zerolossupgrade <command> [flags]');
    expect(r.stdout).toContain('kubectl zerolossupgrade status <statefulset>');
  });

  it('exits 2 on an unknown flag without touching a cluster', async () => {
    const r = await runPlugin(['status', 'x', '--bogus'], { env: { KUBECONFIG: '/nonexistent' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: Unknown argument: bogus\nSee 'kubectl zerolossupgrade --help'.\n");
  });

  it('runs without the repository: no file of the source tree is read', () => {
    const out = execFileSync(binary, ['version'], { cwd: '/', env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
    expect(out).toContain(version);
  });
});
