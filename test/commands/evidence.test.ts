// The drain evidence in `next`, against the in-memory cluster and a scripted cloud: what decides,
// what is recorded, and that every refusal deletes nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app.js';
import { openCloud, type CloudOpener } from '../../src/cloud/open.js';
import { CloudApiError, type Cloud } from '../../src/cloud/types.js';
import { runNext, validateNextOptions } from '../../src/commands/next.js';
import { runStart, validateStartOptions } from '../../src/commands/start.js';
import type { ConnPoint, TargetReading } from '../../src/core/evidence.js';
import { makeUi, type Ui } from '../../src/ui/terminal.js';
import { Clb } from '../../sim/clb.js';
import { CloudApi } from '../../sim/cloud-api.js';
import { FakeCluster, fakeDeps, fakeIo, pod, statefulSet } from '../support/fakes.js';
import { historyOf, recordOf } from '../support/walk.js';

const SECRET = 'never-printed-secret-key';

/** A cloud whose weights and connection points a test scripts; 1 s monitor periods. */
class ScriptedCloud implements Cloud {
  readonly region = 'ap-guangzhou';
  readonly credentialSource = 'environment (TENCENTCLOUD_SECRET_ID)';
  weight = (_ip: string) => 0;
  /** Connection maxima of the last periods, oldest first, ending with the last whole second. */
  connections = (_ip: string): (number | null)[] => [4, 0, 0, 0, 0];
  failTargets?: CloudApiError;
  failOpen?: CloudApiError;
  listenerSettings = {};
  calls: string[] = [];

  async loadBalancers(ids: string[]) {
    this.calls.push('loadBalancers');
    if (this.failOpen) throw this.failOpen;
    return ids.map((id) => ({ id, type: 'INTERNAL', vips: ['127.20.0.1'], vpcId: 'vpc-1' }));
  }
  async listeners(lbId: string) {
    return [{ lbId, protocol: 'TCP', port: 80, scheduler: 'WRR', ...this.listenerSettings }];
  }
  async targets(lbId: string, ips: string[]): Promise<TargetReading[]> {
    this.calls.push('targets');
    if (this.failTargets) throw this.failTargets;
    return ips.map((ip) => ({ lbId, protocol: 'TCP', port: 80, ip, targetPort: 8080, weight: this.weight(ip), healthy: true }));
  }
  async conNumPeriod() {
    return 1;
  }
  async conNum(queries: { dimensions: Record<string, string> }[], _from: Date, to: Date): Promise<ConnPoint[][]> {
    const end = Math.floor(to.getTime() / 1000) * 1000 - 1000;
    return queries.map((q) => {
      const values = this.connections(q.dimensions.lanIp!);
      return values.flatMap((v, i) => (v === null ? [] : [{ at: end - (values.length - 1 - i) * 1000, value: v }]));
    });
  }
}

const opener = (cloud: Cloud): CloudOpener => async () => ({ cloud });

async function started() {
  const sts = statefulSet({ replicas: 3, currentRevision: 'gw-1', updateRevision: 'gw-1', updatedReplicas: 3 });
  const cluster = new FakeCluster(sts, [0, 1, 2].map((i) => pod(i, { revision: 'gw-1' })));
  cluster.services = [
    {
      name: 'gw', resourceVersion: '7', type: 'LoadBalancer', selector: { app: 'gw' },
      annotations: { 'service.cloud.tencent.com/direct-access': 'true', 'service.kubernetes.io/loadbalance-id': 'lb-1' },
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
      annotationWriters: {},
    },
  ];
  cluster.controller = true;
  await runStart(validateStartOptions({ statefulset: 'gw', image: ['gw=nginx:2'], batch: 1, surge: 0, force: false, timeout: '5m' }), cluster, makeUi({ yes: true }, fakeIo()));
  // Rebuilt pods never become Ready here: each walk stops at the rebuild, after its deletion.
  cluster.broken.add('nginx:2');
  cluster.mutations.length = 0;
  return cluster;
}

const unattended = ['next', 'gw', '--yes', '--require-evidence', '--min-drain', '0s', '--timeout', '100ms', '--drain-timeout', '10s', '--evidence-interval', '100ms'];
const record = (c: FakeCluster) => recordOf(c);
/** The first batch's confirmation as the history keeps it (the record keeps only the batch in flight). */
const confirmed = (c: FakeCluster) => historyOf(c)[0]!.batches[0]!.confirmation!;
const deletions = (c: FakeCluster) => c.mutations.filter((m) => m.startsWith('delete pod'));

async function run(cluster: FakeCluster, cloud: Cloud | undefined, args: string[]) {
  const deps = fakeDeps(cluster);
  if (cloud) deps.openCloud = opener(cloud);
  const code = await main(args, deps);
  return { code, out: deps.io.stdout.text, err: deps.io.stderr.text };
}

describe('next --yes --require-evidence', () => {
  it('deletes once the evidence says drained, and records the verdict with the confirmation', async () => {
    const cluster = await started();
    const cloud = new ScriptedCloud();
    const r = await run(cluster, cloud, unattended);
    // The fake cluster never brings the pod back: the walk stops at the rebuild, after the deletion.
    expect(r.code).toBe(3);
    expect(deletions(cluster)).toEqual(['delete pod gw-0 uid-0']);
    const c = record(cluster).batches[0].confirmation;
    expect(c).toMatchObject({ by: 'tester', how: 'evidence', weightZero: true, connectionsDrained: true });
    expect(c.evidence).toEqual({ verdicts: [{ pod: 'gw-0', state: 'drained', reasons: [] }], zeroPoints: 3, periodSeconds: 1 });
    // On record in the history before the pod went, with the evidence it rested on.
    expect(confirmed(cluster)).toMatchObject({ by: 'tester', how: 'evidence', connectionsDrained: true, evidence: '1 of 1 pods drained (3 zero points of 1s)' });
    // Points count only from when weight 0 was seen: at 1 s periods, 3 zero points take about 3 s.
    expect(r.err).toMatch(/gw-0 not-yet \([012] of 3 zero points since weight 0/);
    expect(cluster.events.find((e) => e.includes('DrainConfirmed'))).toMatch(/^Normal DrainConfirmed: gw-0: weight 0 and connections drained, confirmed by tester on the drain evidence \(--require-evidence\) \d+s after the drain; evidence: gw-0 drained$/);
    expect(r.err).toContain('drain evidence: Tencent Cloud ap-guangzhou, credentials from the environment (TENCENTCLOUD_SECRET_ID)');
    expect(r.err).toMatch(/gw-0 .*TCP\/80.* 0 .*healthy/);
  });

  it('waits while the weight has not landed, and goes on once it has', async () => {
    const cluster = await started();
    const cloud = new ScriptedCloud();
    let reads = 0;
    cloud.weight = () => (++reads < 4 ? 10 : 0);
    const r = await run(cluster, cloud, unattended);
    expect(r.err).toContain('gw-0 not-yet (weight 10 on lb-1 TCP/80)');
    expect(deletions(cluster)).toEqual(['delete pod gw-0 uid-0']);
    expect(record(cluster).batches[0].confirmation.how).toBe('evidence');
  });

  it('stops at --drain-timeout when monitor points are missing (unknown, never zero), deleting nothing', async () => {
    const cluster = await started();
    const cloud = new ScriptedCloud();
    cloud.connections = () => [];
    const r = await run(cluster, cloud, [...unattended.slice(0, -4), '--drain-timeout', '1s', '--evidence-interval', '100ms']);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/error: the drain of gw-0 was not confirmed by the evidence within --drain-timeout \(1s\): gw-0 unknown: no ConNum data for lb-1 TCP\/80 -> 127\.10\.0\.10:8080\. Nothing was deleted; the pods stay drained\. Run the same command again to keep waiting\. To delete anyway once the weight reads 0, pass --force-after-timeout/);
    expect(deletions(cluster)).toEqual([]);
    expect(record(cluster).batches[0].phase).toBe('drained');
  });

  it('with --force-after-timeout deletes when only the connections never drained, and leaves a Warning Event', async () => {
    const cluster = await started();
    const cloud = new ScriptedCloud();
    cloud.connections = () => [3, 3, 2, 2];
    const r = await run(cluster, cloud, [...unattended.slice(0, -4), '--drain-timeout', '1s', '--evidence-interval', '100ms', '--force-after-timeout']);
    expect(r.err).toMatch(/warning: --drain-timeout \(1s\) passed without the evidence saying drained \(gw-0 not-yet: 2 connections on lb-1 TCP\/80/);
    expect(deletions(cluster)).toEqual(['delete pod gw-0 uid-0']);
    expect(record(cluster).batches[0].confirmation).toMatchObject({ how: 'forced-after-timeout', weightZero: true, connectionsDrained: false });
    expect(confirmed(cluster)).toMatchObject({ how: 'forced-after-timeout', connectionsDrained: false, evidence: expect.stringMatching(/^0 of 1 pods drained .*gw-0 not-yet/) });
    expect(cluster.events.find((e) => e.includes('DrainConfirmed'))).toMatch(/^Warning DrainConfirmed: gw-0: weight 0, connections NOT drained, confirmed by tester FORCED after --drain-timeout/);
  });

  it('does not force past a weight that never read 0', async () => {
    const cluster = await started();
    const cloud = new ScriptedCloud();
    cloud.weight = () => 10;
    const r = await run(cluster, cloud, [...unattended.slice(0, -4), '--drain-timeout', '1s', '--evidence-interval', '100ms', '--force-after-timeout']);
    expect(r.code).toBe(3);
    expect(r.err).toContain('--force-after-timeout does not apply: the CLB does not read weight 0 on every listener');
    expect(deletions(cluster)).toEqual([]);
  });

  it('keeps polling through throttling and goes on when the API answers again', async () => {
    const cluster = await started();
    const cloud = new ScriptedCloud();
    let n = 0;
    const targets = cloud.targets.bind(cloud);
    cloud.targets = async (lb, ips) => {
      if (++n <= 2) throw new CloudApiError('RequestLimitExceeded', 'DescribeTargets: RequestLimitExceeded: Your current request times exceeds the limit.');
      return targets(lb, ips);
    };
    const r = await run(cluster, cloud, unattended);
    expect(r.err).toContain('gw-0 unknown (CLB targets unreadable: DescribeTargets: RequestLimitExceeded');
    expect(deletions(cluster)).toEqual(['delete pod gw-0 uid-0']);
  });

  it('is refused before anything changes when the evidence is off', async () => {
    const cluster = await started();
    const r = await run(cluster, undefined, unattended);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: --require-evidence: the drain evidence is off: no Tencent Cloud credentials found; nothing was changed');
    expect(cluster.mutations).toEqual([]);
    expect(cluster.leases.size).toBe(0);
  });

  it('is refused before anything changes when Tencent Cloud refuses the credentials', async () => {
    const cluster = await started();
    const cloud = new ScriptedCloud();
    cloud.failOpen = new CloudApiError('AuthFailure.SecretIdNotFound', 'DescribeLoadBalancers: AuthFailure.SecretIdNotFound: The SecretId is not found.');
    const r = await run(cluster, cloud, unattended);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error: --require-evidence: Tencent Cloud refused the first read: DescribeLoadBalancers: AuthFailure.SecretIdNotFound');
    expect(cluster.mutations).toEqual([]);
  });

  it('--force-after-timeout alone is a usage error', async () => {
    const cluster = await started();
    const r = await run(cluster, new ScriptedCloud(), ['next', 'gw', '--yes', '--force-after-timeout']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--force-after-timeout is the policy of --require-evidence');
    expect(cluster.mutations).toEqual([]);
  });

  it('--zero-points must be a whole number of 1 or more', async () => {
    const r = await run(await started(), new ScriptedCloud(), ['next', 'gw', '--yes', '--zero-points', '0']);
    expect(r.code).toBe(2);
  });
});

describe('next --yes with evidence but without --require-evidence', () => {
  it('shows and records the evidence without waiting on it, and warns about listener settings before the first drain', async () => {
    const cluster = await started();
    const cloud = new ScriptedCloud();
    cloud.connections = () => [];
    cloud.listenerSettings = { sessionExpireTime: 30 };
    const r = await run(cluster, cloud, ['next', 'gw', '--yes', '--min-drain', '0s', '--timeout', '100ms']);
    expect(r.err).toMatch(/warning: lb-1 TCP\/80: session persistence is on \(30s\)/);
    expect(r.err.indexOf('session persistence')).toBeLessThan(r.err.indexOf('Drain gw-0'));
    expect(deletions(cluster)).toEqual(['delete pod gw-0 uid-0']);
    expect(record(cluster).batches[0].confirmation).toMatchObject({ how: 'yes', evidence: { verdicts: [{ pod: 'gw-0', state: 'unknown' }] } });
  });
});

describe('next without evidence', () => {
  it('says beside the prompt that evidence is off and how to switch it on', async () => {
    const cluster = await started();
    const r = await run(cluster, undefined, ['next', 'gw', '--yes', '--min-drain', '0s', '--timeout', '100ms']);
    expect(r.err).toContain('drain evidence: off (no Tencent Cloud credentials found); to read CLB weights and connections here, set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY');
    expect(record(cluster).batches[0].confirmation).toMatchObject({ how: 'yes' });
    expect(record(cluster).batches[0].confirmation.evidence).toBeUndefined();
  });
});

describe('secrets', () => {
  // The real opener reads the credentials from the environment and signs with them, against the
  // simulator's Tencent Cloud API on loopback: a wrong key is refused (so the key was used), and
  // neither the key nor the id shows anywhere the run writes.
  const id = 'AKIDsecrettest000000000000000000';
  const clb = new Clb({ healthCheckIntervalMs: 200, healthyThreshold: 1, unhealthyThreshold: 1, monitorPeriodMs: 1000 });
  const api = new CloudApi(clb, { secretId: id, secretKey: 'the-right-key-the-api-expects-000' });
  const saved = { id: process.env.TENCENTCLOUD_SECRET_ID, key: process.env.TENCENTCLOUD_SECRET_KEY };
  afterAll(async () => {
    for (const [k, v] of [['TENCENTCLOUD_SECRET_ID', saved.id], ['TENCENTCLOUD_SECRET_KEY', saved.key]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await api.close();
    await clb.close();
  });

  it('never reach the output, the Events or the record, even when Tencent Cloud refuses them', async () => {
    const endpoint = `http://${await api.listen()}`;
    const lb = clb.ensureLoadBalancer('default/gw', 'lb-1');
    await clb.apply(lb.id, [{ protocol: 'TCP', port: 80, targets: [] }]);
    process.env.TENCENTCLOUD_SECRET_ID = id;
    process.env.TENCENTCLOUD_SECRET_KEY = SECRET;
    const cluster = await started();
    const deps = fakeDeps(cluster);
    deps.openCloud = openCloud;
    const code = await main(['next', 'gw', '--yes', '--min-drain', '0s', '--timeout', '100ms', '--cloud-endpoint', endpoint, '--region', 'ap-guangzhou'], deps);
    const r = { code, out: deps.io.stdout.text, err: deps.io.stderr.text };
    // The key was read and used: the API refused its signature.
    expect(r.err).toContain('AuthFailure.SignatureFailure');
    expect(r.err).toContain('credentials from the environment (TENCENTCLOUD_SECRET_ID)');
    const written = `${r.out}${r.err}${JSON.stringify(cluster.events)}${JSON.stringify(cluster.sts)}${JSON.stringify(cluster.services)}`;
    expect(written.length).toBeGreaterThan(500);
    expect(written).not.toContain(SECRET);
    expect(written).not.toContain(id);

    // And with the right key: the evidence is read, and the key shows nowhere either.
    const right = 'the-right-key-the-api-expects-000';
    process.env.TENCENTCLOUD_SECRET_KEY = right;
    const accepted = await started();
    const deps2 = fakeDeps(accepted);
    deps2.openCloud = openCloud;
    await main(['next', 'gw', '--yes', '--min-drain', '0s', '--timeout', '100ms', '--cloud-endpoint', endpoint, '--region', 'ap-guangzhou'], deps2);
    const out2 = `${deps2.io.stdout.text}${deps2.io.stderr.text}${JSON.stringify(accepted.events)}${JSON.stringify(accepted.sts)}`;
    expect(out2).toContain(`drain evidence: Tencent Cloud ap-guangzhou, credentials from the environment (TENCENTCLOUD_SECRET_ID)`);
    expect(out2).not.toContain('AuthFailure');
    expect(out2).not.toContain(right);
    expect(out2).not.toContain(id);
  });
});

describe('next at a terminal with evidence', () => {
  async function interactive(cluster: FakeCluster, cloud: Cloud, answers: string[], extra: Partial<Parameters<typeof validateNextOptions>[0]> = {}) {
    const asked: { message: string; choices?: string[] }[] = [];
    const io = fakeIo();
    const ui: Ui = {
      ...makeUi({}, io),
      canAsk: true,
      confirm: async (message) => {
        asked.push({ message });
        return answers.shift() === 'yes';
      },
      choose: async (message, choices) => {
        asked.push({ message, choices: choices.map((c) => c.value) });
        return (answers.shift() ?? 'stop') as never;
      },
    };
    const o = validateNextOptions({
      statefulset: 'gw', 'min-drain': '0s', timeout: '100ms', 'force-unlock': false, 'dry-run': false, 'cloud-credentials': 'auto',
      'require-evidence': false, 'zero-points': 3, 'drain-timeout': '10s', 'force-after-timeout': false, 'evidence-interval': '100ms', ...extra,
    });
    const error = await runNext(o, cluster, ui, () => new Date(), opener(cloud)).catch((e: unknown) => e);
    return { asked, error, err: io.stderr.text };
  }

  it('offers to read again or to confirm anyway while the evidence says not yet, and records what the person saw', async () => {
    const cluster = await started();
    const r = await interactive(cluster, new ScriptedCloud(), ['yes', 'confirm', 'yes', 'yes']);
    expect(r.asked.map((a) => a.choices ?? a.message)).toEqual([
      'Drain gw-0 (CLB weight 0 on every Service port)?',
      ['refresh', 'confirm', 'stop'],
      'Does the CLB show weight 0 for gw-0 on every listener?',
      'Have the connections to gw-0 drained to 0?',
    ]);
    expect(r.asked[1]!.message).toBe('The evidence does not say gw-0 drained yet.');
    expect(deletions(cluster)).toEqual(['delete pod gw-0 uid-0']);
    expect(record(cluster).batches[0].confirmation).toMatchObject({ how: 'prompt', evidence: { verdicts: [{ pod: 'gw-0', state: 'not-yet' }] } });
  });

  it('reads again on request until the evidence says drained, then offers to confirm first', async () => {
    const cluster = await started();
    const answers = ['yes', ...Array.from({ length: 45 }, () => 'refresh')];
    const cloud = new ScriptedCloud();
    const r = await interactive(cluster, cloud, answers);
    // The scripted answers run out once the evidence says drained: no more 'refresh' is given.
    const drained = r.asked.find((a) => a.message === 'The evidence says gw-0 drained.');
    expect(drained?.choices).toEqual(['confirm', 'refresh', 'stop']);
    expect(deletions(cluster)).toEqual([]);
  }, 20_000);

  it('with --require-evidence offers no way past a verdict other than drained; stopping deletes nothing', async () => {
    const cluster = await started();
    const r = await interactive(cluster, new ScriptedCloud(), ['yes', 'stop'], { 'require-evidence': true });
    expect(r.asked[1]!.choices).toEqual(['refresh', 'stop']);
    expect((r.error as Error).message).toBe('stopped before deleting gw-0; nothing was deleted and they stay drained. Run the same command again to continue');
    expect(deletions(cluster)).toEqual([]);
    expect(record(cluster).batches[0].phase).toBe('drained');
  });
});
