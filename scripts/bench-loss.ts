// Loss benchmark: the same load through the simulated CLB during each upgrade scenario, in one
// invocation. Prints a table and, as the last line, {"runs":[{"name","sent","failed",...}]}.
//   npm run bench:loss
import { KubeConfig } from '@kubernetes/client-node';
import { startSimulator } from '../sim/index.js';
import { ScenarioEnv, deleteWithoutDrainBaseline, rollingUpdateBaseline, type LossRun } from '../sim/scenarios.js';
import { cluster, clusterEnv, clusterIsUp } from '../test/support/binary.js';

async function main() {
  const ownCluster = !clusterIsUp();
  if (ownCluster) cluster('up');
  const env = clusterEnv();
  const sim = await startSimulator({ kubeconfig: env.KUBECONFIG! });
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG!);
  const scenarios = new ScenarioEnv(kc, sim);
  const runs: LossRun[] = [];
  try {
    for (const scenario of [rollingUpdateBaseline, deleteWithoutDrainBaseline]) {
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
