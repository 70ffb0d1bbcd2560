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
