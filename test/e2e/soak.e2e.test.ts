// The soak gate against the real control plane, the simulator and a real Prometheus (built from Go
// modules, scraping every simulated pod's request counters by status code). A release whose image
// ends in -bad answers every 20th request with 500 while its health checks pass: only the metrics
// can tell. Unattended walks to it and to a good release, a Prometheus that is down, a query with
// no series, and a kill during a soak. The surge pods run the new release first, so the first soak
// is theirs, before any pod is drained.
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { BENCH_LOAD, ERROR_RATIO, baselineWorkload, connectionLoss, rollingUpdateBaseline, soakGateWalk, underLoad, type Workload } from '../../sim/scenarios.js';
import { SIM_CREDENTIALS } from '../../sim/index.js';
import { decodeHistory, historyConfigMapName, type HistoryEntry } from '../../src/core/history.js';
import { decodeRecord } from '../../src/core/upgrade.js';
import { adminClients, expectDeletionsDrained, runPlugin, runUntil, useSimulator } from './support.js';

const RECORD = 'zerolossupgrade.io/upgrade';
describe('the soak gate', () => {
  const ctx = useSimulator({ propagationDelayMs: 1000, jitterMs: 300 }, { monitorPeriodMs: 1000 }, { targetsFile: join(inject('prometheusTargets'), `soak-${process.pid}.json`) });
  const { apps, core } = adminClients();
  const prometheus = inject('prometheusUrl');
  const withCloud = (args: string[]) => runPlugin(args, { env: { TENCENTCLOUD_SECRET_ID: SIM_CREDENTIALS.secretId, TENCENTCLOUD_SECRET_KEY: SIM_CREDENTIALS.secretKey } });
  const evidence = () => ['--require-evidence', '--min-drain', '0s', '--drain-timeout', '3m', '--evidence-interval', '1s', '--cloud-endpoint', `http://${ctx.sim.apiEndpoint}`];
  const analysis = (query = ERROR_RATIO) => ['--prometheus', prometheus, '--analysis', query, '--max', '0.01', '--analysis-interval', '2s'];
  const record = async (w: Workload) => {
    const text = (await apps.readNamespacedStatefulSet({ name: w.name, namespace: w.namespace })).metadata?.annotations?.[RECORD];
    return text ? decodeRecord(text) : undefined;
  };
  const history = async (w: Workload): Promise<HistoryEntry[]> => decodeHistory((await core.readNamespacedConfigMap({ name: historyConfigMapName(w.name), namespace: w.namespace })).data).entries;
  const deletions = (w: Workload) => ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace);
  const events = async (w: Workload) => (await core.listNamespacedEvent({ namespace: w.namespace, fieldSelector: `involvedObject.kind=StatefulSet,involvedObject.name=${w.name}` })).items;
  const ok = (r: { code: number; stderr: string }, what: string) => expect(r.code, `${what}:\n${r.stderr}`).toBe(0);

  it('to a bad release, unattended with --on-failure rollback: the surge pod\'s soak fails on the error ratio before any pod is drained, and the walk goes back without losing a connection', async () => {
    const shared = { load: { ...BENCH_LOAD, streamLifetimeMs: [10_000, 40_000] as [number, number] }, workload: { replicas: 3 } };
    const { run: walk, next, w } = await soakGateWalk(ctx.env, withCloud, evidence(), prometheus, shared);
    await ctx.env.rolledOut(w, 'gateway:v1');
    // The same bad release by the StatefulSet controller's RollingUpdate, under the same load for as long.
    const rolling = await rollingUpdateBaseline(ctx.env, { ...shared, image: 'gateway:v2-bad', minSeconds: walk.seconds });
    console.log(JSON.stringify({ soak: walk, rollingToBad: rolling }));

    // The gate failed on the analysis, walked back by itself, and says so with exit 3.
    expect(next.code, next.stderr).toBe(3);
    expect(next.stderr).toMatch(/soak of the surge pods gw-3 FAILED after \d+s: analysis 1: .*\(<= 0\.01\)/);
    expect(next.stderr).toContain('--on-failure rollback: walking "gw" back now');
    expect(next.stderr).toMatch(/rolled back/);
    // Zero connection-level loss: no refused, reset or timed-out request and no cut stream; the 5xx are the release's own.
    expect(connectionLoss(walk), walk.samples.join('\n')).toEqual({ failed: 0, cut: 0 });
    expect(walk.failures.status ?? 0).toBeGreaterThan(0);
    expect(rolling.failures.status ?? 0).toBeGreaterThan(walk.failures.status ?? 0);
    // No original pod was ever drained or deleted; only the surge pod left, at finish, drained with no connection open.
    expectDeletionsDrained(deletions(w), ['gw-3'], ['gw 80', 'gw 443']);
    // On record: the failed soak with its reading, and the rollback triggered by it; no batch walked either way.
    const [entry] = await history(w);
    expect(entry).toMatchObject({ outcome: 'rolled back', rollback: { trigger: 'soak' }, surgeSoak: { outcome: 'failed' } });
    expect(entry!.surgeSoak!.readings[0]).toMatch(/^analysis 1: .*\(<= 0\.01\)$/);
    expect(entry!.batches).toEqual([]);
    const reasons = (await events(w)).map((e) => `${e.type} ${e.reason}`);
    expect(reasons).toContain('Warning SoakFailed');
    expect(reasons).toContain('Normal RolledBack');
    expect(await record(w)).toBeUndefined();
  }, 900_000);

  // Independent of each other and light enough to share the machine: run side by side.
  it.concurrent('to a good release: every batch passes its soak and the walk finishes', async () => {
    const w: Workload = { ...baselineWorkload(await ctx.env.namespace('soakgood'), 'OnDelete', { replicas: 2 }), ports: [{ port: 80, targetPort: 8080 }] };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    const walk = await underLoad(ctx.env, 'zerolossupgrade-soak-good', w, async () => {
      ok(await runPlugin(['start', w.name, ...ns, '--image', 'app=gateway:v2', '--soak', '20s']), 'start');
      const next = await withCloud(['next', w.name, ...ns, '--yes', ...evidence(), ...analysis()]);
      ok(next, 'next');
      expect(next.stderr.match(/soak of [\w -]+ passed after/g)).toEqual(['soak of the surge pods gw-2 passed after', 'soak of gw-0 passed after', 'soak of gw-1 passed after']);
      ok(await withCloud(['finish', w.name, ...ns, '--yes', ...evidence()]), 'finish');
    }, { ...BENCH_LOAD, streamLifetimeMs: [10_000, 40_000] });
    expect({ failed: walk.failed, cut: walk.cut }, walk.samples.join('\n')).toEqual({ failed: 0, cut: 0 });
    const [entry] = await history(w);
    expect(entry!.outcome).toBe('finished');
    expect(entry!.surgeSoak).toMatchObject({ outcome: 'passed' });
    expect(entry!.batches.map((b) => [b.ordinals, b.soak?.outcome, b.soak && b.soak.seconds >= 20])).toEqual([
      ['0', 'passed', true],
      ['1', 'passed', true],
    ]);
    // The reading that passed it is the analysis's value, not a default.
    for (const b of entry!.batches) expect(b.soak!.readings.find((r) => r.startsWith('analysis 1:'))).toMatch(/^analysis 1: 0 \(<= 0\.01\)$/);
  }, 600_000);

  it.concurrent('a Prometheus that is down, or a query with no series, fails an unattended soak as unknown: nothing more is drained', async () => {
    const walkTo = async (prefix: string, prom: string[]) => {
      const w: Workload = { ...baselineWorkload(await ctx.env.namespace(prefix), 'OnDelete', { replicas: 2 }), ports: [{ port: 80, targetPort: 8080 }], terminationGracePeriodSeconds: 2 };
      await ctx.env.deploy(w);
      const ns = ['-n', w.namespace];
      ok(await runPlugin(['start', w.name, ...ns, '--image', 'app=gateway:v2']), 'start');
      const next = await runPlugin(['next', w.name, ...ns, '--yes', '--min-drain', '2s', '--soak', '8s', ...prom]);
      return { w, next };
    };
    const [down, empty] = await Promise.all([
      walkTo('soakdown', ['--prometheus', 'http://127.0.0.1:9', '--analysis', ERROR_RATIO, '--max', '0.01', '--analysis-interval', '2s']),
      walkTo('soaknone', [...analysis('sum(rate(no_such_metric_total{pod=~"$PODS"}[10s]))')]),
    ]);
    for (const [{ w, next }, why] of [
      [down, /analysis 1: query failed: http:\/\/127\.0\.0\.1:9 did not answer/],
      [empty, /analysis 1: no series/],
    ] as const) {
      expect(next.code, next.stderr).toBe(3);
      expect(next.stderr).toMatch(/unknown, which never passes a soak/);
      expect(next.stderr).toMatch(why);
      // The surge pod's soak failed: no pod drained or deleted; the failure is on record.
      expect(deletions(w).map((d) => d.pod)).toEqual([]);
      const r = (await record(w))!;
      expect(r.batches.map((b) => b.phase)).toEqual(['pending', 'pending']);
      expect(r.soak?.batch).toBe(-1);
      expect(r.soak?.failed?.reason).toMatch(why);
      // Run again unattended, it still refuses: a failed soak is not retried into a pass by itself.
      const again = await runPlugin(['next', w.name, '-n', w.namespace, '--yes', '--min-drain', '2s']);
      expect(again.code).toBe(3);
      expect(again.stderr).toMatch(/did not pass/);
      expect(deletions(w).map((d) => d.pod)).toEqual([]);
      const finish = await runPlugin(['finish', w.name, '-n', w.namespace, '--yes', '--min-drain', '2s']);
      expect(finish.code).toBe(3);
      expect(finish.stderr).toMatch(/the soak of the surge pods gw-2 failed/);
    }
  }, 600_000);

  it.concurrent('killed during a soak and run again: the soak goes on for the time left, not from the start', async () => {
    const w: Workload = { ...baselineWorkload(await ctx.env.namespace('soakkill'), 'OnDelete', { replicas: 2 }), ports: [{ port: 80, targetPort: 8080 }], terminationGracePeriodSeconds: 2 };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    ok(await runPlugin(['start', w.name, ...ns, '--image', 'app=gateway:v2', '--soak', '30s']), 'start');
    const killed = await runUntil(['next', w.name, ...ns, '--yes', '--min-drain', '2s'], 'soak of the surge pods gw-2:');
    expect(killed.killed, killed.stderr).toBe(true);
    const soak = (await record(w))!.soak!;
    expect(soak).toMatchObject({ batch: -1, ms: 30_000 });
    expect(soak.failed).toBeUndefined();
    await new Promise((r) => setTimeout(r, 10_000));
    const rerunAt = Date.now();
    // Run again, and stopped once that soak passed (it is on record by then).
    const rerun = await runUntil(['next', w.name, ...ns, '--yes', '--min-drain', '2s'], 'soak of the surge pods gw-2 passed');
    const passedAt = Date.now();
    expect(rerun.killed, rerun.stderr).toBe(true);
    // It said how much was left of the recorded 30 s, waited about that long, and passed it when it was due.
    const left = Number(/Soak of the surge pods gw-2: (\d+)s left of 30s/.exec(rerun.stderr)?.[1]);
    expect(left).toBeGreaterThan(5);
    expect(left).toBeLessThan(22);
    expect(passedAt).toBeGreaterThanOrEqual(Date.parse(soak.startedAt) + 30_000);
    expect(passedAt - rerunAt).toBeLessThan(left * 1000 + 8000);
    const r = (await record(w))!;
    expect(r.soak).toBeUndefined();
    expect(r.batches.map((b) => b.phase)).toEqual(['pending', 'pending']);
    expect(r.surgeSoaked).toBe(true);
    const passed = (await history(w))[0]!.surgeSoak!;
    expect(passed.outcome).toBe('passed');
    expect(passed.seconds).toBeGreaterThanOrEqual(30);
    expect(passed.seconds).toBeLessThan(40);
  }, 300_000);
});
