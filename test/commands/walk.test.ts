// start / next / finish against the in-memory cluster: every refusal leaves the cluster untouched.
import { describe, expect, it } from 'vitest';
import { main } from '../../src/app.js';
import { runStart, validateStartOptions } from '../../src/commands/start.js';
import { GateError, UsageError } from '../../src/core/errors.js';
import { decodeRecord } from '../../src/core/upgrade.js';
import { makeUi } from '../../src/ui/terminal.js';
import { FakeCluster, fakeDeps, fakeIo, pod, service, statefulSet } from '../support/fakes.js';
import { run, settled as settledAt } from '../support/walk.js';

function settled() {
  const sts = statefulSet({ replicas: 3, currentRevision: 'gw-1', updateRevision: 'gw-1', updatedReplicas: 3, containers: [{ name: 'gw', image: 'nginx:1.25.3' }] });
  const cluster = new FakeCluster(sts, [0, 1, 2].map((i) => pod(i, { revision: 'gw-1' })));
  cluster.services = [service()];
  cluster.controller = true;
  return cluster;
}

const start = (args: Partial<Parameters<typeof validateStartOptions>[0]> = {}) =>
  validateStartOptions({ statefulset: 'gw', image: ['gw=nginx:2'], batch: 1, force: false, timeout: '5m', ...args });

describe('validateStartOptions', () => {
  it.each([
    [{ image: ['nginx:2'] }, /use CONTAINER=IMAGE/],
    [{ image: ['gw=Not A Ref'] }, /is not a valid image reference/],
    [{ image: ['gw=a:1', 'gw=b:2'] }, /names a container twice/],
    [{ batch: 0 }, /--batch must be a whole number of at least 1/],
    [{ surge: -1 }, /--surge must be a whole number of at least 0/],
    [{ timeout: 'forever' }, /invalid duration/],
  ])('refuses %j', (args, message) => {
    expect(() => start(args)).toThrow(UsageError);
    expect(() => start(args)).toThrow(message);
  });

  it('defaults surge to the batch size and accepts registries, ports and digests', () => {
    expect(start({ batch: 3 }).surge).toBe(3);
    expect(start({ image: ['gw=registry.example:5000/team/gw:2.1@sha256:' + 'a'.repeat(64)] }).images[0]!.image).toContain('registry.example:5000');
  });
});

describe('start preflight refuses and changes nothing', () => {
  const refusals: [string, (c: FakeCluster) => void, RegExp, Partial<Parameters<typeof validateStartOptions>[0]>?][] = [
    ['RollingUpdate strategy', (c) => (c.sts = { ...c.sts!, updateStrategy: 'RollingUpdate' }), /updateStrategy RollingUpdate: its controller would replace pods itself/],
    ['unknown container', () => undefined, /has no container "nope" \(it has: gw\)/, { image: ['nope=nginx:2'] }],
    ['malformed existing annotation', (c) => (c.services = [service({ annotations: { 'service.cloud.tencent.com/direct-access': 'true', 'service.cloud.tencent.com/lb-rs-weight': '{"groups":' } })]), /malformed service\.cloud\.tencent\.com\/lb-rs-weight annotation: not valid JSON/],
    ['Service without direct-access', (c) => (c.services = [service({ annotations: {} })]), /not in CLB direct-to-pod mode/],
    ['no selecting Service', (c) => (c.services = [service({ selector: { app: 'other' } })]), /no LoadBalancer Service selects the pods/],
    ['a named Service that does not exist', () => undefined, /service "nope" \(--service\) is not a LoadBalancer Service/, { service: ['nope'] }],
    ['an HPA without --force', (c) => (c.hpas = ['gw-hpa']), /horizontalpodautoscaler gw-hpa scales statefulset "gw"/],
    ['a pod not Ready', (c) => (c.pods = c.pods.map((p) => (p.ordinal === 1 ? { ...p, ready: false } : p))), /not settled: gw-1: Running but not Ready/],
    ['pods on two revisions', (c) => (c.pods = c.pods.map((p) => (p.ordinal === 2 ? { ...p, revision: 'gw-9' } : p))), /not settled: the pods are on 2 revisions \(gw-1: 0, 1; gw-9: 2\)/],
    ['0 replicas', (c) => ((c.sts = { ...c.sts!, replicas: 0 }), (c.pods = [])), /has 0 replicas: there is nothing to walk/],
    ['a direct-access Service left out by --service', (c) => (c.services = [service(), service({ name: 'gw-internal' })]), /service "gw-internal" \(direct access\) also selects the pods .* not named with --service/, { service: ['gw'] }],
    [
      'weight-0 entries left by a lost record',
      (c) => (c.services = [service({ annotations: { 'service.cloud.tencent.com/direct-access': 'true', 'service.cloud.tencent.com/lb-rs-weight': '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]}]}' } })]),
      /service "gw" gives gw-1 weight 0, but no upgrade is recorded .* kubectl annotate service gw -n prod service\.cloud\.tencent\.com\/lb-rs-weight-\. .*--keep-zero-weights/,
    ],
    [
      'an upgrade already under way',
      (c) => (c.sts = { ...c.sts!, annotations: { 'zerolossupgrade.io/upgrade': JSON.stringify({ version: 1, statefulSet: 'gw', originalRevision: 'gw-1', services: [], targetImages: [{ name: 'gw', image: 'nginx:2' }], batches: [{ ordinals: [0], phase: 'drained' }] }) } }),
      /already recorded .* next gw/,
    ],
  ];
  it.each(refusals)('%s', async (_, arrange, message, args) => {
    const cluster = settled();
    arrange(cluster);
    const error = await runStart(start(args), cluster, makeUi({}, fakeIo())).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GateError);
    expect((error as Error).message).toMatch(message);
    expect(cluster.mutations).toEqual([]);
  });

  it('refuses a StatefulSet that does not exist', async () => {
    const cluster = settled();
    await expect(runStart(start({ statefulset: 'nope' }), cluster, makeUi({}, fakeIo()))).rejects.toThrow('statefulsets "nope" not found in namespace "prod"');
    expect(cluster.mutations).toEqual([]);
  });
});

describe('start when the StatefulSet moves under it', () => {
  it('checks again and retries when its status changed between the preflight read and the patch', async () => {
    const cluster = settled();
    const read = cluster.readStatefulSetWithPods.bind(cluster);
    let reads = 0;
    cluster.readStatefulSetWithPods = async (name: string) => {
      const r = await read(name);
      // The controller writes status right after the first read: the patch sees a newer resourceVersion.
      if (++reads === 1) cluster.sts = { ...cluster.sts!, resourceVersion: '101' };
      return r;
    };
    await runStart(start({ surge: 0 }), cluster, makeUi({ yes: true }, fakeIo()));
    expect(cluster.mutations.filter((m) => m.startsWith('patch statefulset') && m.includes('"images"'))).toHaveLength(1);
    expect(cluster.sts!.annotations['zerolossupgrade.io/upgrade']).toBeDefined();
  });
});

describe('next and finish without a recorded upgrade', () => {
  it.each([['next'], ['finish']])('%s: exit 3 with the way to start, nothing changed', async (verb) => {
    const cluster = settled();
    const deps = fakeDeps(cluster);
    expect(await main([verb, 'gw', '--yes'], deps)).toBe(3);
    expect(deps.io.stderr.text).toBe('error: no upgrade is in progress on statefulset "gw"; start one with: kubectl zerolossupgrade start gw\n');
    expect(cluster.mutations).toEqual([]);
  });

  it('next without a terminal and without --yes is a usage error, before anything changes', async () => {
    const cluster = settled();
    await runStart(start(), cluster, makeUi({ yes: true }, fakeIo())).catch(() => undefined);
    const before = cluster.mutations.length;
    const deps = fakeDeps(cluster);
    expect(await main(['next', 'gw'], deps)).toBe(2);
    expect(deps.io.stderr.text).toContain('there is no terminal to ask on; run it in a terminal, or pass --yes');
    expect(cluster.mutations.length).toBe(before);
  });
});

describe('a rebuilt pod that never becomes Ready', () => {
  it('stops the walk with the way back, and the batch stays drained', async () => {
    const cluster = settled();
    await runStart(start({ surge: 0 }), cluster, makeUi({ yes: true }, fakeIo()));
    cluster.broken.add('nginx:2');
    const deps = fakeDeps(cluster);
    const code = await main(['next', 'gw', '--yes', '--min-drain', '0s', '--timeout', '1s'], deps);
    expect(code).toBe(3);
    expect(deps.io.stderr.text).toMatch(/error: gw-0 did not become Ready at revision gw-\w+ within --timeout \(1s\): gw-0: gw ImagePullBackOff: Back-off pulling image\. They stay drained\. Look at them .* then run the same command again to keep waiting, or roll back/);
    expect(cluster.mutations.filter((m) => m.startsWith('delete pod'))).toEqual(['delete pod gw-0 uid-0']);
    const annotation = cluster.services[0]!.annotations['service.cloud.tencent.com/lb-rs-weight'];
    expect(JSON.parse(annotation!).groups[0].statefulSets[0]).toEqual({ name: 'gw', weights: [{ weight: 0, podIndexes: [0] }] });
    const record = decodeRecord(cluster.sts!.annotations['zerolossupgrade.io/upgrade']!);
    expect(record.batches[0]!.phase).toBe('deleting');
    expect(record.batches[0]!.confirmation).toMatchObject({ by: 'tester', weightZero: true, connectionsDrained: true });
  });
});

describe('operator lock', () => {
  it('refuses a second operator while the lease is live, naming the holder, and changes nothing', async () => {
    const cluster = settled();
    cluster.leases.set('zerolossupgrade-gw', { holder: 'bob (laptop pid 7)', acquiredAt: '2026-11-26T11:00:00.000Z', renewedAt: new Date().toISOString(), durationSeconds: 30, resourceVersion: '3' });
    const deps = fakeDeps(cluster);
    expect(await main(['start', 'gw', '--image', 'gw=nginx:2', '--yes'], deps)).toBe(3);
    expect(deps.io.stderr.text).toBe(
      'error: statefulset "gw" is being changed by bob (laptop pid 7) since 2026-11-26T11:00:00.000Z (lease prod/zerolossupgrade-gw); wait for them, or if that session is gone pass --force-unlock\n',
    );
    expect(cluster.mutations).toEqual([]);
  });

  it('takes over a stale lease, records an Event per step, and releases the lease at the end', async () => {
    const cluster = settled();
    cluster.leases.set('zerolossupgrade-gw', { holder: 'bob', acquiredAt: '2026-11-26T11:00:00.000Z', renewedAt: '2026-11-26T11:00:00.000Z', durationSeconds: 30, resourceVersion: '3' });
    const io = fakeIo();
    await runStart(start({ surge: 0 }), cluster, makeUi({ yes: true }, io));
    expect(io.stderr.text).toContain('taking over the lock of bob');
    expect(cluster.leases.has('zerolossupgrade-gw')).toBe(false);
    expect(cluster.events).toEqual(['Normal UpgradeStarted: by tester: 3 batches of up to 1, surge 0; from revision gw-1; target gw=nginx:2']);
  });
});

describe('abort', () => {
  it('shows the impact, asks, clears the record and leaves an Event, deleting nothing', async () => {
    const cluster = settled();
    await runStart(start({ surge: 0 }), cluster, makeUi({ yes: true }, fakeIo()));
    const deps = fakeDeps(cluster);
    expect(await main(['abort', 'gw', '--yes', '--min-drain', '0s'], deps)).toBe(0);
    expect(deps.io.stderr.text).toContain('staying as they are: gw-0, gw-1, gw-2');
    expect(deps.io.stdout.text).toContain('upgrade of statefulset "gw" aborted');
    expect(cluster.sts!.annotations['zerolossupgrade.io/upgrade']).toBeUndefined();
    expect(cluster.mutations.filter((m) => m.startsWith('delete'))).toEqual([]);
    expect(cluster.events.at(-1)).toMatch(/^Normal UpgradeAborted: aborted by tester: 0 of 3 pods/);
  });

  it('without a terminal and without --yes asks nothing and changes nothing', async () => {
    const cluster = settled();
    await runStart(start({ surge: 0 }), cluster, makeUi({ yes: true }, fakeIo()));
    const before = [...cluster.mutations];
    const deps = fakeDeps(cluster);
    expect(await main(['abort', 'gw'], deps)).toBe(2);
    expect(cluster.mutations).toEqual(before);
  });
});

describe('--dry-run', () => {
  it('start prints the one conditional patch and changes nothing', async () => {
    const cluster = settled();
    const deps = fakeDeps(cluster);
    expect(await main(['start', 'gw', '--image', 'gw=nginx:2', '--dry-run'], deps)).toBe(0);
    expect(cluster.mutations).toEqual([]);
    expect(cluster.leases.size).toBe(0);
    const out = deps.io.stdout.text;
    expect(out).toContain('dry run: nothing was changed. In order, the command would:');
    expect(out).toContain('1. PATCH statefulset gw (strategic merge)');
    const body = JSON.parse(out.split('\n')[2]!);
    expect(body.metadata.resourceVersion).toBe('100');
    expect(body.spec).toEqual({ replicas: 4, template: { spec: { containers: [{ name: 'gw', image: 'nginx:2' }] } } });
    expect(decodeRecord(body.metadata.annotations['zerolossupgrade.io/upgrade']).batches).toHaveLength(3);
    expect(out).toContain('2. wait until surge pods gw-3 are Running and Ready');
  });

  it('next prints drain, deletion with the uid precondition, and restore, and changes nothing', async () => {
    const cluster = settled();
    await runStart(start({ surge: 0 }), cluster, makeUi({ yes: true }, fakeIo()));
    const before = [...cluster.mutations];
    const deps = fakeDeps(cluster);
    expect(await main(['next', 'gw', '--dry-run'], deps)).toBe(0);
    expect(cluster.mutations).toEqual(before);
    const lines = deps.io.stdout.text.split('\n');
    expect(lines[1]).toBe('1. PATCH statefulset gw (strategic merge)');
    expect(lines[3]).toBe('2. PATCH service gw (merge)');
    expect(JSON.parse(lines[4]!).metadata.annotations['service.cloud.tencent.com/lb-rs-weight']).toBe(
      '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[0]}]}]}]}',
    );
    expect(lines[5]).toMatch(/^3\. wait --min-drain, then ask the operator/);
    expect(lines[6]).toBe('4. PATCH configmap zerolossupgrade-history-gw (merge): who confirmed, how and on what evidence, before any eviction');
    expect(lines[7]).toBe('5. POST pods/gw-0/eviction');
    expect(JSON.parse(lines[8]!)).toEqual({ deleteOptions: { preconditions: { uid: 'uid-0' } } });
    expect(lines[10]).toBe('7. PATCH service gw (merge) (restore)');
    expect(JSON.parse(lines[11]!).metadata.annotations['service.cloud.tencent.com/lb-rs-weight']).toBeNull();
    expect(lines[12]).toBe('8. PATCH configmap zerolossupgrade-history-gw (merge): rebuilt and restored at');
  });
});

describe('rollback --dry-run', () => {
  it('prints the revision\'s template patch with the turned-around record, and changes nothing', async () => {
    const cluster = settled();
    await runStart(start({ surge: 0 }), cluster, makeUi({ yes: true }, fakeIo()));
    const before = [...cluster.mutations];
    const deps = fakeDeps(cluster);
    expect(await main(['rollback', 'gw', '--dry-run'], deps)).toBe(0);
    expect(cluster.mutations).toEqual(before);
    const lines = deps.io.stdout.text.split('\n');
    expect(lines[1]).toBe('1. PATCH statefulset gw (strategic merge)');
    const body = JSON.parse(lines[2]!);
    expect(body.spec.template.$patch).toBe('replace');
    expect(body.spec.template.spec.containers).toEqual([{ name: 'gw', image: 'nginx:1.25.3' }]);
    expect(JSON.parse(body.metadata.annotations['zerolossupgrade.io/upgrade']).rollback.by).toBe('tester');
  });
});

describe('rollback once finish has scaled back', () => {
  it('refuses before changing anything', async () => {
    const cluster = settled();
    await runStart(start({ surge: 0 }), cluster, makeUi({ yes: true }, fakeIo()));
    const record = JSON.parse(cluster.sts!.annotations['zerolossupgrade.io/upgrade']!);
    cluster.sts = { ...cluster.sts!, annotations: { 'zerolossupgrade.io/upgrade': JSON.stringify({ ...record, finish: { phase: 'scaled', drainedAt: 'T' } }) } };
    const before = [...cluster.mutations];
    const deps = fakeDeps(cluster);
    expect(await main(['rollback', 'gw', '--yes'], deps)).toBe(3);
    expect(deps.io.stderr.text).toContain('has already scaled back; complete it with: kubectl zerolossupgrade finish gw');
    expect(cluster.mutations).toEqual(before);
  });
});

describe('the CLB backend quota', () => {
  it('start warns when replicas plus surge exceed what one CLB takes, naming the Service and the flag', async () => {
    const cluster = settledAt('gw', 3);
    const r = await run(cluster, ['start', 'gw', '--image', 'gw=gw:2', '--clb-backend-quota', '3']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: service "gw": 3 replicas \+ 1 surge = 4 pods to bind to its CLB, over 3 backends per CLB .*--clb-backend-quota/);
  });
  it('says nothing within the default of 200, and refuses a quota that is not a count', async () => {
    const cluster = settledAt('gw', 3);
    expect((await run(cluster, ['start', 'gw', '--image', 'gw=gw:2'])).err).not.toContain('backends per CLB');
    const bad = await run(settledAt('gw', 3), ['start', 'gw', '--image', 'gw=gw:2', '--clb-backend-quota', '0']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--clb-backend-quota must be a whole number of at least 1');
  });
});
