// The linux/amd64 binary that e2e tests, benchmarks and the demo run: rebuilt when the source is newer.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export const root = join(import.meta.dirname, '..', '..');
export const binary = join(root, 'dist', 'linux-amd64', 'kubectl-zerolossupgrade');

function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newest(join(path, f))));
}

export function ensureBinary(): string {
  const inputs = ['src', 'package.json', 'package-lock.json', 'scripts/build.mjs'].map((p) => newest(join(root, p)));
  if (!existsSync(binary) || Math.max(...inputs) > statSync(binary).mtimeMs) {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--target', 'linux-amd64'], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return binary;
}

/** The e2e control plane's environment (KUBECONFIG, PATH, ...), bringing it up first if asked. */
export function cluster(step: 'up' | 'env' | 'down' | 'bin', quiet = false): string {
  return execFileSync(join(root, 'scripts', 'e2e-cluster.sh'), [step], { encoding: 'utf8', stdio: ['ignore', 'pipe', quiet ? 'ignore' : 'inherit'] });
}

export function clusterEnv(quiet = false): Record<string, string> {
  return Object.fromEntries([...cluster('env', quiet).matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
}

export function clusterIsUp(): boolean {
  try {
    const env = clusterEnv(true);
    execFileSync(join(cluster('bin').trim(), 'kubectl'), ['--kubeconfig', env.KUBECONFIG!, 'get', '--raw', '/readyz'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * What a benchmark starts with: the binary built, the control plane up (started here when it was
 * not, and then stopped again by `release`), its environment and an administrator's kubeconfig.
 */
export function benchCluster(): { env: Record<string, string>; kc: KubeConfig; release(): void } {
  ensureBinary();
  const own = !clusterIsUp();
  if (own) cluster('up');
  const env = clusterEnv();
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG!);
  return { env, kc, release: () => void (own && cluster('down')) };
}

/** Runs a program to its end: its exit code, output and wall time (benchmarks; a failure is an answer). */
export function runProgram(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(file, args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, ms: performance.now() - started }),
    );
  });
}
