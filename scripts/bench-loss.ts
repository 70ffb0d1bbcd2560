// Loss benchmark: the same load through the simulated CLB during each upgrade scenario, in one
// invocation. Prints a table and, as the last line, {"runs":[{"name","sent","failed",...}]}.
//   npm run bench:loss
import { KubeConfig } from '@kubernetes/client-node';
import { SIM_CREDENTIALS, startSimulator } from '../sim/index.js';
import { execFile } from 'node:child_process';
import { ScenarioEnv, deleteWithoutDrainBaseline, rollingUpdateBaseline, zeroLossWalk, type LossRun, type PluginRunner } from '../sim/scenarios.js';
import { binary, cluster, clusterEnv, clusterIsUp, ensureBinary } from '../test/support/binary.js';

async function main() {
  ensureBinary();
  const ownCluster = !clusterIsUp();
  if (ownCluster) cluster('up');
  const env = clusterEnv();
  // Cloud Monitor's 60 s periods compressed to 1 s, so the evidence-driven walk finishes in minutes.
  const sim = await startSimulator({ kubeconfig: env.KUBECONFIG!, clb: { monitorPeriodMs: 1000 } });
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG!);
  const scenarios = new ScenarioEnv(kc, sim);
  const runs: LossRun[] = [];
  try {
    // The plugin runs as the operator bound to docs/rbac.yaml, as a user would.
    const runner =
      (extra: Record<string, string> = {}): PluginRunner =>
      (args) =>
        new Promise((resolve) => {
          execFile(binary, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: env.ZLU_OPERATOR_KUBECONFIG, ...extra } }, (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
    const withCloud = runner({ TENCENTCLOUD_SECRET_ID: SIM_CREDENTIALS.secretId, TENCENTCLOUD_SECRET_KEY: SIM_CREDENTIALS.secretKey });
    const evidence = ['--require-evidence', '--min-drain', '0s', '--drain-timeout', '2m', '--evidence-interval', '1s', '--cloud-endpoint', `http://${sim.apiEndpoint}`];
    for (const scenario of [
      rollingUpdateBaseline,
      deleteWithoutDrainBaseline,
      (e: ScenarioEnv) => zeroLossWalk(e, runner()),
      (e: ScenarioEnv) => zeroLossWalk(e, withCloud, evidence, 'zerolossupgrade-evidence'),
    ]) {
      const run = await scenario(scenarios);
      process.stderr.write(`bench:loss: ${run.name}: sent ${run.sent}, failed ${run.failed}\n`);
      runs.push(run);
    }
  } finally {
    await sim.stop();
    if (ownCluster) cluster('down');
  }
  const pad = (s: string | number, n: number) => String(s).padEnd(n);
  console.log(`${pad('scenario', 26)}${pad('sent', 8)}${pad('failed', 8)}${pad('loss %', 9)}${pad('seconds', 9)}failures`);
  for (const r of runs) {
    console.log(`${pad(r.name, 26)}${pad(r.sent, 8)}${pad(r.failed, 8)}${pad(((100 * r.failed) / Math.max(1, r.sent)).toFixed(2), 9)}${pad(r.seconds, 9)}${JSON.stringify(r.failures)}`);
  }
  console.log(JSON.stringify({ runs }));
}

// Exit explicitly: client-node's informers keep sockets open after stop().
main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench:loss: ${e instanceof Error ? e.stack : e}`);
    process.exit(1);
  },
);
