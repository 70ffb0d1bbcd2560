// The real prompts, driven through a pseudo-terminal (util-linux `script`): answers typed as keys.
import { describe, expect, inject, it } from 'vitest';
import { SIM_CREDENTIALS } from '../../sim/index.js';
import { type Workload } from '../../sim/scenarios.js';
import { adminClients, expectDeletionsDrained, onTerminal, runPlugin, useSimulator } from './support.js';

describe('interactive next on a terminal', () => {
  const ctx = useSimulator({ propagationDelayMs: 500, jitterMs: 100 }, { monitorPeriodMs: 1000 });
  const { core } = adminClients();


  it('asks before draining, asks separately for weight and connections, then offers to stop and soak', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('tty'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    expect((await runPlugin(['start', 'gw', '-n', w.namespace, '--image', 'app=gw:2'])).code).toBe(0);
    const shellEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', KUBECONFIG: inject('operatorKubeconfig') };
    const r = await onTerminal(
      ['next', 'gw', '-n', w.namespace, '--min-drain', '2s'],
      [
        [/Drain gw-0 \(CLB weight 0 on every Service port\)\? \(y\/N\)/, 'y\r'],
        [/Does the CLB show weight 0 for gw-0 on every listener\? \(y\/N\)/, 'y\r'],
        [/Have the connections to gw-0 drained to 0\? \(y\/N\)/, 'y\r'],
        [/Watch the new pods under real traffic first\?/, '\x1b[B\r'], // arrow down: "Stop here to soak"
      ],
      shellEnv,
    );
    expect(r.screen).toContain('confirmed by zlu-operator');
    expect(r.screen).toContain('stopped after batch 1; continue with: kubectl zerolossupgrade next gw');
    expect(r.code).toBe(0);
    const pod0 = await core.readNamespacedPod({ name: 'gw-0', namespace: w.namespace });
    const pod1 = await core.readNamespacedPod({ name: 'gw-1', namespace: w.namespace });
    expect(pod0.spec?.containers[0]?.image).toBe('gw:2');
    expect(pod1.spec?.containers[0]?.image).toBe('gw:1');
    const deletions = () => ctx.sim.controller.deletions.filter((x) => x.namespace === w.namespace);
    expectDeletionsDrained(deletions(), ['gw-0'], ['gw 80']);

    // Answering No (the default, Enter) to the drain question changes nothing and exits 130.
    const no = await onTerminal(['next', 'gw', '-n', w.namespace, '--min-drain', '2s'], [[/Drain gw-1 .*\(y\/N\)/, '\r']], shellEnv);
    expect(no.code).toBe(130);
    expect(no.screen).toContain('error: not drained; nothing changed');
    const svc = await core.readNamespacedService({ name: 'gw', namespace: w.namespace });
    expect(svc.metadata?.annotations?.['service.cloud.tencent.com/lb-rs-weight']).toBeUndefined();
    expectDeletionsDrained(deletions(), ['gw-0'], ['gw 80']);
  });

  it('with the drain evidence: shows it beside the prompt, reads it again on request, and offers to confirm once it says drained', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('ttyev'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    expect((await runPlugin(['start', 'gw', '-n', w.namespace, '--image', 'app=gw:2', '--surge', '0'])).code).toBe(0);
    const shellEnv = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      KUBECONFIG: inject('operatorKubeconfig'),
      TENCENTCLOUD_SECRET_ID: SIM_CREDENTIALS.secretId,
      TENCENTCLOUD_SECRET_KEY: SIM_CREDENTIALS.secretKey,
    };
    // One read again takes 5 s: by then 3 one-second points after weight 0 have closed.
    const r = await onTerminal(
      ['next', 'gw', '-n', w.namespace, '--min-drain', '0s', '--evidence-interval', '5s', '--cloud-endpoint', `http://${ctx.sim.apiEndpoint}`],
      [
        [/Drain gw-0 \(CLB weight 0 on every Service port\)\? \(y\/N\)/, 'y\r'],
        [/The evidence does not say gw-0 drained yet\./, '\r'], // the first choice: read it again
        [/The evidence says gw-0 drained\./, '\r'], // now the first choice: go on to confirm
        [/Does the CLB show weight 0 for gw-0 on every listener\? \(y\/N\)/, 'y\r'],
        [/Have the connections to gw-0 drained to 0\? \(y\/N\)/, 'y\r'],
        [/Watch the new pods under real traffic first\?/, '\x1b[B\r'],
      ],
      shellEnv,
    );
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain('drain evidence: Tencent Cloud ap-guangzhou, credentials from the environment (TENCENTCLOUD_SECRET_ID)');
    expect(r.screen).toMatch(/│ gw-0 +│ gw lb-\w+ TCP\/80 +│ 0 +│ healthy +│/);
    expect(r.screen).toMatch(/gw-0 \(127\.11\.[\d.]+, CLB readiness gate True\): not yet: \d of 3 zero points since weight 0/);
    expect(r.screen).toMatch(/gw-0 \(127\.11\.[\d.]+, CLB readiness gate True\): drained/);
    expect(r.screen).toMatch(/weight 0 and connections drained, confirmed by zlu-operator \d+s after the drain; evidence: gw-0 drained/);
    expect(r.screen).not.toContain(SIM_CREDENTIALS.secretKey);
    expect(r.screen).not.toContain(SIM_CREDENTIALS.secretId);
    expectDeletionsDrained(ctx.sim.controller.deletions.filter((x) => x.namespace === w.namespace), ['gw-0'], ['gw 80']);
  });

  it('soaks with a live view; a key stops it and offers the choice; run again, it resumes and asks at its end', async () => {
    const w: Workload = { namespace: await ctx.env.namespace('ttysoak'), name: 'gw', replicas: 2, strategy: 'OnDelete', ports: [{ port: 80, targetPort: 8080 }], image: 'gw:1', terminationGracePeriodSeconds: 5 };
    await ctx.env.deploy(w);
    // --surge 0: the batch's own soak (the surge pods' soak is the same gate, before the first drain).
    expect((await runPlugin(['start', 'gw', '-n', w.namespace, '--image', 'app=gw:2', '--soak', '20s', '--surge', '0'])).code).toBe(0);
    const shellEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', KUBECONFIG: inject('operatorKubeconfig') };
    const interrupted = await onTerminal(
      ['next', 'gw', '-n', w.namespace, '--min-drain', '2s', '--analysis-interval', '1s'],
      [
        [/Drain gw-0 \(CLB weight 0 on every Service port\)\? \(y\/N\)/, 'y\r'],
        [/Does the CLB show weight 0 for gw-0 on every listener\? \(y\/N\)/, 'y\r'],
        [/Have the connections to gw-0 drained to 0\? \(y\/N\)/, 'y\r'],
        [/press any key to stop it and choose[\s\S]*readiness: 1\/1 Ready/, 'x'],
        [/Soak of gw-0 interrupted\. What now\?/, '\r'], // the first choice: stop, resume later
      ],
      shellEnv,
    );
    expect(interrupted.code, interrupted.screen).toBe(0);
    expect(interrupted.screen).toMatch(/soak of gw-0: \d+s left/);
    expect(interrupted.screen).toMatch(/ok +restarts: none/);
    expect(interrupted.screen).toContain('stopped during the soak; resume it with: kubectl zerolossupgrade next gw');
    const resumed = await onTerminal(
      ['next', 'gw', '-n', w.namespace, '--min-drain', '2s', '--analysis-interval', '1s'],
      [[/Soak of gw-0 passed\. Go on\?/, '\x1b[B\r']], // arrow down: stop here
      shellEnv,
    );
    expect(resumed.code, resumed.screen).toBe(0);
    expect(resumed.screen).toMatch(/Soak of gw-0: (1\d|\d)s left of 20s/);
    expect(resumed.screen).toContain('soak of gw-0 passed after');
    const events = (await core.listNamespacedEvent({ namespace: w.namespace, fieldSelector: 'involvedObject.kind=StatefulSet' })).items.map((e) => e.reason);
    expect(events).toContain('SoakPassed');
    expectDeletionsDrained(ctx.sim.controller.deletions.filter((x) => x.namespace === w.namespace), ['gw-0'], ['gw 80']);
  });
});
