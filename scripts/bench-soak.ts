// Soak-gate benchmark: the blast radius of a bad release (every 20th request answers 500, health
// checks pass). The StatefulSet controller's RollingUpdate to it is the baseline; the plugin's walk
// with the soak gate on an error-ratio analysis and --on-failure rollback is measured under the same
// load and seed, in one invocation, against the real Prometheus of the e2e cluster: each run until
// its upgrade is over (rolled out; rolled back and finished), the baseline at least as long as the
// walk. Prints a table, the ratio, and as the last line {"runs":[...],"ratio5xx":N}.
//   npm run bench:soak
import { join } from 'node:path';
import { SIM_CREDENTIALS, startSimulator } from '../sim/index.js';
import { BENCH_LOAD, ScenarioEnv, connectionLoss, rollingUpdateBaseline, soakGateWalk, type LossRun } from '../sim/scenarios.js';
import { benchCluster, binary, runProgram } from '../test/support/binary.js';

async function main() {
  const { env, kc, release } = benchCluster();
  const plugin = (args: string[]) =>
    runProgram(binary, args, { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: env.ZLU_OPERATOR_KUBECONFIG, TENCENTCLOUD_SECRET_ID: SIM_CREDENTIALS.secretId, TENCENTCLOUD_SECRET_KEY: SIM_CREDENTIALS.secretKey });
  const shared = { load: { ...BENCH_LOAD, streamLifetimeMs: [10_000, 40_000] as [number, number] }, workload: { replicas: 5 } };
  const sim = await startSimulator({
    kubeconfig: env.KUBECONFIG!,
    controller: { propagationDelayMs: 2000, jitterMs: 500, seed: 1 },
    clb: { monitorPeriodMs: 1000 },
    backends: { targetsFile: join(env.ZLU_PROMETHEUS_TARGETS!, `bench-soak-${process.pid}.json`) },
  });
  const scenarioEnv = new ScenarioEnv(kc, sim);
  const runs: LossRun[] = [];
  let gate = '';
  try {
    const evidence = ['--require-evidence', '--min-drain', '0s', '--drain-timeout', '5m', '--evidence-interval', '1s', '--cloud-endpoint', `http://${sim.apiEndpoint}`];
    const { run, next } = await soakGateWalk(scenarioEnv, plugin, evidence, env.ZLU_PROMETHEUS_URL!, shared);
    gate = next.stderr.split('\n').find((l) => l.includes('FAILED')) ?? `next exited ${next.code} without a failed soak`;
    runs.push(run);
    runs.push(await rollingUpdateBaseline(scenarioEnv, { ...shared, image: 'gateway:v2-bad', minSeconds: run.seconds }));
  } finally {
    await scenarioEnv.cleanup();
    await sim.stop();
    release();
  }
  const pad = (v: string | number, n: number) => String(v).padEnd(n);
  console.log(`gate: ${gate.trim()}`);
  console.log(`${pad('scenario', 28)}${pad('sent', 8)}${pad('5xx', 7)}${pad('5xx %', 8)}${pad('5xx/s', 8)}${pad('conn. lost', 12)}${pad('cut', 6)}seconds`);
  const perSecond = (r: LossRun) => (r.failures.status ?? 0) / Math.max(1, r.seconds);
  for (const r of runs) {
    const lost = connectionLoss(r);
    console.log(`${pad(r.name, 28)}${pad(r.sent, 8)}${pad(r.failures.status ?? 0, 7)}${pad(((100 * (r.failures.status ?? 0)) / Math.max(1, r.sent)).toFixed(2), 8)}${pad(perSecond(r).toFixed(2), 8)}${pad(lost.failed, 12)}${pad(lost.cut, 6)}${r.seconds}`);
  }
  const [soak, rolling] = runs as [LossRun, LossRun];
  const ratio = (rolling.failures.status ?? 0) / Math.max(1, soak.failures.status ?? 0);
  console.log(`5xx served until each upgrade was over, RollingUpdate / soak gate, same load: ${ratio.toFixed(1)}x (per second: ${(perSecond(rolling) / Math.max(0.01, perSecond(soak))).toFixed(1)}x)`);
  console.log(JSON.stringify({ runs: runs.map((r) => ({ name: r.name, sent: r.sent, status5xx: r.failures.status ?? 0, ...connectionLoss(r), seconds: r.seconds })), ratio5xx: Number(ratio.toFixed(1)) }));
}

// Exit explicitly: client-node's informers keep sockets open after stop().
main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench:soak: ${e instanceof Error ? e.stack : e}`);
    process.exit(1);
  },
);
