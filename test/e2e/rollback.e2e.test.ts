// rollback from the middle of a walk (mid-batch), under load: every pod back on the original image
// and not one request lost, with the same drain-before-delete guarantee as the forward walk.
import { describe, expect, it } from 'vitest';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { BENCH_LOAD, baselineWorkload, underLoad } from '../../sim/scenarios.js';
import { adminClients, expectDeletionsDrained, runPlugin, runUntil, useSimulator } from './support.js';

describe('rollback', () => {
  const ctx = useSimulator({ propagationDelayMs: 2000, jitterMs: 300 });
  const { apps, core } = adminClients();

  it('mid-batch, under load: original image everywhere, zero failed requests', async () => {
    const w = { ...baselineWorkload(await ctx.env.namespace('rollback'), 'OnDelete'), replicas: 4 };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    const drain = ['--yes', '--min-drain', '12s']; // longer than any stream lives here (8 s)
    const ok = async (args: string[]) => {
      const r = await runPlugin([...args, ...ns]);
      expect(r.code, r.stderr).toBe(0);
      return r;
    };
    const run = await underLoad(ctx.env, 'rollback', w, async () => {
      await ok(['start', 'gw', '--image', 'app=gateway:v2']);
      expect((await runUntil(['next', 'gw', ...ns, ...drain], 'restored gw-0')).killed).toBe(true);
      expect((await runUntil(['next', 'gw', ...ns, ...drain], 'drained gw-1')).killed).toBe(true);
      const rb = await ok(['rollback', 'gw', ...drain]);
      expect(rb.stderr).toContain('pods walked back (drain, confirm, rebuild, restore): gw-1, gw-0');
      await ok(['finish', 'gw', ...drain]);
    }, { ...BENCH_LOAD, streamLifetimeMs: [2000, 8000] });
    expect(run.sent).toBeGreaterThan(3000);
    expect(run.streams).toBeGreaterThan(10);
    expect({ failed: run.failed, cut: run.cut, failures: run.failures }, run.samples.join('\n')).toEqual({ failed: 0, cut: 0, failures: {} });
    const pods = (await core.listNamespacedPod({ namespace: w.namespace, labelSelector: 'app=gw' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods.map((p) => [p.metadata?.name, p.spec?.containers[0]?.image]).sort()).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-3'].map((n) => [n, 'gateway:v1']));
    const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    expect(sts.spec?.template.spec?.containers[0]?.image).toBe('gateway:v1');
    expect(sts.spec?.replicas).toBe(4);
    expect(sts.metadata?.annotations?.['zerolossupgrade.io/upgrade']).toBeUndefined();
    expect((await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
    // gw-0 forth and back, and the surge pod scaled away: each at weight 0 on both listeners, drained.
    expectDeletionsDrained(ctx.sim.controller.deletions.filter((x) => x.namespace === w.namespace), ['gw-0', 'gw-0', 'gw-4'], ['gw 80', 'gw 443']);
  }, 300_000);

  it('undo of a finished upgrade, under load: every pod back on the previous revision, zero failed requests', async () => {
    const w = { ...baselineWorkload(await ctx.env.namespace('undo'), 'OnDelete'), replicas: 3 };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    const drain = ['--yes', '--min-drain', '12s'];
    const ok = async (args: string[]) => {
      const r = await runPlugin([...args, ...ns]);
      expect(r.code, r.stderr).toBe(0);
      return r;
    };
    const before = (await core.listNamespacedPod({ namespace: w.namespace, labelSelector: 'app=gw' })).items[0]!.metadata!.labels!['controller-revision-hash'];
    // The upgrade itself, quickly and without load: the walk back is what is measured.
    await ok(['start', 'gw', '--image', 'app=gateway:v2']);
    await ok(['next', 'gw', '--yes', '--min-drain', '1s']);
    await ok(['finish', 'gw', '--yes', '--min-drain', '1s']);
    const upgraded = ctx.sim.controller.deletions.filter((x) => x.namespace === w.namespace).length;
    const run = await underLoad(ctx.env, 'undo', w, async () => {
      const undo = await ok(['rollback', 'gw', ...drain]);
      expect(undo.stderr).toContain(`Walking statefulset "gw" back to revision ${before}, from before upgrade 1:`);
      await ok(['finish', 'gw', ...drain]);
    }, { ...BENCH_LOAD, streamLifetimeMs: [2000, 8000] });
    expect(run.sent).toBeGreaterThan(2000);
    expect({ failed: run.failed, cut: run.cut, failures: run.failures }, run.samples.join('\n')).toEqual({ failed: 0, cut: 0, failures: {} });
    const pods = (await core.listNamespacedPod({ namespace: w.namespace, labelSelector: 'app=gw' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods.map((p) => [p.metadata?.name, p.spec?.containers[0]?.image, p.metadata?.labels?.['controller-revision-hash']]).sort()).toEqual(['gw-0', 'gw-1', 'gw-2'].map((n) => [n, 'gateway:v1', before]));
    const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    expect([sts.spec?.replicas, sts.spec?.template.spec?.containers[0]?.image, sts.metadata?.annotations?.['zerolossupgrade.io/upgrade']]).toEqual([3, 'gateway:v1', undefined]);
    // The walk back alone: each pod and the surge pod at weight 0 on both listeners, drained.
    expectDeletionsDrained(ctx.sim.controller.deletions.filter((x) => x.namespace === w.namespace).slice(upgraded), ['gw-0', 'gw-1', 'gw-2', 'gw-3'], ['gw 80', 'gw 443']);
    const history = JSON.parse((await ok(['history', 'gw', '-o', 'json'])).stdout);
    expect(history.map((e: { number: number; kind: string; undoOf?: number; outcome: string }) => [e.number, e.kind, e.undoOf, e.outcome])).toEqual([[2, 'undo', 1, 'finished'], [1, 'upgrade', undefined, 'finished']]);
  }, 300_000);
});
