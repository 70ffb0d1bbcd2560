// Helpers for e2e tests: admin clients for setup and checks, the built binary for the plugin itself.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1StatefulSet } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, inject } from 'vitest';
import type { PodDeletion } from '../../sim/controller.js';
import type { BackendOptions } from '../../sim/backends.js';
import type { ClbOptions } from '../../sim/clb.js';
import type { ControllerOptions } from '../../sim/controller.js';
import { startSimulator, type Simulator } from '../../sim/index.js';
import { ScenarioEnv } from '../../sim/scenarios.js';

export { binary, root } from '../support/binary.js';
import { binary } from '../support/binary.js';

export function adminClients() {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('adminKubeconfig'));
  return { kc, apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api) };
}

/** Polls until `check` returns a value (not undefined/false), at most `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function createNamespace(core: CoreV1Api, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

export function statefulSetManifest(name: string, opts: { replicas?: number; image?: string; strategy?: 'OnDelete' | 'RollingUpdate'; ports?: number[] } = {}): V1StatefulSet {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, labels },
    spec: {
      replicas: opts.replicas ?? 3,
      podManagementPolicy: 'Parallel',
      serviceName: name,
      selector: { matchLabels: labels },
      updateStrategy: { type: opts.strategy ?? 'OnDelete' },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: 'app', image: opts.image ?? 'nginx:1.25.3', ports: (opts.ports ?? [80]).map((p) => ({ containerPort: p, protocol: 'TCP' })) }],
          terminationGracePeriodSeconds: 5,
        },
      },
    },
  };
}

/** Waits until every replica is Running and Ready at one revision; returns the pods. */
export async function waitForRollout(ns: string, name: string, timeoutMs = 90_000) {
  const { apps, core } = adminClients();
  return waitFor(`${ns}/${name} ready`, async () => {
    const sts = await apps.readNamespacedStatefulSet({ name, namespace: ns });
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${name}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
    const ready = pods.filter((p) => p.status?.phase === 'Running' && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return ready.length === sts.spec?.replicas && pods.length === ready.length ? { sts, pods } : undefined;
  }, timeoutMs);
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built binary as the restricted operator unless another kubeconfig is given. */
export function runPlugin(args: string[], opts: { kubeconfig?: string; env?: Record<string, string>; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', KUBECONFIG: opts.kubeconfig ?? inject('operatorKubeconfig'), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** Starts the simulator for the tests of one file (before all, stopped after all). */
export function useSimulator(controller: Partial<ControllerOptions>, clb: Partial<ClbOptions> = {}, backends: Partial<BackendOptions> = {}): { sim: Simulator; env: ScenarioEnv } {
  const ctx = {} as { sim: Simulator; env: ScenarioEnv };
  beforeAll(async () => {
    ctx.sim = await startSimulator({ kubeconfig: inject('adminKubeconfig'), controller, clb, backends });
    ctx.env = new ScenarioEnv(adminClients().kc, ctx.sim);
  });
  // Each file's workloads go with it: the simulator of the next file watches every namespace.
  afterAll(async () => {
    await ctx.env?.cleanup();
    await ctx.sim?.stop();
  });
  return ctx;
}

/** Runs the binary and SIGKILLs it as soon as `marker` shows on stderr; resolves whether it was killed. */
export function runUntil(args: string[], marker: string): Promise<{ killed: boolean; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', KUBECONFIG: inject('operatorKubeconfig') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!killed && stderr.includes(marker)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stdout.resume();
    child.on('close', (code) => resolve({ killed, stderr, code }));
  });
}

/** Runs a command on a pty; each time `expect` shows up in the output, types `keys`. */
export function onTerminal(args: string[], script: [RegExp, string][], env: Record<string, string>): Promise<{ code: number | null; screen: string; closedAt: number; errorAt?: number }> {
  return new Promise((resolve) => {
    const quoted = [binary, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const child = spawn('script', ['-qfec', quoted, '/dev/null'], { env: { ...env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let step = 0;
    const plain = () => screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
    let errorAt: number | undefined;
    child.stdout.on('data', (d) => {
      screen += d;
      if (errorAt === undefined && /^error: /m.test(plain())) errorAt = Date.now();
      const next = script[step];
      if (next && next[0].test(plain())) {
        step++;
        setTimeout(() => child.stdin.write(next[1]), 100);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen: plain(), closedAt: Date.now(), errorAt });
    });
  });
}

/**
 * The deletion audit: exactly these pods were deleted (a name twice if deleted twice), and each
 * had, the moment its deletion was seen, a target on every listener of every Service that selects
 * it (`listeners`: "service port"), each at weight 0 and, unless `connections` is false, with no
 * connection open. Never vacuous: the list of deletions is compared whole.
 */
export function expectDeletionsDrained(deletions: PodDeletion[], pods: string[], listeners: string[], opts: { connections?: boolean } = {}) {
  expect(deletions.map((d) => d.pod).sort()).toEqual([...pods].sort());
  expect(listeners.length).toBeGreaterThan(0);
  for (const d of deletions) {
    expect(d.late, `${d.pod}: the audit saw this deletion only after the pod was gone`).toBeUndefined();
    // The audit names Services namespace/name.
    expect(d.weights.map((x) => `${x.service.split('/').pop()} ${x.port}`).sort(), JSON.stringify(d)).toEqual([...listeners].sort());
    for (const x of d.weights) {
      expect({ pod: d.pod, ...x }).toEqual({ pod: d.pod, ...x, weight: 0 });
      if (opts.connections !== false) expect({ pod: d.pod, ...x }).toEqual({ pod: d.pod, ...x, connections: 0 });
    }
  }
}
