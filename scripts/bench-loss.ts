// Loss benchmark: the same load, the same workload and the same dice (one seed) through the
// simulated CLB during each upgrade scenario, in one invocation. Prints a table and, as the last
// line, {"runs":[{"name","sent","failed","streams","cut","seconds"}, ...]}.
//   npm run bench:loss
import { SIM_CREDENTIALS, startSimulator } from '../sim/index.js';
import { ScenarioEnv, deleteWithoutDrainBaseline, manualProcedure, rollingUpdateBaseline, zeroLossWalk, type LossRun, type PluginRunner } from '../sim/scenarios.js';
import { benchCluster, binary, runProgram } from '../test/support/binary.js';

async function main() {
  const { env, kc, release } = benchCluster();
  const runs: LossRun[] = [];
  // The plugin runs as the operator bound to docs/rbac.yaml, as a user would.
  const runner =
    (extra: Record<string, string> = {}): PluginRunner =>
    (args) =>
      runProgram(binary, args, { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: env.ZLU_OPERATOR_KUBECONFIG, ...extra });
  const withCloud = runner({ TENCENTCLOUD_SECRET_ID: SIM_CREDENTIALS.secretId, TENCENTCLOUD_SECRET_KEY: SIM_CREDENTIALS.secretKey });
  const scenarios: [string, (e: ScenarioEnv, cloudEndpoint: string) => Promise<LossRun>][] = [
    ['rolling-update', (e) => rollingUpdateBaseline(e)],
    ['ondelete-without-drain', (e) => deleteWithoutDrainBaseline(e)],
    ['manual-procedure', (e) => manualProcedure(e)],
    ['zerolossupgrade-blind', (e) => zeroLossWalk(e, runner(), ['--min-drain', '15s'], 'zerolossupgrade-blind')],
    [
      'zerolossupgrade-evidence',
      (e, endpoint) => zeroLossWalk(e, withCloud, ['--require-evidence', '--min-drain', '0s', '--drain-timeout', '5m', '--evidence-interval', '1s', '--cloud-endpoint', `http://${endpoint}`], 'zerolossupgrade-evidence'),
    ],
  ];
  const only = process.env.BENCH_LOSS_ONLY?.split(',');
  try {
    for (const [name, scenario] of scenarios) {
      if (only && !only.includes(name)) continue;
      // A simulator per scenario, each with the same seed: the same dice for every run. The
      // controller as it behaves: 2 s +-0.5 s per listener, and 1 change in 20 taking 16 s to 40 s.
      // Cloud Monitor's 60 s periods compressed to 1 s, so the evidence walk finishes in minutes.
      const sim = await startSimulator({
        kubeconfig: env.KUBECONFIG!,
        controller: { propagationDelayMs: 2000, jitterMs: 500, slowSyncRate: 0.05, slowSyncMs: [16_000, 40_000], seed: 1 },
        clb: { monitorPeriodMs: 1000 },
      });
      const scenarioEnv = new ScenarioEnv(kc, sim);
      try {
        const run = await scenario(scenarioEnv, sim.apiEndpoint);
        process.stderr.write(`bench:loss: ${run.name}: sent ${run.sent}, failed ${run.failed}; streams ${run.streams}, cut ${run.cut}; ${run.seconds}s\n`);
        for (const line of run.samples.slice(0, 5)) process.stderr.write(`  ${line}\n`);
        runs.push(run);
      } finally {
        await scenarioEnv.cleanup();
        await sim.stop();
      }
    }
  } finally {
    release();
  }
  const pad = (v: string | number, n: number) => String(v).padEnd(n);
  const pct = (a: number, b: number) => ((100 * a) / Math.max(1, b)).toFixed(2);
  console.log(`${pad('scenario', 27)}${pad('sent', 8)}${pad('failed', 8)}${pad('loss %', 8)}${pad('streams', 9)}${pad('cut', 6)}${pad('cut %', 8)}${pad('seconds', 9)}failures`);
  for (const r of runs) {
    console.log(`${pad(r.name, 27)}${pad(r.sent, 8)}${pad(r.failed, 8)}${pad(pct(r.failed, r.sent), 8)}${pad(r.streams, 9)}${pad(r.cut, 6)}${pad(pct(r.cut, r.streams), 8)}${pad(r.seconds, 9)}${JSON.stringify(r.failures)}`);
  }
  console.log(JSON.stringify({ runs: runs.map(({ name, sent, failed, streams, cut, seconds }) => ({ name, sent, failed, streams, cut, seconds })) }));
}

// Exit explicitly: client-node's informers keep sockets open after stop().
main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench:loss: ${e instanceof Error ? e.stack : e}`);
    process.exit(1);
  },
);
