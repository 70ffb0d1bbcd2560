// The simulator beside the real control plane: each of its behaviours on its own (the service
// controller, TKE's readiness gate, the pod lifecycle of its node, how applications take SIGTERM),
// then the comparison that proves the harness sees what users lose.
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Termination } from '../../sim/backends.js';
import { READINESS_GATE } from '../../sim/controller.js';
import { SIM_NODE } from '../../sim/kubelet.js';
import { RS_WEIGHT } from '../../sim/lb-weights.js';
import { BENCH_LOAD, deleteWithoutDrainBaseline, rollingUpdateBaseline, sleep, until, zeroLossWalk, type ScenarioOptions, type Workload } from '../../sim/scenarios.js';
import { SIM_CREDENTIALS } from '../../sim/index.js';
import { adminClients, expectDeletionsDrained, runPlugin, useSimulator } from './support.js';

const condition = (p: V1Pod | undefined, type: string) => p?.status?.conditions?.find((c) => c.type === type)?.status;

/** Opens a stream straight to a pod (its IP is loopback) and resolves when its first line came. */
function stream(host: string, port: number): Promise<{ cutAt: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const cutAt = new Promise<number>((r) => s.once('close', () => r(Date.now())));
    s.once('error', reject);
    s.once('connect', () => s.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.once('data', () => resolve({ cutAt }));
  });
}

describe('simulator on the local control plane', () => {
  const slowListener = new Set<string>();
  // Cloud Monitor's 60 s periods compressed to 1 s, so that the evidence walk takes minutes, not hours.
  const ctx = useSimulator({ propagationDelayMs: 1000, jitterMs: 300, delayFor: (l) => (slowListener.has(l) ? 8000 : undefined) }, { monitorPeriodMs: 1000 });
  const { kc } = adminClients();
  const core = kc.makeApiClient(CoreV1Api);
  const pod = (w: Workload, name: string) => core.readNamespacedPod({ name, namespace: w.namespace }).catch(() => undefined);

  it('gives a direct-access Service a CLB and VIP, applies lb-rs-weight per listener after its own delay, and reports Events', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('ctl'), name: 'gw', replicas: 3, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }, { port: 443, targetPort: 8443 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    const { lbId } = await ctx.env.deploy(w);
    const weights = () => ctx.sim.clb.loadBalancers.get(lbId)!.listeners.map((l) => `${l.port}:${l.targets.map((t) => `${t.pod}=${t.weight}`).join(',')}`);
    expect(weights()).toEqual(['80:gw-0=10,gw-1=10,gw-2=10', '443:gw-0=10,gw-1=10,gw-2=10']);

    // Listener 443 is slow this time: 80 shows the drain long before 443 does.
    slowListener.add(`${w.namespace}/gw TCP/443`);
    const drain1 = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]},{"key":{"proto":"TCP","port":443},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]}]}';
    await core.patchNamespacedService({ name: 'gw', namespace: w.namespace, body: [{ op: 'add', path: `/metadata/annotations/${RS_WEIGHT.replace('/', '~1')}`, value: drain1 }] });
    const patchedAt = Date.now();
    await sleep(500);
    expect(weights()).toEqual(['80:gw-0=10,gw-1=10,gw-2=10', '443:gw-0=10,gw-1=10,gw-2=10']); // not yet: asynchronous
    await until('port 80 applied', 10_000, () => weights()[0] === '80:gw-0=10,gw-1=0,gw-2=10');
    expect(Date.now() - patchedAt).toBeGreaterThanOrEqual(600);
    expect(weights()[1]).toBe('443:gw-0=10,gw-1=10,gw-2=10');
    await until('port 443 applied', 15_000, () => weights()[1] === '443:gw-0=10,gw-1=0,gw-2=10');
    expect(Date.now() - patchedAt).toBeGreaterThanOrEqual(7500);
    slowListener.clear();
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

  it('a new pod gets TKE\'s readiness gate from the webhook, listens before it is Ready, and is Ready only once every listener has it registered and healthy', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('gate'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }, { port: 443, targetPort: 8443 }], image: 'gw:1', terminationGracePeriodSeconds: 2 };
    const { lbId } = await ctx.env.deploy(w);
    const old = (await pod(w, 'gw-0'))!;
    expect(old.spec?.readinessGates).toEqual([{ conditionType: READINESS_GATE }]);
    expect(old.spec?.nodeName).toBe(SIM_NODE);
    // The registration of the successor takes 8 s on port 443: its gate, and so Ready, wait for it.
    slowListener.add(`${w.namespace}/gw TCP/443`);
    try {
      await core.deleteNamespacedPod({ name: 'gw-0', namespace: w.namespace });
      const listening = await until('the successor listening, not Ready', 20_000, async () => {
        const p = await pod(w, 'gw-0');
        return p && p.metadata?.uid !== old.metadata?.uid && condition(p, 'ContainersReady') === 'True' ? p : undefined;
      });
      expect(condition(listening, 'Ready')).toBe('False');
      expect(condition(listening, READINESS_GATE)).not.toBe('True');
      const ready = await until('the successor Ready', 30_000, async () => {
        const p = await pod(w, 'gw-0');
        return p && p.metadata?.uid === listening.metadata?.uid && condition(p, 'Ready') === 'True' ? p : undefined;
      });
      // At that moment the CLB has it on both listeners, healthy: the gate waited for the slow one.
      const lb = ctx.sim.clb.loadBalancers.get(lbId)!;
      expect(lb.listeners.map((l) => l.port)).toEqual([80, 443]);
      for (const l of lb.listeners) {
        const t = l.targets.find((x) => x.uid === ready.metadata?.uid);
        expect(t, `listener ${l.port}`).toBeDefined();
        expect(ctx.sim.clb.isHealthy(lb.id, l.id, t!)).toBe(true);
      }
      const gateAt = new Date(ready.status!.conditions!.find((c) => c.type === READINESS_GATE)!.lastTransitionTime!).getTime();
      const listeningAt = new Date(listening.status!.conditions!.find((c) => c.type === 'ContainersReady')!.lastTransitionTime!).getTime();
      expect(gateAt - listeningAt).toBeGreaterThanOrEqual(4000);
    } finally {
      slowListener.clear();
    }
  });

  it('a deleted pod stays Terminating while its application stops: graceful keeps a stream until the grace period, abrupt cuts it at once, ignore serves on until killed', async () => {
    const grace = 4;
    const observe = async (termination: Termination) => {
      const w: Workload = { namespace: await ctx.env.namespace(`term-${termination}`), name: 'gw', replicas: 1, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: grace, termination };
      await ctx.env.deploy(w);
      const p = (await pod(w, 'gw-0'))!;
      const s = await stream(p.status!.podIP!, 8080);
      const t0 = Date.now();
      await core.deleteNamespacedPod({ name: 'gw-0', namespace: w.namespace });
      await sleep(1000);
      const during = await pod(w, 'gw-0');
      const stillThere = during?.metadata?.uid === p.metadata?.uid;
      // A new connection, straight to the pod, 1 s into its termination.
      const accepts = await new Promise<boolean>((resolve) => {
        const c = connect({ host: p.status!.podIP!, port: 8080 });
        c.once('connect', () => resolve(true));
        c.once('error', () => resolve(false));
        setTimeout(() => c.destroy(), 200);
      });
      await until(`gw-0 of ${termination} gone`, 20_000, async () => (await pod(w, 'gw-0'))?.metadata?.uid !== p.metadata?.uid);
      return { stillThere, ready: condition(during, 'Ready'), accepts, goneAfter: Date.now() - t0, cutAfter: (await s.cutAt) - t0 };
    };
    const graceful = await observe('graceful');
    expect(graceful).toMatchObject({ stillThere: true, ready: 'False', accepts: false });
    expect(graceful.cutAfter).toBeGreaterThanOrEqual(grace * 1000 - 200);
    expect(graceful.goneAfter).toBeGreaterThanOrEqual(grace * 1000 - 200);
    const abrupt = await observe('abrupt');
    expect(abrupt.accepts).toBe(false);
    expect(abrupt.cutAfter).toBeLessThan(1000);
    expect(abrupt.goneAfter).toBeLessThan(grace * 1000);
    const ignore = await observe('ignore');
    expect(ignore).toMatchObject({ stillThere: true, accepts: true });
    expect(ignore.cutAfter).toBeGreaterThanOrEqual(grace * 1000 - 200);
  });

  it('under the same load, both baselines lose requests while the walk on the evidence loses nothing, not even a stream; the blind walk is measured beside it', async () => {
    // 3 replicas on two ports; streams of 10 s to 40 s, longer than the blind walk's 15 s drain.
    const shared: ScenarioOptions = { load: { ...BENCH_LOAD, streamLifetimeMs: [10_000, 40_000] }, workload: { replicas: 3 } };
    const rolling = await rollingUpdateBaseline(ctx.env, shared);
    const noDrain = await deleteWithoutDrainBaseline(ctx.env, shared);
    const blind = await zeroLossWalk(ctx.env, (args) => runPlugin(args), ['--min-drain', '15s'], 'zerolossupgrade-blind', shared);
    const withCloud = (args: string[]) => runPlugin(args, { env: { TENCENTCLOUD_SECRET_ID: SIM_CREDENTIALS.secretId, TENCENTCLOUD_SECRET_KEY: SIM_CREDENTIALS.secretKey } });
    const evidence = await zeroLossWalk(ctx.env, withCloud, ['--require-evidence', '--min-drain', '0s', '--drain-timeout', '3m', '--evidence-interval', '1s', '--cloud-endpoint', `http://${ctx.sim.apiEndpoint}`], 'zerolossupgrade-evidence', shared);
    console.log(JSON.stringify({ runs: [rolling, noDrain, blind, evidence] }));
    for (const r of [rolling, noDrain, blind, evidence]) {
      expect(r.sent, r.name).toBeGreaterThan(1000);
      expect(r.streams, r.name).toBeGreaterThan(6);
    }
    expect(rolling.failed).toBeGreaterThan(0);
    expect(noDrain.failed).toBeGreaterThan(0);
    expect({ failed: evidence.failed, cut: evidence.cut, failures: evidence.failures }, evidence.samples.join('\n')).toEqual({ failed: 0, cut: 0, failures: {} });
    // The evidence walk deleted every pod at weight 0 on both listeners with no connection open.
    const ns = (prefix: string) => ctx.sim.controller.deletions.filter((d) => d.namespace.startsWith(prefix));
    const walks = ns('walk-');
    const evidenceNs = walks.at(-1)!.namespace;
    expectDeletionsDrained(walks.filter((d) => d.namespace === evidenceNs), ['gw-0', 'gw-1', 'gw-2', 'gw-3'], ['gw 80', 'gw 443']);
    // The blind walk deleted as many, each at weight 0 on the CLB (the controller here has no slow tail).
    expectDeletionsDrained(walks.filter((d) => d.namespace !== evidenceNs), ['gw-0', 'gw-1', 'gw-2', 'gw-3'], ['gw 80', 'gw 443'], { connections: false });
  }, 1_200_000);
});
