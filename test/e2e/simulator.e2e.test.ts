// The simulator beside the real control plane: the service controller's behaviour, and the
// baselines that prove the harness sees lost requests.
import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { deleteWithoutDrainBaseline, rollingUpdateBaseline, sleep, until, zeroLossWalk, type Workload } from '../../sim/scenarios.js';
import { adminClients, runPlugin, useSimulator } from './support.js';

describe('simulator on the local control plane', () => {
  const ctx = useSimulator({ propagationDelayMs: 2000, jitterMs: 300 });
  const { kc } = adminClients();


  it('gives a direct-access Service a CLB and VIP, applies lb-rs-weight after the propagation delay, and reports Events', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('ctl'), name: 'gw', replicas: 3, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }, { port: 443, targetPort: 8443 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    const { lbId } = await ctx.env.deploy(w);
    const core = kc.makeApiClient(CoreV1Api);
    const weights = () => ctx.sim.clb.loadBalancers.get(lbId)!.listeners.map((l) => `${l.port}:${l.targets.map((t) => `${t.pod}=${t.weight}`).join(',')}`);
    expect(weights()).toEqual(['80:gw-0=10,gw-1=10,gw-2=10', '443:gw-0=10,gw-1=10,gw-2=10']);

    const drain1 = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]},{"key":{"proto":"TCP","port":443},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]}]}';
    await core.patchNamespacedService({ name: 'gw', namespace: w.namespace, body: [{ op: 'add', path: `/metadata/annotations/${RS_WEIGHT.replace('/', '~1')}`, value: drain1 }] });
    const patchedAt = Date.now();
    await sleep(1000);
    expect(weights()).toEqual(['80:gw-0=10,gw-1=10,gw-2=10', '443:gw-0=10,gw-1=10,gw-2=10']); // not yet: asynchronous
    await until('weights applied', 10_000, () => weights()[0] === '80:gw-0=10,gw-1=0,gw-2=10');
    expect(Date.now() - patchedAt).toBeGreaterThanOrEqual(1500);
    expect(weights()).toEqual(['80:gw-0=10,gw-1=0,gw-2=10', '443:gw-0=10,gw-1=0,gw-2=10']);
    const events = await until('EnsureServiceSuccess', 10_000, async () => {
      const list = (await core.listNamespacedEvent({ namespace: w.namespace, fieldSelector: 'involvedObject.kind=Service,involvedObject.name=gw' })).items;
      return list.filter((e) => e.reason === 'EnsureServiceSuccess').length >= 2 ? list : undefined;
    });
    expect(events.map((e) => [e.type, e.reason, e.source?.component ?? e.reportingComponent])).toContainEqual(['Normal', 'EnsureServiceSuccess', 'service-controller']);
    expect(events.filter((e) => e.type === 'Warning')).toEqual([]);

    // A malformed value: a Warning Event, and the last good weights stay.
    await core.patchNamespacedService({ name: 'gw', namespace: w.namespace, body: [{ op: 'replace', path: `/metadata/annotations/${RS_WEIGHT.replace('/', '~1')}`, value: '{"groups":[' }] });
    const warning = await until('a Warning Event', 10_000, async () =>
      (await core.listNamespacedEvent({ namespace: w.namespace, fieldSelector: 'involvedObject.name=gw,type=Warning' })).items[0],
    );
    expect(warning.reason).toBe('SyncLoadBalancerFailed');
    expect(warning.message).toContain('lb-rs-weight is not valid JSON');
    await sleep(3000);
    expect(weights()).toEqual(['80:gw-0=10,gw-1=0,gw-2=10', '443:gw-0=10,gw-1=0,gw-2=10']);
  });

  it('under the same load the plugin\'s walk loses nothing while both baselines lose requests', async () => {
    const rolling = await rollingUpdateBaseline(ctx.env);
    const noDrain = await deleteWithoutDrainBaseline(ctx.env);
    const walk = await zeroLossWalk(ctx.env, (args) => runPlugin(args));
    console.log(JSON.stringify({ rolling, noDrain, walk }));
    expect(walk.sent).toBeGreaterThan(5000);
    expect(walk.failures).toEqual({});
    expect(walk.failed).toBe(0);
    expect(rolling.sent).toBeGreaterThan(1000);
    expect(rolling.failed).toBeGreaterThan(0);
    expect(noDrain.sent).toBeGreaterThan(1000);
    expect(noDrain.failed).toBeGreaterThan(0);
  }, 600_000);
});
