// Crash and resume: the process is killed (SIGKILL) at each step boundary in turn and the same
// command is run again. The walk ends in the same state as an uninterrupted one, and the simulated
// CLB never had a pod deleted while it gave that pod weight.
import { describe, expect, it } from 'vitest';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { type Workload } from '../../sim/scenarios.js';
import { adminClients, runPlugin, runUntil, useSimulator } from './support.js';

describe('crash and resume at every step boundary', () => {
  const ctx = useSimulator({ propagationDelayMs: 1000, jitterMs: 200 });
  const { apps, core } = adminClients();


  it('ends where an uninterrupted walk ends', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('resume'), name: 'gw', replicas: 3, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    const ns = ['-n', w.namespace];
    const drain = ['--yes', '--min-drain', '2s'];
    const plan: [string[], string][] = [
      [['start', 'gw', ...ns, '--image', 'app=gw:2'], 'recorded the upgrade'],
      [['next', 'gw', ...ns, ...drain], 'drained gw-0'],
      [['next', 'gw', ...ns, ...drain], 'confirmed by'],
      [['next', 'gw', ...ns, ...drain], 'deleted pod gw-0'],
      [['next', 'gw', ...ns, ...drain], 'back at the new revision'],
      [['next', 'gw', ...ns, ...drain], 'restored gw-0'],
      [['next', 'gw', ...ns, ...drain], 'drained gw-1'],
      [['finish', 'gw', ...ns, ...drain], 'drained surge pods'],
      [['finish', 'gw', ...ns, ...drain], 'scaled back'],
    ];
    const kills: string[] = [];
    const complete = async (args: string[]) => {
      const r = await runPlugin(args);
      expect(r.code, r.stderr).toBe(0);
    };
    for (const [args, marker] of plan) {
      // Each run resumes what the previous, killed one left, and is killed in turn at its marker.
      const r = await runUntil(args, marker);
      expect(r.killed, `${args.join(' ')} never printed "${marker}":\n${r.stderr}`).toBe(true);
      kills.push(marker);
      if (args[0] === 'start') await complete(args);
      if (marker === 'drained gw-1') await complete(args);
    }
    await complete(plan.at(-1)![0]);
    expect(kills).toEqual(plan.map(([, m]) => m));
    const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: w.namespace });
    expect(sts.metadata?.annotations?.['zerolossupgrade.io/upgrade']).toBeUndefined();
    expect(sts.spec?.replicas).toBe(3);
    const pods = (await core.listNamespacedPod({ namespace: w.namespace, labelSelector: 'app=gw' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(pods.map((p) => [p.metadata?.name, p.spec?.containers[0]?.image, p.metadata?.labels?.['controller-revision-hash']]).sort()).toEqual(
      ['gw-0', 'gw-1', 'gw-2'].map((n) => [n, 'gw:2', sts.status?.updateRevision]),
    );
    const svc = await core.readNamespacedService({ name: 'gw', namespace: w.namespace });
    expect(svc.metadata?.annotations?.[RS_WEIGHT]).toBeUndefined();
    const deletions = ctx.sim.controller.deletions.filter((d) => d.namespace === w.namespace);
    expect(deletions.map((d) => d.pod).sort()).toEqual(['gw-0', 'gw-1', 'gw-2', 'gw-3']); // each once: nothing deleted twice
    for (const d of deletions) expect(d.weights.every((x) => x.weight === 0), JSON.stringify(d)).toBe(true);
  });
});
