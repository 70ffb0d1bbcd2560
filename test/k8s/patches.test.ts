import { describe, expect, it } from 'vitest';
import { statefulSetPatch } from '../../src/k8s/patches.js';

describe('statefulSetPatch', () => {
  const revision = { spec: { template: { $patch: 'replace', spec: { containers: [{ name: 'gw', image: 'gw:1' }] } } } };
  it('keeps a revision\'s template beside the surge replicas (an undo with surge sends both in one patch)', () => {
    expect(statefulSetPatch('7', { revisionPatch: revision, replicas: 4, annotations: { a: 'b' } })).toEqual({
      spec: { template: revision.spec.template, replicas: 4 },
      metadata: { resourceVersion: '7', annotations: { a: 'b' } },
    });
  });
  it('sets images and replicas, conditional on the resourceVersion', () => {
    expect(statefulSetPatch('7', { images: [{ name: 'gw', image: 'gw:2' }], replicas: 3 })).toEqual({
      metadata: { resourceVersion: '7' },
      spec: { replicas: 3, template: { spec: { containers: [{ name: 'gw', image: 'gw:2' }] } } },
    });
  });
});
