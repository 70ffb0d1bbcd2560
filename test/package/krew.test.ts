// The krew manifest validates with krew's own validator and installs with the real krew;
// kubectl's plugin discovery then runs the installed binary.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
// @ts-expect-error plain ESM build script without types
import { SHORT_DESCRIPTION, renderKrewManifest } from '../../scripts/krew-manifest.mjs';
// @ts-expect-error plain ESM build script without types
import { TARGETS, VERSION } from '../../scripts/build.mjs';
import { root } from '../e2e/support.js';

const archive = join(root, 'dist', 'kubectl-zerolossupgrade_linux_amd64.tar.gz');

describe('krew', () => {
  let tools: string;
  let dir: string;
  let server: Server;
  let env: Record<string, string>;

  beforeAll(async () => {
    tools = execFileSync(join(root, 'scripts', 'krew-tools.sh'), { encoding: 'utf8' }).trim();
    dir = mkdtempSync(join(tmpdir(), 'zlu-krew-'));
    // kubectl from the e2e cluster build, then kubectl-krew; nothing from the user's own krew.
    env = { PATH: `${inject('clusterBin')}:${tools}:/usr/bin:/bin`, HOME: dir };
    // Serve the archive on loopback so validate-krew-manifest can install it by URI like a release.
    server = createServer((req, res) => {
      if (req.url === `/${basename(archive)}`) res.end(readFileSync(archive));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const manifestFor = (uriBase: string) => {
    const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
    const text = renderKrewManifest(VERSION, { 'linux-amd64': { file: archive, sha256 } }, TARGETS) as string;
    return text.replace(/uri: .*\//, `uri: ${uriBase}/`);
  };

  it('the committed manifest lists all five platforms and passes validate-krew-manifest', () => {
    const m = parse(readFileSync(join(root, 'krew-manifest.yaml'), 'utf8'));
    expect(m.spec.version).toMatch(/^v\d+\.\d+\.\d+/);
    expect(m.spec.shortDescription).toBe(SHORT_DESCRIPTION);
    expect(m.spec.shortDescription.length).toBeLessThanOrEqual(50);
    expect(m.spec.platforms.map((p: { selector: { matchLabels: { os: string; arch: string } }; bin: string }) => `${p.selector.matchLabels.os}/${p.selector.matchLabels.arch} ${p.bin}`).sort()).toEqual([
      'darwin/amd64 kubectl-zerolossupgrade',
      'darwin/arm64 kubectl-zerolossupgrade',
      'linux/amd64 kubectl-zerolossupgrade',
      'linux/arm64 kubectl-zerolossupgrade',
      'windows/amd64 kubectl-zerolossupgrade.exe',
    ]);
    for (const p of m.spec.platforms) expect(p.sha256).toMatch(/^[a-f0-9]{64}$/);
    // The validator wants the file named after the plugin.
    const file = join(dir, 'zerolossupgrade.yaml');
    copyFileSync(join(root, 'krew-manifest.yaml'), file);
    execFileSync(join(tools, 'validate-krew-manifest'), ['-manifest', file, '-skip-install'], { env, stdio: 'pipe' });
  });

  it('a manifest rendered from the built archive validates with a real install by URI', async () => {
    const vdir = mkdtempSync(join(dir, 'v-'));
    const file = join(vdir, 'zerolossupgrade.yaml');
    writeFileSync(file, manifestFor(`http://127.0.0.1:${(server.address() as { port: number }).port}`));
    // Installs the platform from its URI, checks the sha256 and that a LICENSE is in the archive.
    // Asynchronous: the archive server runs in this process and must keep answering.
    const { stderr } = await promisify(execFile)(join(tools, 'validate-krew-manifest'), ['-manifest', file], { env, encoding: 'utf8' });
    expect(stderr).toContain('installed  spec.platforms[0]');
  });

  it('installs from the local archive and runs through kubectl plugin discovery', () => {
    const file = join(dir, 'zerolossupgrade.yaml');
    writeFileSync(file, manifestFor('https://example.invalid'));
    const krewRoot = join(dir, 'krew-root');
    const kenv = { ...env, KREW_ROOT: krewRoot, PATH: `${join(krewRoot, 'bin')}:${env.PATH}` };
    execFileSync('kubectl', ['krew', 'install', `--manifest=${file}`, `--archive=${archive}`], { env: kenv, stdio: 'pipe' });
    expect(execFileSync('kubectl', ['plugin', 'list', '--name-only'], { env: kenv, encoding: 'utf8' })).toContain('kubectl-zerolossupgrade');
    const out = execFileSync('kubectl', ['zerolossupgrade', 'version'], { env: kenv, encoding: 'utf8' });
    expect(out).toMatch(new RegExp(`^kubectl-zerolossupgrade ${VERSION.replace(/\./g, '\\.')} `));
  });
});
