// The drain evidence end to end: the built binary reads the simulator's fake Tencent Cloud API
// through the official SDK (credentials from the environment, the region from the nodes' labels),
// on the real control plane, with 1 s monitor periods standing in for Cloud Monitor's 60 s.
import { decodeRecord } from '../../src/core/upgrade.js';
import { afterAll, describe, expect, it } from 'vitest';
import { SIM_CREDENTIALS } from '../../sim/index.js';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { BENCH_LOAD, baselineWorkload, underLoad, type Workload } from '../../sim/scenarios.js';
import { adminClients, expectDeletionsDrained, runPlugin, useSimulator, type RunResult } from './support.js';

/** Every listener of the workload of these tests (baselineWorkload: ports 80 and 443). */
const LISTENERS = ['gw 80', 'gw 443'];

describe('drain evidence from the fake Tencent Cloud API', () => {
  const ctx = useSimulator({ propagationDelayMs: 1000, jitterMs: 200 }, { monitorPeriodMs: 1000 });
  const { apps, core } = adminClients();
  const outputs: string[] = [];
  const cloudEnv = () => ({ TENCENTCLOUD_SECRET_ID: SIM_CREDENTIALS.secretId, TENCENTCLOUD_SECRET_KEY: SIM_CREDENTIALS.secretKey });
  const cloudFlags = () => ['--cloud-endpoint', `http://${ctx.sim.apiEndpoint}`, '--evidence-interval', '1s'];

  async function plugin(args: string[], env: Record<string, string> = cloudEnv()): Promise<RunResult> {
    const r = await runPlugin(args, { env });
    outputs.push(r.stdout, r.stderr);
    return r;
  }
  const ok = async (args: string[]) => {
    const r = await plugin(args);
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const deletionsIn = (ns: string) => ctx.sim.controller.deletions.filter((d) => d.namespace === ns);
  const podUids = async (ns: string) => (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=gw' })).items.map((p) => `${p.metadata?.name}/${p.metadata?.uid}`).sort();
  const record = async (ns: string) => {
    const text = (await apps.readNamespacedStatefulSet({ name: 'gw', namespace: ns })).metadata?.annotations?.['zerolossupgrade.io/upgrade'];
    return text ? decodeRecord(text) : null;
  };

  async function small(prefix: string): Promise<Workload> {
    const w = { ...baselineWorkload(await ctx.env.namespace(prefix), 'OnDelete'), replicas: 3 };
    await ctx.env.deploy(w);
    await ok(['start', 'gw', '--image', 'app=gateway:v2', '--surge', '0', '-n', w.namespace]);
    return w;
  }

  afterAll(() => {
    // Credentials never reach output: not the key, not even the id.
    const all = outputs.join('\n');
    expect(all.length).toBeGreaterThan(1000);
    expect(all).not.toContain(SIM_CREDENTIALS.secretKey);
    expect(all).not.toContain(SIM_CREDENTIALS.secretId);
    expect(all).not.toContain('wrong-secret-key-for-the-test');
  });

  it('walks 10 replicas unattended on the evidence alone, under load: 0 requests lost, no pod deleted with a connection open', async () => {
    const w = { ...baselineWorkload(await ctx.env.namespace('evidence'), 'OnDelete'), replicas: 10 };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    // No --min-drain: the evidence alone decides; streams are held up to 20 s here.
    const unattended = ['--yes', '--require-evidence', '--min-drain', '0s', '--drain-timeout', '60s', ...cloudFlags()];
    let next!: RunResult;
    let finish!: RunResult;
    const run = await underLoad(ctx.env, 'evidence', w, async () => {
      await ok(['start', 'gw', '--image', 'app=gateway:v2', '--batch', '2', ...ns]);
      next = await ok(['next', 'gw', ...ns, ...unattended]);
      finish = await ok(['finish', 'gw', ...ns, ...unattended]);
    }, { ...BENCH_LOAD, streamLifetimeMs: [5000, 20_000] });
    expect(run.sent).toBeGreaterThan(5000);
    expect(run.streams).toBeGreaterThan(20);
    expect({ failed: run.failed, cut: run.cut, failures: run.failures }, run.samples.join('\n')).toEqual({ failed: 0, cut: 0, failures: {} });

    // The service controller's version came from kube-system/tke-service-controller-config.
    expect(next.stderr).toContain('service controller version v2.5.0');
    // The region came from the nodes (failure-domain.beta.kubernetes.io/region=gz).
    expect(next.stderr).toContain('drain evidence: Tencent Cloud ap-guangzhou, credentials from the environment (TENCENTCLOUD_SECRET_ID)');
    // Every pod was deleted once, at weight 0 with no connection open: what the evidence said.
    const deletions = deletionsIn(w.namespace);
    // gw-0..gw-9 rebuilt, gw-10 and gw-11 (the surge of --batch 2) scaled away at finish.
    expectDeletionsDrained(deletions, Array.from({ length: 12 }, (_, i) => `gw-${i}`), LISTENERS);
    const lb = ctx.sim.clb.loadBalancers.get((await ctx.env.serving(w)).lbId)!;
    // The evidence table of each batch: each drained pod at weight 0 on the CLB listener, the last
    // connection point 0; after the restore, the rebuilt pods back at the CLB's weight 10, healthy.
    for (let i = 0; i < 10; i++) {
      expect(next.stderr).toMatch(new RegExp(`│ gw-${i} +│ gw ${lb.id} TCP/80 +│ 0 +│ \\S+ +│ [\\d ]*\\b0 +│`));
      expect(next.stderr).toMatch(new RegExp(`│ gw-${i} +│ gw ${lb.id} TCP/80 +│ 10 +│ healthy +│`));
      expect(next.stderr).toMatch(new RegExp(`gw-${i} \\(127\\.11\\.[\\d.]+, CLB readiness gate True\\): drained`));
    }
    expect(finish.stderr).toMatch(/gw-10 \(127\.11\.[\d.]+, CLB readiness gate True\): drained/);
    // The audit trail keeps the evidence with each confirmation.
    const events = (await core.listNamespacedEvent({ namespace: w.namespace, fieldSelector: 'involvedObject.kind=StatefulSet,reason=DrainConfirmed' })).items.map((e) => e.message);
    expect(events).toHaveLength(6);
    for (const m of events) expect(m).toMatch(/^(gw-\d+, gw-\d+|surge pods): weight 0 and connections drained, confirmed by zlu-operator on the drain evidence \(--require-evidence\) \d+s after the drain; evidence: gw-\d+ drained/);
    expect((await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
  }, 600_000);

  it('keeps the verdict at "not yet" while a weight change is delayed, and proceeds once it lands', async () => {
    const w = await small('delayed');
    ctx.sim.controller.options.propagationDelayMs = 6000;
    try {
      const r = await ok(['next', 'gw', '-n', w.namespace, '--yes', '--require-evidence', '--min-drain', '0s', '--drain-timeout', '60s', ...cloudFlags()]);
      const lines = r.stderr.split('\n');
      const notYet = lines.findIndex((l) => /gw-0 not-yet \(weight 10 on lb-\w+ TCP\/80\)/.test(l));
      const drained = lines.findIndex((l) => l.includes('gw-0: drained on the evidence'));
      expect(notYet).toBeGreaterThan(-1);
      expect(drained).toBeGreaterThan(notYet);
    } finally {
      ctx.sim.controller.options.propagationDelayMs = 1000;
    }
    expectDeletionsDrained(deletionsIn(w.namespace), ['gw-0', 'gw-1', 'gw-2'], LISTENERS);
  }, 300_000);

  it('reads missing monitor points as unknown: the unattended walk stops, deletes nothing, and resumes once data is back', async () => {
    const w = await small('nodata');
    const before = await podUids(w.namespace);
    ctx.sim.api.hideMonitorPoints = () => true;
    let r: RunResult;
    try {
      r = await plugin(['next', 'gw', '-n', w.namespace, '--yes', '--require-evidence', '--min-drain', '0s', '--drain-timeout', '8s', ...cloudFlags()]);
    } finally {
      ctx.sim.api.hideMonitorPoints = undefined;
    }
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/error: the drain of gw-0 was not confirmed by the evidence within --drain-timeout \(8s\): gw-0 unknown: no ConNum data for lb-\w+ TCP\/80 -> 127\.11\.[\d.]+:8080; no ConNum data for lb-\w+ TCP\/443 -> 127\.11\.[\d.]+:8443\. Nothing was deleted/);
    expect(r.stderr).toMatch(/│ gw-0 +│ gw lb-\w+ TCP\/80 +│ 0 +│ healthy +│ no data/);
    expect(await podUids(w.namespace)).toEqual(before);
    expect((await record(w.namespace))?.batches[0]?.phase).toBe('drained');
    await ok(['next', 'gw', '-n', w.namespace, '--yes', '--require-evidence', '--min-drain', '0s', '--drain-timeout', '60s', ...cloudFlags()]);
    expectDeletionsDrained(deletionsIn(w.namespace), ['gw-0', 'gw-1', 'gw-2'], LISTENERS);
  }, 300_000);

  it('shows API errors plainly and walks on: throttling while unattended, an auth failure with --yes', async () => {
    const w = await small('apierr');
    ctx.sim.api.injectFault('RequestLimitExceeded', 'Your current request times exceeds the limit.', 3, 'DescribeTargets');
    const throttled = await ok(['next', 'gw', '-n', w.namespace, '--yes', '--require-evidence', '--min-drain', '0s', '--drain-timeout', '60s', ...cloudFlags()]);
    expect(throttled.stderr).toMatch(/gw-0 unknown \(CLB targets unreadable: DescribeTargets: RequestLimitExceeded: Your current request times exceeds the limit\./);
    expectDeletionsDrained(deletionsIn(w.namespace), ['gw-0', 'gw-1', 'gw-2'], LISTENERS);

    const w2 = await small('authfail');
    ctx.sim.api.injectFault('AuthFailure.SignatureFailure', 'The provided credentials could not be validated.', 1000, 'DescribeTargets');
    try {
      const r = await ok(['next', 'gw', '-n', w2.namespace, '--yes', '--min-drain', '1s', ...cloudFlags()]);
      expect(r.stderr).toMatch(/gw-0 \(127\.11\.[\d.]+, CLB readiness gate True\): unknown: CLB targets unreadable: DescribeTargets: AuthFailure\.SignatureFailure: The provided credentials could not be validated\. \(request [0-9a-f-]+\)/);
      expect(r.stderr).toMatch(/│ gw-0 +│ gw lb-\w+ TCP\/80 +│ unknown/);
    } finally {
      ctx.sim.api.clearFaults();
    }
  }, 300_000);

  it('refuses --require-evidence with refused credentials or none, changing nothing', async () => {
    const w = await small('refused');
    const before = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    const wrong = await plugin(['next', 'gw', '-n', w.namespace, '--yes', '--require-evidence', ...cloudFlags()], { TENCENTCLOUD_SECRET_ID: SIM_CREDENTIALS.secretId, TENCENTCLOUD_SECRET_KEY: 'wrong-secret-key-for-the-test' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/error: --require-evidence: Tencent Cloud refused the first read: DescribeLoadBalancers: AuthFailure\.SignatureFailure: .*; nothing was changed/);
    const none = await plugin(['next', 'gw', '-n', w.namespace, '--yes', '--require-evidence', ...cloudFlags()], {});
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('error: --require-evidence: the drain evidence is off: no Tencent Cloud credentials found; nothing was changed');
    const after = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    // The StatefulSet controller may write status meanwhile; its spec and annotations are untouched.
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
    expect(after.metadata?.annotations).toEqual(before.metadata?.annotations);
    expect((await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
  }, 120_000);

  it('warns about listener settings that change what weight 0 means, before the first drain', async () => {
    const w = await small('listener');
    ctx.sim.api.listenerAttributes = { SessionExpireTime: 30, RescheduleInterval: 5 };
    let r: RunResult;
    try {
      r = await ok(['next', 'gw', '-n', w.namespace, '--yes', '--min-drain', '1s', ...cloudFlags()]);
    } finally {
      ctx.sim.api.listenerAttributes = {};
    }
    expect(r.stderr).toMatch(/warning: lb-\w+ TCP\/80: session persistence is on \(30s\)/);
    expect(r.stderr).toMatch(/warning: lb-\w+ TCP\/80: rescheduling is configured \(interval 5s\)/);
    expect(r.stderr.indexOf('session persistence')).toBeLessThan(r.stderr.indexOf('drained gw-0'));
    // --yes without --require-evidence still never deletes while the CLB reads a weight above 0.
    expect(r.stderr).toMatch(/confirmed by zlu-operator \(--yes\) \d+s after the drain; evidence: gw-0 not-yet \(\d of 3 zero points/);
    expectDeletionsDrained(deletionsIn(w.namespace), ['gw-0', 'gw-1', 'gw-2'], LISTENERS);
  }, 300_000);
});
