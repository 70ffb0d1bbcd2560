// Crash and resume: the process is SIGKILLed at every phase boundary of start, next (also between
// the deletions of a two-pod batch, and between giving the weights back and recording it), finish,
// rollback and abort, and the same command is run again. After each kill the record's phase is
// checked; the walk ends in the state an uninterrupted one ends in, every pod is deleted once per
// walk, and the simulated CLB never had a pod deleted while it gave that pod weight.
import { describe, expect, it } from 'vitest';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { decodeRecord } from '../../src/core/upgrade.js';
import { type Workload } from '../../sim/scenarios.js';
import { adminClients, expectDeletionsDrained, runPlugin, runUntil, useSimulator } from './support.js';

const RECORD = 'zerolossupgrade.io/upgrade';

/** A kill, and the phases the record may be in right after it (a kill lands a few ms after the marker). */
type Kill = [args: string[], marker: string, phase: (r: Record<string, any> | undefined) => unknown, allowed: unknown[]];

describe('crash and resume at every phase boundary', () => {
  const ctx = useSimulator({ propagationDelayMs: 1000, jitterMs: 200 });
  const { apps, core } = adminClients();
  const record = async (w: Workload) => {
    const text = (await apps.readNamespacedStatefulSet({ name: w.name, namespace: w.namespace })).metadata?.annotations?.[RECORD];
    return text ? decodeRecord(text) : undefined;
  };
  const complete = async (args: string[]) => {
    const r = await runPlugin(args);
    expect(r.code, `${args.join(' ')}:\n${r.stderr}`).toBe(0);
  };
  async function killEach(w: Workload, kills: Kill[], completeAfter: string[]) {
    for (const [args, marker, phase, allowed] of kills) {
      // Each run resumes what the previous, killed one left, and is killed in turn at its marker.
      const r = await runUntil(args, marker);
      expect(r.killed, `${args.join(' ')} never printed "${marker}":\n${r.stderr}`).toBe(true);
      expect(allowed, `phase after the kill at "${marker}"`).toContainEqual(phase(await record(w)));
      if (completeAfter.includes(marker)) await complete(args);
    }
  }
  const pods = async (w: Workload) => (await core.listNamespacedPod({ namespace: w.namespace, labelSelector: 'app=gw' })).items.filter((p) => !p.metadata?.deletionTimestamp);
  const batch = (i: number) => (r: Record<string, any> | undefined) => r?.batches[i]?.phase;
  const finishing = (r: Record<string, any> | undefined) => r?.finish?.phase;

  it('next, finish: killed at each boundary, ends where an uninterrupted walk ends', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('resume'), name: 'gw', replicas: 3, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    const next = ['next', 'gw', ...ns, '--yes', '--min-drain', '2s'];
    const finish = ['finish', 'gw', ...ns, '--yes', '--min-drain', '2s'];
    const uidOf = async (name: string) => (await pods(w)).find((p) => p.metadata?.name === name)?.metadata?.uid;
    await killEach(w, [[['start', 'gw', ...ns, '--image', 'app=gw:2', '--batch', '2'], 'recorded the upgrade', batch(0), ['pending']]], ['recorded the upgrade']);
    const gw1 = await uidOf('gw-1');
    await killEach(
      w,
      [
        [next, 'drained gw-0, gw-1', batch(0), ['drained']],
        [next, 'confirmed by', batch(0), ['confirmed', 'deleting']],
        [next, 'deleted pod gw-0', batch(0), ['deleting']],
      ],
      [],
    );
    // Killed between the two deletions of the batch: gw-1 is still the pod it was.
    expect(await uidOf('gw-1')).toBe(gw1);
    await killEach(
      w,
      [
        [next, 'back at the new revision', batch(0), ['deleting', 'rebuilt']],
        // Between giving the weights back and recording the batch done.
        [next, 'restored gw-0, gw-1', batch(0), ['rebuilt', 'done']],
        [next, 'drained gw-2', batch(1), ['drained']],
        [finish, 'drained surge pods', finishing, ['drained']],
        [finish, 'surge pods gw-3, gw-4: weight 0', finishing, ['confirmed']],
        [finish, 'scaled back', finishing, ['confirmed', 'scaled']],
      ],
      ['drained gw-2'],
    );
    await complete(finish);
    const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    expect(sts.metadata?.annotations?.[RECORD]).toBeUndefined();
    expect(sts.spec?.replicas).toBe(3);
    expect((await pods(w)).map((p) => [p.metadata?.name, p.spec?.containers[0]?.image, p.metadata?.labels?.['controller-revision-hash']]).sort()).toEqual(
      ['gw-0', 'gw-1', 'gw-2'].map((n) => [n, 'gw:2', sts.status?.updateRevision]),
    );
    expect((await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
    const deletions = ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace);
    expectDeletionsDrained(deletions, ['gw-0', 'gw-1', 'gw-2', 'gw-3', 'gw-4'], ['gw 80']); // each once: nothing deleted twice
  });

  it('rollback, abort: killed at each boundary, end where uninterrupted ones end', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('resumerb'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    const original = (await pods(w))[0]!.metadata!.labels!['controller-revision-hash'];
    await complete(['start', 'gw', ...ns, '--image', 'app=gw:2']);
    await complete(['next', 'gw', ...ns, '--yes', '--min-drain', '2s', '--batches', '1']);
    const rollback = ['rollback', 'gw', ...ns, '--yes', '--min-drain', '2s'];
    const abort = ['abort', 'gw', ...ns, '--yes', '--min-drain', '2s'];
    await killEach(
      w,
      [
        [rollback, 'back at revision', (r) => Boolean(r?.rollback), [true]],
        [rollback, 'drained gw-0', batch(0), ['drained']],
        [rollback, 'deleted pod gw-0', batch(0), ['deleting']],
        [rollback, 'restored gw-0', batch(0), ['rebuilt', 'done']],
        [abort, 'Aborting the upgrade', finishing, [undefined]],
        [abort, 'drained surge pods', finishing, ['drained']],
        [abort, 'scaled back', finishing, ['confirmed', 'scaled']],
      ],
      ['restored gw-0'],
    );
    await complete(abort);
    const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    expect(sts.metadata?.annotations?.[RECORD]).toBeUndefined();
    expect(sts.spec?.replicas).toBe(2);
    expect((await pods(w)).map((p) => [p.metadata?.name, p.spec?.containers[0]?.image, p.metadata?.labels?.['controller-revision-hash']]).sort()).toEqual(
      ['gw-0', 'gw-1'].map((n) => [n, 'gw:1', original]),
    );
    expect((await core.readNamespacedService({ name: 'gw', namespace: w.namespace })).metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
    const deletions = ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace);
    expectDeletionsDrained(deletions, ['gw-0', 'gw-0', 'gw-2'], ['gw 80']); // forward, back, surge
  });
});
