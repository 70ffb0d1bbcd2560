// TKE's readiness-gate webhook: which pods get the gate (the webhook's HTTPS side runs in e2e).
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { DIRECT_ACCESS, READINESS_GATE } from '../../sim/controller.js';
import { readinessGatePatch } from '../../sim/webhook.js';

const pod = (labels: Record<string, string>, gates?: string[]): V1Pod => ({ metadata: { name: 'gw-0', labels }, spec: { containers: [], ...(gates ? { readinessGates: gates.map((conditionType) => ({ conditionType })) } : {}) } });
const service = (selector: Record<string, string>, extra: { type?: string; direct?: string } = {}): V1Service => ({
  metadata: { name: 'gw', annotations: extra.direct === undefined ? { [DIRECT_ACCESS]: 'true' } : { [DIRECT_ACCESS]: extra.direct } },
  spec: { type: extra.type ?? 'LoadBalancer', selector },
});

describe('readinessGatePatch', () => {
  it('adds the gate to a pod a direct-access LoadBalancer Service selects', () => {
    expect(readinessGatePatch(pod({ app: 'gw' }), [service({ app: 'gw' })])).toEqual([{ op: 'add', path: '/spec/readinessGates', value: [{ conditionType: READINESS_GATE }] }]);
  });

  it('appends it to the pod\'s own gates, and adds it only once', () => {
    expect(readinessGatePatch(pod({ app: 'gw' }, ['example.com/warm']), [service({ app: 'gw' })])).toEqual([{ op: 'add', path: '/spec/readinessGates/-', value: { conditionType: READINESS_GATE } }]);
    expect(readinessGatePatch(pod({ app: 'gw' }, [READINESS_GATE]), [service({ app: 'gw' })])).toEqual([]);
  });

  it('leaves pods alone that no direct-access LoadBalancer Service selects', () => {
    expect(readinessGatePatch(pod({ app: 'other' }), [service({ app: 'gw' })])).toEqual([]);
    expect(readinessGatePatch(pod({ app: 'gw' }), [service({ app: 'gw' }, { type: 'ClusterIP' })])).toEqual([]);
    expect(readinessGatePatch(pod({ app: 'gw' }), [service({ app: 'gw' }, { direct: 'false' })])).toEqual([]);
    expect(readinessGatePatch(pod({ app: 'gw' }), [service({})])).toEqual([]); // no selector selects nothing
    expect(readinessGatePatch(pod({ app: 'gw' }), [])).toEqual([]);
  });
});
