// `npm run demo`: the main job without a cloud account. Brings up the local control plane and the
// TKE/CLB simulator, creates the procedure document's StatefulSet (10 replicas, OnDelete) and its
// direct-access LoadBalancer Service, puts light load on it, and says what to run next.
// Ctrl-C stops everything it started.
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { SIM_CREDENTIALS, startSimulator, type Simulator } from '../sim/index.js';
import { runLoad } from '../sim/load.js';
import { ERROR_RATIO, ScenarioEnv, loadBalancerService, statefulSet, type Workload } from '../sim/scenarios.js';
import { binary, cluster, clusterEnv, clusterIsUp, ensureBinary } from '../test/support/binary.js';

const NAMESPACE = 'demo';
const HOUR = 3_600_000;

async function main() {
  const say = (s: string) => process.stderr.write(`demo: ${s}\n`);
  say('building the plugin (linux/amd64) if the source changed');
  ensureBinary();
  const ownCluster = !clusterIsUp();
  if (ownCluster) {
    say('starting the local control plane and Prometheus (the first time builds them from Go modules: about 17 minutes)');
    cluster('up');
  }
  const env = clusterEnv();
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG!);
  // Cloud Monitor's 60 s periods shortened to 5 s, so the drain evidence settles in seconds.
  // The cluster's Prometheus scrapes the demo's pods (for the soak gate's analyses).
  const targets = env.ZLU_PROMETHEUS_TARGETS && existsSync(env.ZLU_PROMETHEUS_TARGETS) ? { targetsFile: join(env.ZLU_PROMETHEUS_TARGETS, 'demo.json') } : {};
  const sim = await startSimulator({ kubeconfig: env.KUBECONFIG!, apiPort: Number(process.env.ZLU_SIM_API_PORT ?? 0), clb: { monitorPeriodMs: 5000 }, backends: targets });
  const cleanup = async () => {
    await sim.stop();
    if (ownCluster) cluster('down');
  };
  try {
    await run(kc, sim, env, ownCluster, cleanup);
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function run(kc: KubeConfig, sim: Simulator, env: Record<string, string>, ownCluster: boolean, cleanup: () => Promise<void>) {
  const say = (s: string) => process.stderr.write(`demo: ${s}\n`);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const scenarios = new ScenarioEnv(kc, sim);

  const w: Workload = { namespace: NAMESPACE, name: 'nginx', replicas: 10, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 80 }], image: 'nginx:1.25.3', terminationGracePeriodSeconds: 30 };
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch(() => undefined);
  const exists = await apps.readNamespacedStatefulSet({ name: w.name, namespace: NAMESPACE }).then(() => true, () => false);
  if (!exists) {
    say('creating StatefulSet demo/nginx (10 replicas, OnDelete) and its direct-access LoadBalancer Service');
    await apps.createNamespacedStatefulSet({ namespace: NAMESPACE, body: statefulSet(w) });
    await core.createNamespacedService({ namespace: NAMESPACE, body: loadBalancerService(w) });
  }
  const { vip, lbId } = await scenarios.serving(w);
  // Light, bounded load: 20 requests/s for at most two hours.
  const load = runLoad({ targets: [{ host: vip, port: 80 }], rate: 20, connections: 4, connectionLifetimeMs: 5000, streams: 1, streamLifetimeMs: [20_000, 60_000], durationMs: 2 * HOUR, maxRequests: 200_000, requestTimeoutMs: 3000 });
  const bin = relative(process.cwd(), binary) || binary;
  // The simulator's made-up credentials go to a file only the user can read, not to the screen.
  const cloudEnv = join(mkdtempSync(join(tmpdir(), 'zlu-demo-')), 'cloud.env');
  writeFileSync(cloudEnv, `export TENCENTCLOUD_SECRET_ID=${SIM_CREDENTIALS.secretId}\nexport TENCENTCLOUD_SECRET_KEY=${SIM_CREDENTIALS.secretKey}\n`, { mode: 0o600 });
  console.log(`
The demo is running: StatefulSet ${NAMESPACE}/nginx behind CLB ${lbId} (VIP ${vip}:80), 20 requests/s.

In another shell:
  export KUBECONFIG=${env.ZLU_OPERATOR_KUBECONFIG}   # the operator, with docs/rbac.yaml's permissions
  export PATH=${env.PATH!.split(':')[0]}:$PATH        # kubectl matching the cluster
  ${bin} status nginx -n ${NAMESPACE}
  ${bin} start nginx -n ${NAMESPACE} --image app=nginx:1.25.4
  ${bin} next nginx -n ${NAMESPACE}
  ${bin} finish nginx -n ${NAMESPACE}
  kubectl -n ${NAMESPACE} get statefulset,pods,service -o wide

With the drain evidence (the simulated Tencent Cloud API, read through the official SDK):
  source ${cloudEnv}
  ${bin} next nginx -n ${NAMESPACE} --cloud-endpoint http://${sim.apiEndpoint}
  ${bin} next nginx -n ${NAMESPACE} --cloud-endpoint http://${sim.apiEndpoint} --yes --require-evidence --min-drain 0s

With the soak gate (the local Prometheus scrapes every pod; an image ending in -bad answers every
20th request with 500 while its health checks pass):
  ${bin} start nginx -n ${NAMESPACE} --image app=nginx:1.25.4-bad
  ${bin} next nginx -n ${NAMESPACE} --yes --min-drain 10s --soak 1m --on-failure rollback --prometheus ${env.ZLU_PROMETHEUS_URL} --analysis '${ERROR_RATIO}' --max 0.01
Ctrl-C here stops the load, the simulator${ownCluster ? ' and the control plane' : ''}.
`);
  const ticker = setInterval(() => {
    const r = load.report();
    say(`load: sent ${r.sent}, failed ${r.failed}; streams ${r.streams}, cut ${r.cut}`);
  }, 30_000);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    clearInterval(ticker);
    say('stopping');
    load.stop();
    const r = await load.done;
    say(`load: sent ${r.sent}, failed ${r.failed}; streams ${r.streams}, cut ${r.cut}`);
    await cleanup();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  await load.done;
  await stop();
}

// Exit explicitly: client-node's informers keep sockets open after stop().
main().then(
  () => process.exit(0),
  (e) => {
    console.error(`demo: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  },
);
