// Loss scenarios under load, shared by the e2e tests and `npm run bench:loss`. Each runs in a
// namespace of its own: a StatefulSet behind a direct-access LoadBalancer Service, load through the
// simulated CLB, then an upgrade done one way or another.
import { AppsV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Service, type V1StatefulSet } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Simulator } from './index.js';
import { DEFAULT_LOAD, runLoad, type LoadOptions, type LoadReport } from './load.js';
import { DIRECT_ACCESS, LOADBALANCE_ID } from './controller.js';

export interface Workload {
  namespace: string;
  name: string;
  replicas: number;
  strategy: 'OnDelete' | 'RollingUpdate';
  /** Service ports: port -> container (target) port. */
  ports: { port: number; targetPort: number }[];
  image: string;
  terminationGracePeriodSeconds: number;
  minReadySeconds?: number;
}

export function statefulSet(w: Workload): V1StatefulSet {
  const labels = { app: w.name };
  return {
    metadata: { name: w.name, namespace: w.namespace, labels },
    spec: {
      replicas: w.replicas,
      // A pod counts as available only after it has been Ready this long, as a cautious owner sets
      // it; RollingUpdate waits for it between pods.
      minReadySeconds: w.minReadySeconds ?? 0,
      podManagementPolicy: 'Parallel',
      serviceName: w.name,
      selector: { matchLabels: labels },
      updateStrategy: { type: w.strategy },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: w.terminationGracePeriodSeconds,
          containers: [{ name: 'app', image: w.image, ports: w.ports.map((p) => ({ name: `p${p.targetPort}`, containerPort: p.targetPort, protocol: 'TCP' })) }],
        },
      },
    },
  };
}

export function loadBalancerService(w: Workload, name = w.name, annotations: Record<string, string> = {}): V1Service {
  return {
    metadata: { name, namespace: w.namespace, labels: { app: w.name }, annotations: { [DIRECT_ACCESS]: 'true', ...annotations } },
    spec: { type: 'LoadBalancer', selector: { app: w.name }, ports: w.ports.map((p) => ({ name: `p${p.port}`, protocol: 'TCP', port: p.port, targetPort: p.targetPort })) },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

export class ScenarioEnv {
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  constructor(
    readonly kc: KubeConfig,
    readonly sim: Simulator,
  ) {
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /** Namespaces this environment created, removed by cleanup(). */
  private readonly created: string[] = [];

  async namespace(prefix: string): Promise<string> {
    const name = `${prefix}-${randomBytes(3).toString('hex')}`;
    await this.core.createNamespace({ body: { metadata: { name } } });
    this.created.push(name);
    await until('the default ServiceAccount', 30_000, () => this.core.readNamespacedServiceAccount({ name: 'default', namespace: name }).catch(() => undefined));
    return name;
  }

  /** Deletes the namespaces it created (without waiting for them to go), so later runs start light. */
  async cleanup(): Promise<void> {
    await Promise.all(this.created.splice(0).map((name) => this.core.deleteNamespace({ name }).catch(() => undefined)));
  }

  /** Creates the workload and its Service; waits until every pod serves and the CLB has them all at weight 10. */
  async deploy(w: Workload): Promise<{ vip: string; lbId: string }> {
    await this.apps.createNamespacedStatefulSet({ namespace: w.namespace, body: statefulSet(w) });
    await this.core.createNamespacedService({ namespace: w.namespace, body: loadBalancerService(w) });
    return this.serving(w);
  }

  async serving(w: Workload, service = w.name): Promise<{ vip: string; lbId: string }> {
    return until(`${w.namespace}/${service} serving on the CLB`, 60_000, async () => {
      const svc = await this.core.readNamespacedService({ name: service, namespace: w.namespace });
      const lbId = svc.metadata?.annotations?.[LOADBALANCE_ID];
      const vip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
      const lb = lbId ? this.sim.clb.loadBalancers.get(lbId) : undefined;
      if (!lb || !vip) return undefined;
      const ok = lb.listeners.length === w.ports.length && lb.listeners.every((l) => l.targets.length === w.replicas && l.targets.every((t) => t.weight > 0 && this.sim.clb.isHealthy(t.ip, t.port)));
      return ok ? { vip, lbId: lb.id } : undefined;
    });
  }

  async setImage(w: Workload, image: string): Promise<void> {
    await this.apps.patchNamespacedStatefulSet(
      { name: w.name, namespace: w.namespace, body: { spec: { template: { spec: { containers: [{ name: 'app', image }] } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
  }

  /** Every pod exists, is Ready and runs `image`. */
  async rolledOut(w: Workload, image: string, timeoutMs = 120_000): Promise<void> {
    await until(`${w.namespace}/${w.name} on ${image}`, timeoutMs, async () => {
      const pods = (await this.core.listNamespacedPod({ namespace: w.namespace, labelSelector: `app=${w.name}` })).items;
      return pods.length === w.replicas && pods.every((p) => !p.metadata?.deletionTimestamp && p.spec?.containers[0]?.image === image && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    });
  }

  async deletePodAndWait(w: Workload, ordinal: number): Promise<void> {
    const name = `${w.name}-${ordinal}`;
    const old = await this.core.readNamespacedPod({ name, namespace: w.namespace });
    await this.core.deleteNamespacedPod({ name, namespace: w.namespace });
    await until(`${name} recreated`, 60_000, async () => {
      const p = await this.core.readNamespacedPod({ name, namespace: w.namespace }).catch(() => undefined);
      return p && p.metadata?.uid !== old.metadata?.uid && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    });
  }
}

export interface LossRun {
  name: string;
  sent: number;
  succeeded: number;
  failed: number;
  failures: LoadReport['failures'];
  seconds: number;
}

// Clients that open connections often (20 connections living 1 s) and a few that hold on (10 s).
export const BENCH_LOAD: Omit<LoadOptions, 'host' | 'port'> = { ...DEFAULT_LOAD, rate: 100, connections: 20, connectionLifetimeMs: 1000, longLived: 2, longLivedLifetimeMs: 10_000, durationMs: 600_000 };

/** Runs `upgrade` under load through the workload's CLB and reports what the clients saw. */
export async function underLoad(env: ScenarioEnv, name: string, w: Workload, upgrade: (vip: string) => Promise<void>, load = BENCH_LOAD): Promise<LossRun> {
  const { vip } = await env.serving(w);
  const run = runLoad({ ...load, host: vip, port: w.ports[0]!.port });
  const started = Date.now();
  try {
    await sleep(2000);
    await upgrade(vip);
    await sleep(2000);
  } finally {
    run.stop();
  }
  const r = await run.done;
  return { name, sent: r.sent, succeeded: r.succeeded, failed: r.failed, failures: r.failures, seconds: Math.round((Date.now() - started) / 100) / 10 };
}

export function baselineWorkload(namespace: string, strategy: Workload['strategy']): Workload {
  return { namespace, name: 'gw', replicas: 5, strategy, ports: [{ port: 80, targetPort: 8080 }], image: 'gateway:v1', terminationGracePeriodSeconds: 5, minReadySeconds: 3 };
}

/** Baseline (a): the StatefulSet controller's own RollingUpdate. */
export async function rollingUpdateBaseline(env: ScenarioEnv): Promise<LossRun> {
  const w = baselineWorkload(await env.namespace('rolling'), 'RollingUpdate');
  await env.deploy(w);
  return underLoad(env, 'rolling-update', w, async () => {
    await env.setImage(w, 'gateway:v2');
    await env.rolledOut(w, 'gateway:v2');
  });
}

/** Baseline (b): OnDelete, each pod deleted without draining it first. */
export async function deleteWithoutDrainBaseline(env: ScenarioEnv): Promise<LossRun> {
  const w = baselineWorkload(await env.namespace('nodrain'), 'OnDelete');
  await env.deploy(w);
  return underLoad(env, 'ondelete-without-drain', w, async () => {
    await env.setImage(w, 'gateway:v2');
    for (let i = 0; i < w.replicas; i++) {
      await env.deletePodAndWait(w, i);
      await sleep(3000); // the operator looks at the new pod before the next, as in the manual procedure
    }
  });
}

export type PluginRunner = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/**
 * The plugin's own walk, driven with --yes. By default each batch drains longer than any client
 * connection lives; `drain` may instead let the drain evidence decide (--require-evidence).
 */
export async function zeroLossWalk(env: ScenarioEnv, plugin: PluginRunner, drain = ['--min-drain', '15s'], name = 'zerolossupgrade'): Promise<LossRun> {
  const w = baselineWorkload(await env.namespace('walk'), 'OnDelete');
  await env.deploy(w);
  const step = async (args: string[]) => {
    const r = await plugin([...args, '-n', w.namespace]);
    if (r.code !== 0) throw new Error(`kubectl zerolossupgrade ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
  };
  return underLoad(env, name, w, async () => {
    await step(['start', w.name, '--image', 'app=gateway:v2']);
    await step(['next', w.name, '--yes', ...drain]);
    await step(['finish', w.name, '--yes', ...drain]);
    await env.rolledOut(w, 'gateway:v2');
  });
}
