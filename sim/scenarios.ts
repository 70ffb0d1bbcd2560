// Loss scenarios under load, shared by the e2e tests and `npm run bench:loss`. Each runs in a
// namespace of its own: a StatefulSet behind a direct-access LoadBalancer Service, load through the
// simulated CLB, then an upgrade done one way or another.
import { AppsV1Api, CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Pod, type V1Service, type V1StatefulSet } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import type { Termination } from './backends.js';
import type { Simulator } from './index.js';
import { SIM_KUBELET_LABEL, SIM_KUBELET_VALUE, TERMINATION_ANNOTATION } from './kubelet.js';
import { RS_WEIGHT } from './lb-weights.js';
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
  /** How the application takes SIGTERM (graceful by default). */
  termination?: Termination;
}

/**
 * The workload's StatefulSet. Its pods run on the simulator's node (nodeSelector and toleration),
 * whose kubelet gives them a real lifecycle, and carry the label TKE's readiness-gate webhook sees.
 */
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
        metadata: { labels: { ...labels, [SIM_KUBELET_LABEL]: SIM_KUBELET_VALUE }, annotations: { [TERMINATION_ANNOTATION]: w.termination ?? 'graceful' } },
        spec: {
          nodeSelector: { [SIM_KUBELET_LABEL]: SIM_KUBELET_VALUE },
          tolerations: [{ key: SIM_KUBELET_LABEL, operator: 'Equal', value: SIM_KUBELET_VALUE, effect: 'NoSchedule' }],
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

  /**
   * Deletes the namespaces it created and waits (at most 2 minutes) until their pods are gone, with
   * the simulator still running: its kubelet stops the containers, so no pod is left Terminating on
   * a node nobody runs, and the next run starts on a quiet cluster.
   */
  async cleanup(): Promise<void> {
    const names = this.created.splice(0);
    await Promise.all(names.map((name) => this.core.deleteNamespace({ name }).catch(() => undefined)));
    await until('the pods of the deleted namespaces gone', 120_000, async () => {
      for (const namespace of names) {
        const pods = await this.core.listNamespacedPod({ namespace }).catch(() => undefined); // a 429 is "not yet"
        if (!pods || pods.items.length > 0) return false;
      }
      return true;
    }).catch((e: Error) => console.error(`cleanup: ${e.message}`));
  }

  /**
   * Creates the workload and its Service (the Service first, so TKE's webhook gives the pods their
   * readiness gate); waits until every pod serves and the CLB has them all at weight > 0 and healthy.
   */
  async deploy(w: Workload): Promise<{ vip: string; lbId: string }> {
    await this.core.createNamespacedService({ namespace: w.namespace, body: loadBalancerService(w) });
    await this.apps.createNamespacedStatefulSet({ namespace: w.namespace, body: statefulSet(w) });
    await this.readyCount(w, w.replicas);
    return this.serving(w);
  }

  async serving(w: Workload, service = w.name, timeoutMs = 120_000): Promise<{ vip: string; lbId: string }> {
    return until(`${w.namespace}/${service} serving on the CLB`, timeoutMs, async () => {
      const svc = await this.core.readNamespacedService({ name: service, namespace: w.namespace });
      const lbId = svc.metadata?.annotations?.[LOADBALANCE_ID];
      const vip = svc.status?.loadBalancer?.ingress?.[0]?.ip;
      const lb = lbId ? this.sim.clb.loadBalancers.get(lbId) : undefined;
      if (!lb || !vip) return undefined;
      const ok = lb.listeners.length === w.ports.length && lb.listeners.every((l) => l.targets.length === w.replicas && l.targets.every((t) => t.weight > 0 && this.sim.clb.isHealthy(lb.id, l.id, t)));
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
    await this.podsReady(w, w.replicas, `${w.namespace}/${w.name} on ${image}`, timeoutMs, (p) => p.spec?.containers[0]?.image === image);
  }

  async scale(w: Workload, replicas: number): Promise<void> {
    await this.apps.patchNamespacedStatefulSetScale({ name: w.name, namespace: w.namespace, body: { spec: { replicas } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  /** Exactly `n` pods of the workload exist, none terminating, all Ready. */
  async readyCount(w: Workload, n: number, timeoutMs = 180_000): Promise<void> {
    await this.podsReady(w, n, `${w.namespace}/${w.name}: ${n} pods Ready`, timeoutMs, () => true);
  }

  private async podsReady(w: Workload, n: number, what: string, timeoutMs: number, also: (p: V1Pod) => boolean): Promise<void> {
    await until(what, timeoutMs, async () => {
      const pods = (await this.core.listNamespacedPod({ namespace: w.namespace, labelSelector: `app=${w.name}` })).items;
      return pods.length === n && pods.every((p) => !p.metadata?.deletionTimestamp && also(p) && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    });
  }

  async deletePodAndWait(w: Workload, ordinal: number): Promise<void> {
    const name = `${w.name}-${ordinal}`;
    const old = await this.core.readNamespacedPod({ name, namespace: w.namespace });
    await this.core.deleteNamespacedPod({ name, namespace: w.namespace });
    await until(`${name} recreated`, 180_000, async () => {
      const p = await this.core.readNamespacedPod({ name, namespace: w.namespace }).catch(() => undefined);
      return p && p.metadata?.uid !== old.metadata?.uid && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    });
  }
}

export interface LossRun {
  name: string;
  sent: number;
  failed: number;
  streams: number;
  cut: number;
  seconds: number;
  failures: LoadReport['failures'];
  /** The first few failures and cuts. */
  samples: string[];
}

/**
 * The load of the loss proofs, per listener: 50 short requests/s over 10 keep-alive connections of
 * 1 s, and 3 streams each held 20 s to 90 s (longer than any fixed drain), seeded.
 */
export const BENCH_LOAD: Omit<LoadOptions, 'targets'> = { ...DEFAULT_LOAD, rate: 50, connections: 10, connectionLifetimeMs: 1000, streams: 3, streamLifetimeMs: [20_000, 90_000], durationMs: 1_800_000 };

/** Every listener of the workload's Services, by VIP. */
async function listenersOf(env: ScenarioEnv, w: Workload, services: string[]): Promise<{ host: string; port: number }[]> {
  const out: { host: string; port: number }[] = [];
  for (const name of services) {
    const { vip } = await env.serving(w, name);
    const svc = await env.core.readNamespacedService({ name, namespace: w.namespace });
    for (const p of svc.spec?.ports ?? []) out.push({ host: vip, port: p.port });
  }
  return out;
}

/**
 * Runs `upgrade` under load on every listener of the workload's Services and reports what the
 * clients saw. The load goes on until the CLB serves every pod again at its weight (however slow
 * the controller), and a little longer, so that a loss at the very end is seen too.
 */
export async function underLoad(env: ScenarioEnv, name: string, w: Workload, upgrade: () => Promise<void>, load = BENCH_LOAD, services = [w.name], minSeconds = 0): Promise<LossRun> {
  const run = runLoad({ ...load, targets: await listenersOf(env, w, services) });
  const started = Date.now();
  try {
    await sleep(3000);
    await upgrade();
    for (const s of services) await env.serving(w, s, 180_000);
    await sleep(Math.max(3000, started + minSeconds * 1000 - Date.now()));
  } finally {
    run.stop();
  }
  const r = await run.done;
  return { name, sent: r.sent, failed: r.failed, streams: r.streams, cut: r.cut, seconds: Math.round((Date.now() - started) / 100) / 10, failures: r.failures, samples: r.samples };
}

/** The workload of the loss proofs: a gateway of 5 replicas on two ports, graceful, 10 s to stop. */
export function baselineWorkload(namespace: string, strategy: Workload['strategy'], shape: Partial<Workload> = {}): Workload {
  return { namespace, name: 'gw', replicas: 5, strategy, ports: [{ port: 80, targetPort: 8080 }, { port: 443, targetPort: 8443 }], image: 'gateway:v1', terminationGracePeriodSeconds: 10, minReadySeconds: 3, ...shape };
}

/** What every scenario of one comparison shares: the load and the workload's shape. */
export interface ScenarioOptions {
  load?: Omit<LoadOptions, 'targets'>;
  workload?: Partial<Workload>;
  /** The release upgraded to (default gateway:v2). */
  image?: string;
  /** Keep the load on at least this long from its start (to compare over the same window). */
  minSeconds?: number;
}

/** Baseline: the StatefulSet controller's own RollingUpdate. */
export async function rollingUpdateBaseline(env: ScenarioEnv, { load = BENCH_LOAD, workload, image = 'gateway:v2', minSeconds = 0 }: ScenarioOptions = {}): Promise<LossRun> {
  const w = baselineWorkload(await env.namespace('rolling'), 'RollingUpdate', workload);
  await env.deploy(w);
  return underLoad(
    env,
    'rolling-update',
    w,
    async () => {
      await env.setImage(w, image);
      await env.rolledOut(w, image, 300_000);
    },
    load,
    [w.name],
    minSeconds,
  );
}

/** Baseline: OnDelete, each pod deleted without draining it first. */
export async function deleteWithoutDrainBaseline(env: ScenarioEnv, { load = BENCH_LOAD, workload }: ScenarioOptions = {}): Promise<LossRun> {
  const w = baselineWorkload(await env.namespace('nodrain'), 'OnDelete', workload);
  await env.deploy(w);
  return underLoad(
    env,
    'ondelete-without-drain',
    w,
    async () => {
      await env.setImage(w, 'gateway:v2');
      for (let i = 0; i < w.replicas; i++) {
        await env.deletePodAndWait(w, i);
        await sleep(3000); // the operator looks at the new pod before the next
      }
    },
    load,
  );
}

/**
 * The seed's own procedure (docs: zero-loss-upgrade-procedure), as a careful person scripts it:
 * new image, one replica more, then for each original ordinal: lb-rs-weight gives it weight 0 on
 * every port, a fixed 30 s look at the console, delete it, wait for it to be back and Ready, move
 * podIndexes to the next; at the end the annotation goes and the replicas come back down.
 */
export async function manualProcedure(env: ScenarioEnv, { load = BENCH_LOAD, workload }: ScenarioOptions = {}, lookMs = 30_000): Promise<LossRun> {
  const w = baselineWorkload(await env.namespace('manual'), 'OnDelete', workload);
  await env.deploy(w);
  const annotate = (value: string | null) =>
    env.core.patchNamespacedService({ name: w.name, namespace: w.namespace, body: { metadata: { annotations: { [RS_WEIGHT]: value } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  const drainOnly = (ordinal: number) =>
    JSON.stringify({ defaultWeight: 10, groups: w.ports.map((p) => ({ key: { proto: 'TCP', port: p.port }, statefulSets: [{ name: w.name, weights: [{ weight: 0, podIndexes: [ordinal] }] }] })) });
  return underLoad(
    env,
    'manual-procedure',
    w,
    async () => {
      await env.setImage(w, 'gateway:v2');
      await env.scale(w, w.replicas + 1);
      await env.readyCount(w, w.replicas + 1);
      for (let i = 0; i < w.replicas; i++) {
        await annotate(drainOnly(i));
        await sleep(lookMs);
        await env.deletePodAndWait(w, i);
      }
      await annotate(null);
      await env.scale(w, w.replicas);
      await env.readyCount(w, w.replicas);
    },
    load,
  );
}

export type PluginRunner = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

/** The plugin's walk, driven with --yes: blind (`--min-drain 15s`) unless `drain` says otherwise. */
export async function zeroLossWalk(env: ScenarioEnv, plugin: PluginRunner, drain = ['--min-drain', '15s'], name = 'zerolossupgrade-blind', { load = BENCH_LOAD, workload }: ScenarioOptions = {}): Promise<LossRun> {
  const w = baselineWorkload(await env.namespace('walk'), 'OnDelete', workload);
  await env.deploy(w);
  const step = async (args: string[]) => {
    const r = await plugin([...args, '-n', w.namespace]);
    if (r.code !== 0) throw new Error(`kubectl zerolossupgrade ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
  };
  return underLoad(
    env,
    name,
    w,
    async () => {
      await step(['start', w.name, '--image', 'app=gateway:v2']);
      await step(['next', w.name, '--yes', ...drain]);
      await step(['finish', w.name, '--yes', ...drain]);
      await env.rolledOut(w, 'gateway:v2');
    },
    load,
  );
}

/**
 * The share of 5xx among the requests of every pod on the new release (the batch and the surge)
 * over the last 10 s, as the soak gate's analysis; `or vector(0)`: no 5xx at all is no series, not
 * 0, in PromQL.
 */
export const ERROR_RATIO =
  '(sum(rate(sim_http_requests_total{namespace="$NAMESPACE",pod=~"$UPGRADED",code=~"5.."}[10s])) or vector(0)) / sum(rate(sim_http_requests_total{namespace="$NAMESPACE",pod=~"$UPGRADED"}[10s]))';

/** What soaked failures cost: 5xx served, and connection-level losses (refused, reset, timed out; streams cut). */
export const connectionLoss = (r: LossRun) => ({ failed: r.failed - (r.failures.status ?? 0), cut: r.cut });

/**
 * The plugin's walk to a release (a bad one by default), unattended with the soak gate on the
 * error ratio and --on-failure rollback (which walks back and finishes by itself), or finish after
 * a walk that passed: what users got while the gate decided.
 * The workload's first `next` result is returned beside the loss (it exits 3 when the gate held).
 */
export async function soakGateWalk(
  env: ScenarioEnv,
  plugin: PluginRunner,
  drain: string[],
  prometheus: string,
  { load = BENCH_LOAD, workload, image = 'gateway:v2-bad' }: ScenarioOptions = {},
  soak = '60s',
): Promise<{ run: LossRun; next: Awaited<ReturnType<PluginRunner>>; w: Workload }> {
  const w = baselineWorkload(await env.namespace('soakgate'), 'OnDelete', workload);
  await env.deploy(w);
  const ns = ['-n', w.namespace];
  const step = async (args: string[]) => {
    const r = await plugin([...args, ...ns]);
    if (r.code !== 0) throw new Error(`kubectl zerolossupgrade ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').pop()}`);
  };
  let next: Awaited<ReturnType<PluginRunner>> = { code: -1, stdout: '', stderr: '' };
  const run = await underLoad(
    env,
    'zerolossupgrade-soak-gate',
    w,
    async () => {
      await step(['start', w.name, '--image', `app=${image}`]);
      next = await plugin(['next', w.name, ...ns, '--yes', ...drain, '--soak', soak, '--on-failure', 'rollback', '--prometheus', prometheus, '--analysis', ERROR_RATIO, '--max', '0.01', '--analysis-interval', '2s']);
      // A failed soak walked back and finished by itself; a passed walk is finished as usual.
      if (next.code === 0) await step(['finish', w.name, '--yes', ...drain]);
    },
    load,
  );
  return { run, next, w };
}
