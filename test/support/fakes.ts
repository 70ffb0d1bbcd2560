// Test doubles for the two things commands depend on: the terminal and the cluster.
import { PassThrough, Writable } from 'node:stream';
import type { Deps } from '../../src/commands/common.js';
import { NotFoundError } from '../../src/core/errors.js';
import type { PodSnapshot, StatefulSetSnapshot } from '../../src/core/workload.js';
import type { Cluster } from '../../src/k8s/types.js';
import type { Io } from '../../src/ui/terminal.js';

export class Buffered extends Writable {
  text = '';
  isTTY: boolean;
  constructor(tty = false) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
}

export function fakeIo(opts: { tty?: boolean; env?: Record<string, string> } = {}): Io & { stdout: Buffered; stderr: Buffered } {
  const stdin = Object.assign(new PassThrough(), { isTTY: opts.tty ?? false });
  return { stdin, stdout: new Buffered(opts.tty), stderr: new Buffered(opts.tty), env: opts.env ?? {} };
}

export function statefulSet(overrides: Partial<StatefulSetSnapshot> = {}): StatefulSetSnapshot {
  return {
    name: 'gw',
    namespace: 'prod',
    uid: 'sts-uid',
    resourceVersion: '100',
    generation: 2,
    observedGeneration: 2,
    replicas: 3,
    ordinalsStart: 0,
    updateStrategy: 'OnDelete',
    podManagementPolicy: 'Parallel',
    currentRevision: 'gw-5d8f7c6b9',
    updateRevision: 'gw-7f9c8d4b5',
    readyReplicas: 3,
    updatedReplicas: 1,
    selector: { app: 'gw' },
    podLabels: { app: 'gw' },
    containers: [{ name: 'gw', image: 'nginx:1.25.4' }],
    annotations: {},
    ...overrides,
  };
}

export function pod(ordinal: number, overrides: Partial<PodSnapshot> = {}): PodSnapshot {
  return {
    name: `gw-${ordinal}`,
    uid: `uid-${ordinal}`,
    ordinal,
    ip: `127.10.0.${ordinal + 10}`,
    node: 'kwok-node-0',
    phase: 'Running',
    ready: true,
    readinessGates: [],
    deleting: false,
    revision: 'gw-5d8f7c6b9',
    containers: [{ name: 'gw', image: 'nginx:1.25.3' }],
    ...overrides,
  };
}

/** An in-memory cluster that records every call, so tests can assert what was (not) done. */
export class FakeCluster implements Cluster {
  readonly calls: string[] = [];
  constructor(
    public sts: StatefulSetSnapshot | undefined,
    public pods: PodSnapshot[] = [],
    readonly namespace = 'prod',
  ) {}

  async readStatefulSetWithPods(name: string) {
    this.calls.push(`readStatefulSetWithPods ${name}`);
    if (!this.sts || this.sts.name !== name) {
      throw new NotFoundError('statefulsets', name, this.namespace);
    }
    return { sts: this.sts, pods: this.pods };
  }
}

export function fakeDeps(cluster: Cluster, io = fakeIo()): Deps & { io: ReturnType<typeof fakeIo>; opened: unknown[] } {
  const opened: unknown[] = [];
  return {
    io,
    opened,
    openCluster: async (flags) => {
      opened.push(flags);
      return cluster;
    },
  };
}
