import { describe, expect, it } from 'vitest';
import { templateChanges } from '../../src/core/template.js';

const rev = (image: string, extra: Record<string, unknown> = {}) => ({ spec: { template: { $patch: 'replace', metadata: { labels: { app: 'gw' }, ...extra }, spec: { containers: [{ name: 'app', image }, { name: 'sidecar', image: 'envoy:1' }] } } } });

describe('templateChanges', () => {
  it('names each changed field: containers by name, maps key by key', () => {
    expect(templateChanges(rev('gw:2'), rev('gw:3', { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-12-01T00:00:00Z' } }))).toEqual([
      'spec.template.metadata.annotations.kubectl.kubernetes.io/restartedAt: (none) -> 2026-12-01T00:00:00Z',
      'spec.template.spec.containers[app].image: gw:2 -> gw:3',
    ]);
  });
  it('says nothing for equal templates and caps a long list', () => {
    expect(templateChanges(rev('gw:2'), rev('gw:2'))).toEqual([]);
    const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${String(i).padStart(2, '0')}`, 'v']));
    const out = templateChanges(rev('gw:2'), rev('gw:2', { annotations: many }));
    expect(out).toHaveLength(21);
    expect(out.at(-1)).toBe('... and 10 more');
  });
});
