import { describe, expect, it } from 'vitest';
import { toStatusView } from '../../src/core/status-view.js';
import { pod, statefulSet } from '../support/fakes.js';

describe('toStatusView', () => {
  it('has a row per owned ordinal with revision state, and marks missing pods', () => {
    const sts = statefulSet({ replicas: 3 });
    const view = toStatusView(sts, [
      pod(0, { revision: 'gw-7f9c8d4b5', containers: [{ name: 'gw', image: 'nginx:1.25.4' }] }),
      pod(2, { deleting: true, ready: false }),
    ]);
    expect(view.pods.map((p) => [p.ordinal, p.exists, p.revisionState, p.phase])).toEqual([
      [0, true, 'new', 'Running'],
      [1, false, 'unknown', 'Missing'],
      [2, true, 'old', 'Terminating'],
    ]);
    expect(view.pods[0]!.images).toEqual([{ name: 'gw', image: 'nginx:1.25.4' }]);
    expect(view.statefulSet).toMatchObject({ name: 'gw', namespace: 'prod', replicas: 3, updateStrategy: 'OnDelete' });
  });

  it('keeps pods beyond the replica count (a surge being scaled away) and honours ordinals.start', () => {
    const sts = statefulSet({ replicas: 2, ordinalsStart: 3 });
    const view = toStatusView(sts, [pod(3), pod(4), pod(5)]);
    expect(view.pods.map((p) => p.ordinal)).toEqual([3, 4, 5]);
  });
});

describe('toStatusView during an upgrade', () => {
  it('places each pod in the walk and shows the weight the annotation gives it on each Service port', async () => {
    const { advance, planBatches } = await import('../../src/core/upgrade.js');
    type Record = import('../../src/core/upgrade.js').UpgradeRecord;
    const sts = statefulSet({ replicas: 4, currentRevision: 'gw-1', updateRevision: 'gw-2' });
    let record: Record = {
      version: 1, statefulSet: 'gw', startedAt: 'T0', startedBy: 'alice', originalReplicas: 3, ordinalsStart: 0, surge: 1, batchSize: 1,
      originalRevision: 'gw-1', targetRevision: 'gw-2', originalImages: [], targetImages: [{ name: 'gw', image: 'gw:2' }],
      services: [{ name: 'gw', ports: [{ proto: 'TCP', port: 80 }], original: null }], batches: planBatches(0, 3, 1),
    };
    record = advance(advance(advance(advance(advance(record, 0, 'drained'), 0, 'confirmed', { confirmation: { by: 'bob', at: 'T1', weightZero: true, connectionsDrained: true, afterSeconds: 40 } }), 0, 'deleting'), 0, 'rebuilt'), 0, 'done');
    record = advance(record, 1, 'drained');
    const annotation = '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]}]}';
    const services = [{ name: 'gw', resourceVersion: '1', type: 'LoadBalancer', selector: {}, annotations: { 'service.cloud.tencent.com/lb-rs-weight': annotation }, ports: [], annotationWriters: {} }];
    const view = toStatusView(sts, [pod(0, { revision: 'gw-2' }), pod(1), pod(2), pod(3, { revision: 'gw-2' })], record, services);
    expect(view.pods.map((p) => [p.pod, p.step, p.weights])).toEqual([
      ['gw-0', 'upgraded', { 'gw TCP/80': 10 }],
      ['gw-1', 'draining', { 'gw TCP/80': 0 }],
      ['gw-2', 'pending', { 'gw TCP/80': 10 }],
      ['gw-3', 'surge', { 'gw TCP/80': 10 }],
    ]);
    expect(view.upgrade).toMatchObject({ phase: 'walking', upgraded: 1, total: 3, batch: { index: 2, of: 3, phase: 'drained' }, startedBy: 'alice' });
    expect(view.upgrade!.confirmations).toEqual([{ by: 'bob', at: 'T1', weightZero: true, connectionsDrained: true, afterSeconds: 40, what: 'ordinals 0' }]);
  });

  it('has no upgrade part without a record', () => {
    expect(toStatusView(statefulSet(), [pod(0)]).upgrade).toBeNull();
  });
});
