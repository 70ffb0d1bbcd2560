// Brings the local control plane up once for the e2e project and tears it down afterwards.
// No skipping: if the cluster cannot be built or started the run fails (use `npm run test:unit`
// for the quick loop without it).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'scripts', 'e2e-cluster.sh');

function newestInput(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newestInput(join(path, f))));
}

function binaryIsStale(): boolean {
  const bin = join(root, 'dist', 'linux-amd64', 'kubectl-zerolossupgrade');
  if (!existsSync(bin)) return true;
  const inputs = ['src', 'package.json', 'package-lock.json', 'scripts/build.mjs'].map((p) => newestInput(join(root, p)));
  return Math.max(...inputs) > statSync(bin).mtimeMs;
}

function clusterEnv(): Record<string, string> {
  const out = execFileSync(script, ['env'], { encoding: 'utf8' });
  return Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
}

export default function setup(project: TestProject) {
  // The e2e tests run the shipped artefact: build the linux/amd64 binary when the source is newer.
  if (binaryIsStale()) {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--target', 'linux-amd64'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const started = Date.now();
  execFileSync(script, ['up'], { stdio: ['ignore', 'inherit', 'inherit'] });
  process.stderr.write(`e2e: control plane up in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  const env = clusterEnv();
  project.provide('adminKubeconfig', env.KUBECONFIG!);
  project.provide('operatorKubeconfig', env.ZLU_OPERATOR_KUBECONFIG!);
  project.provide('nobodyKubeconfig', env.ZLU_NOBODY_KUBECONFIG!);
  project.provide('clusterBin', execFileSync(script, ['bin'], { encoding: 'utf8' }).trim());
  return () => {
    execFileSync(script, ['down'], { stdio: ['ignore', 'inherit', 'inherit'] });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminKubeconfig: string;
    operatorKubeconfig: string;
    nobodyKubeconfig: string;
    clusterBin: string;
  }
}
