#!/usr/bin/env node
// Start-up benchmark: median wall time of the built binary's --help against `kubectl version --client`,
// alternating A/B in one run so both see the same machine. Last line: JSON for tools.
//   node scripts/bench-startup.mjs [--runs 40]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const binary = join(root, 'dist', 'linux-amd64', 'kubectl-zerolossupgrade');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 40;

if (!existsSync(binary)) {
  console.error(`no binary at ${binary}; run: npm run build -- --target linux-amd64`);
  process.exit(1);
}
// The kubectl built for the e2e cluster when there is one (a plain Go binary), else the one on PATH.
const clusterBin = execFileSync(join(root, 'scripts', 'e2e-cluster.sh'), ['bin'], { encoding: 'utf8' }).trim();
const kubectl = existsSync(join(clusterBin, 'kubectl')) ? join(clusterBin, 'kubectl') : 'kubectl';
// NODE_EXTRA_CA_CERTS makes every Node start read a CA file; a plain user shell does not have it.
const env = { PATH: process.env.PATH, HOME: process.env.HOME };

function time(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const a = [];
const b = [];
for (let i = 0; i < 3; i++) time(binary, ['--help']), time(kubectl, ['version', '--client']);
for (let i = 0; i < runs; i++) {
  a.push(time(binary, ['--help']));
  b.push(time(kubectl, ['version', '--client']));
}
const binaryMs = Number(median(a).toFixed(1));
const kubectlMs = Number(median(b).toFixed(1));
const ratio = Number((binaryMs / kubectlMs).toFixed(2));
console.log(`runs: ${runs} each, alternating; kubectl: ${kubectl}`);
console.log(`kubectl-zerolossupgrade --help   median ${binaryMs} ms  (min ${Math.min(...a).toFixed(1)}, max ${Math.max(...a).toFixed(1)})`);
console.log(`kubectl version --client          median ${kubectlMs} ms  (min ${Math.min(...b).toFixed(1)}, max ${Math.max(...b).toFixed(1)})`);
console.log(`ratio ${ratio}x (goal: at most 1.2x)`);
console.log(JSON.stringify({ binaryMs, kubectlMs, ratio, runs }));
