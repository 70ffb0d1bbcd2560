import { describe, expect, it } from 'vitest';
import { main } from '../../src/app.js';
import { runStatus, validateStatusOptions } from '../../src/commands/status.js';
import { UsageError } from '../../src/core/errors.js';
import { makeUi } from '../../src/ui/terminal.js';
import { FakeCluster, fakeDeps, fakeIo, pod, statefulSet } from '../support/fakes.js';

describe('validateStatusOptions', () => {
  it('refuses an unknown output format', () => {
    expect(() => validateStatusOptions({ statefulset: 'gw', output: 'wide' })).toThrow(UsageError);
    expect(() => validateStatusOptions({ statefulset: 'gw', output: 'wide' })).toThrow('unknown output format "wide": use one of table, json, yaml');
  });
});

describe('runStatus', () => {
  it('prints JSON of the view to stdout and nothing to stderr', async () => {
    const io = fakeIo();
    const cluster = new FakeCluster(statefulSet(), [pod(0), pod(1), pod(2)]);
    const view = await runStatus({ name: 'gw', output: 'json' }, cluster, makeUi({}, io));
    expect(JSON.parse(io.stdout.text)).toEqual(view);
    expect(view.pods).toHaveLength(3);
    expect(io.stderr.text).toBe('');
    expect(cluster.calls).toEqual(['readStatefulSetWithPods gw']);
  });
});

describe('main wiring', () => {
  const run = async (argv: string[], cluster = new FakeCluster(statefulSet(), [pod(0)])) => {
    const deps = fakeDeps(cluster);
    const code = await main(argv, deps);
    return { code, out: deps.io.stdout.text, err: deps.io.stderr.text, opened: deps.opened };
  };

  it('--help lists the commands on stdout and exits 0 without opening the cluster', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('kubectl zerolossupgrade status <statefulset>');
    expect(r.out).toContain('--kubeconfig');
    expect(r.out).toContain('-n, --namespace');
    expect(r.opened).toEqual([]);
  });

  it('status --help shows kubectl-style examples', async () => {
    const r = await run(['status', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('kubectl zerolossupgrade status gateway -n prod');
  });

  it('passes the global flags through to the cluster connection', async () => {
    const r = await run(['status', 'gw', '-n', 'prod', '--context', 'c1', '--kubeconfig', '/k', '--request-timeout', '5s', '-o', 'yaml']);
    expect(r.code).toBe(0);
    expect(r.opened).toEqual([{ kubeconfig: '/k', context: 'c1', namespace: 'prod', requestTimeoutMs: 5000 }]);
    expect(r.out).toContain('name: gw');
  });

  it.each([
    [['bogus'], /Unknown argument: bogus/],
    [[], /name a command/],
    [['status'], /Not enough non-option arguments/],
    [['status', 'gw', '-o', 'wide'], /unknown output format "wide"/],
    [['status', 'gw', '--request-timeout', 'soon'], /invalid duration "soon" for --request-timeout/],
  ])('usage error %j: exit 2, one error line, cluster never opened', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).toMatch(/^error: /);
    expect(r.opened).toEqual([]);
    expect(r.out).toBe('');
  });

  it('a missing StatefulSet exits 1 with a message naming it and the namespace', async () => {
    const r = await run(['status', 'nope']);
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: statefulsets "nope" not found in namespace "prod"\n');
  });

  it('version prints the version', async () => {
    const r = await run(['version']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^kubectl-zerolossupgrade v\d+\.\d+\.\d+\S* \(node v\d+/);
  });
});

describe('status --watch', () => {
  it('refreshes while an upgrade is in progress and stops when it ends', async () => {
    const { RECORD_ANNOTATION, planBatches } = await import('../../src/core/upgrade.js');
    const record = {
      version: 1, statefulSet: 'gw', startedAt: 'T0', startedBy: 'alice', originalReplicas: 1, ordinalsStart: 0, surge: 0, batchSize: 1,
      originalRevision: 'gw-1', originalImages: [], targetImages: [], services: [], batches: planBatches(0, 1, 1),
    };
    const cluster = new FakeCluster(statefulSet({ replicas: 1, annotations: { [RECORD_ANNOTATION]: JSON.stringify(record) } }), [pod(0)]);
    const io = fakeIo();
    let sleeps = 0;
    const view = await runStatus({ name: 'gw', output: 'table', watch: true }, cluster, makeUi({}, io), async () => {
      // The upgrade ends during the second wait.
      if (++sleeps === 2) cluster.sts = { ...cluster.sts!, annotations: {} };
    });
    expect(sleeps).toBe(2);
    expect(view.upgrade).toBeNull();
    expect(cluster.calls.filter((c) => c.startsWith('readStatefulSetWithPods'))).toHaveLength(3);
    expect(io.stdout.text.match(/Upgrade: walking/g)).toHaveLength(2);
    expect(io.stdout.text).not.toContain('\x1b[2J'); // not a terminal: no screen clearing
  });

  it('refuses --watch with -o json', () => {
    expect(() => validateStatusOptions({ statefulset: 'gw', output: 'json', watch: true })).toThrow('--watch shows the table');
  });
});
