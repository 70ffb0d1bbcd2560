import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { selectorString, toPodSnapshots, toStatefulSetSnapshot } from '../../src/k8s/convert.js';

describe('selectorString', () => {
  it('spells matchLabels and every matchExpressions operator', () => {
    expect(
      selectorString({
        matchLabels: { app: 'gw', tier: 'edge' },
        matchExpressions: [
          { key: 'zone', operator: 'In', values: ['a', 'b'] },
          { key: 'canary', operator: 'NotIn', values: ['true'] },
          { key: 'team', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=gw,tier=edge,zone in (a,b),canary notin (true),team,!legacy');
  });
});

describe('toStatefulSetSnapshot', () => {
  it('applies the API defaults for fields left out', () => {
    const s = toStatefulSetSnapshot({ metadata: { name: 'gw', namespace: 'prod', uid: 'u' }, spec: { selector: {}, serviceName: 'gw', template: {} } });
    expect(s).toMatchObject({ replicas: 1, ordinalsStart: 0, updateStrategy: 'RollingUpdate', podManagementPolicy: 'OrderedReady' });
  });
});

describe('toPodSnapshots', () => {
  const sts = toStatefulSetSnapshot({
    metadata: { name: 'gw', namespace: 'prod', uid: 'sts-uid' },
    spec: { replicas: 2, selector: { matchLabels: { app: 'gw' } }, serviceName: 'gw', template: {} },
  });
  const mk = (name: string, ownerUid: string, extra: Partial<V1Pod> = {}): V1Pod => ({
    metadata: { name, uid: `${name}-uid`, labels: { 'controller-revision-hash': 'gw-abc' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'gw', uid: ownerUid, controller: true }] },
    spec: { containers: [{ name: 'gw', image: 'nginx:1' }], nodeName: 'n1', readinessGates: [{ conditionType: 'cloud.tencent.com/load-balancer-backendgroup-ready' }] },
    status: { phase: 'Running', podIP: '127.10.0.5', conditions: [{ type: 'Ready', status: 'True' }] },
    ...extra,
  });

  it('keeps only pods the StatefulSet controls, sorted by ordinal', () => {
    const out = toPodSnapshots(sts, [mk('gw-1', 'sts-uid'), mk('gw-0', 'sts-uid'), mk('gw-2', 'another-uid'), mk('gw-x', 'sts-uid')]);
    expect(out.map((p) => p.name)).toEqual(['gw-0', 'gw-1']);
    expect(out[0]).toMatchObject({
      ordinal: 0, ip: '127.10.0.5', node: 'n1', ready: true, revision: 'gw-abc', deleting: false,
      readinessGates: [{ type: 'cloud.tencent.com/load-balancer-backendgroup-ready', ok: false }],
    });
  });

  it('marks a pod with a deletionTimestamp as deleting', () => {
    const p = mk('gw-0', 'sts-uid');
    p.metadata!.deletionTimestamp = new Date();
    expect(toPodSnapshots(sts, [p])[0]!.deleting).toBe(true);
  });
});
