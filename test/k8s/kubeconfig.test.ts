import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { kubeconfigPaths, loadKubeconfig, mergeKubeconfigs, resolveTarget, type KubeconfigDoc } from '../../src/k8s/kubeconfig.js';

const doc = (name: string, extra: Partial<KubeconfigDoc> = {}): KubeconfigDoc => ({
  clusters: [{ name, cluster: { server: `https://${name}.example:6443`, 'certificate-authority': 'ca.crt' } }],
  users: [{ name, user: { 'client-certificate': 'certs/client.crt', 'client-key': '/abs/client.key' } }],
  contexts: [{ name, context: { cluster: name, user: name, namespace: `${name}-ns` } }],
  'current-context': name,
  ...extra,
});

describe('kubeconfigPaths', () => {
  it('--kubeconfig wins over KUBECONFIG and is explicit', () => {
    expect(kubeconfigPaths({ kubeconfig: '/a' }, { KUBECONFIG: '/b' }, '/home/u')).toEqual({ paths: ['/a'], explicit: true });
  });
  it('KUBECONFIG is a list in order, empty entries and repeats dropped', () => {
    expect(kubeconfigPaths({}, { KUBECONFIG: ['/b', '', '/c', '/b'].join(delimiter) }, '/home/u')).toEqual({ paths: ['/b', '/c'], explicit: false });
  });
  it('falls back to ~/.kube/config', () => {
    expect(kubeconfigPaths({}, {}, '/home/u').paths).toEqual([join('/home/u', '.kube', 'config')]);
  });
});

describe('mergeKubeconfigs', () => {
  it('first file wins for duplicate names and for current-context, like kubectl', () => {
    const a = doc('prod');
    const b = { ...doc('prod'), clusters: [{ name: 'prod', cluster: { server: 'https://other:6443' } }], 'current-context': 'dev' };
    const merged = mergeKubeconfigs([{ path: '/x/a', doc: a }, { path: '/y/b', doc: { ...b, contexts: [...b.contexts!, ...doc('dev').contexts!] } }]);
    expect(merged['current-context']).toBe('prod');
    expect(merged.clusters).toHaveLength(1);
    expect((merged.clusters![0]!.cluster as { server: string }).server).toBe('https://prod.example:6443');
    expect(merged.contexts!.map((c) => c.name)).toEqual(['prod', 'dev']);
  });

  it('takes current-context from a later file when earlier ones have none', () => {
    const merged = mergeKubeconfigs([{ path: '/x/a', doc: { ...doc('a'), 'current-context': undefined } }, { path: '/y/b', doc: doc('b') }]);
    expect(merged['current-context']).toBe('b');
  });

  it('resolves relative file paths against the folder of the file they came from', () => {
    const merged = mergeKubeconfigs([{ path: '/etc/kube/config', doc: doc('prod') }]);
    expect(merged.clusters![0]!.cluster).toMatchObject({ 'certificate-authority': '/etc/kube/ca.crt' });
    expect(merged.users![0]!.user).toMatchObject({ 'client-certificate': '/etc/kube/certs/client.crt', 'client-key': '/abs/client.key' });
  });
});

describe('resolveTarget', () => {
  const merged = mergeKubeconfigs([{ path: '/k/a', doc: doc('prod') }, { path: '/k/b', doc: doc('dev') }]);
  it('uses current-context and its namespace', () => {
    expect(resolveTarget(merged, {})).toEqual({ context: 'prod', namespace: 'prod-ns', server: 'https://prod.example:6443' });
  });
  it('--context picks another context; -n overrides the namespace', () => {
    expect(resolveTarget(merged, { context: 'dev', namespace: 'x' })).toEqual({ context: 'dev', namespace: 'x', server: 'https://dev.example:6443' });
  });
  it('defaults the namespace to "default" when the context has none', () => {
    const d = doc('bare', { contexts: [{ name: 'bare', context: { cluster: 'bare', user: 'bare' } }] });
    expect(resolveTarget(d, {}).namespace).toBe('default');
  });
  it.each([
    [{ context: 'nope' }, doc('prod'), /context "nope" does not exist/],
    [{}, { ...doc('prod'), 'current-context': undefined }, /current-context is not set/],
    [{}, { ...doc('prod'), clusters: [] }, /cluster "prod" of context "prod" is missing/],
    [{}, { ...doc('prod'), users: [] }, /user "prod" of context "prod" is missing/],
  ])('explains a broken selection %#', (flags, d, message) => {
    expect(() => resolveTarget(d, flags)).toThrow(ConfigError);
    expect(() => resolveTarget(d, flags)).toThrow(message);
  });
});

describe('loadKubeconfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zlu-kc-'));
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const a = write('a.yaml', JSON.stringify(doc('prod')));
  const b = write('b.yaml', JSON.stringify(doc('dev')));

  it('merges a KUBECONFIG list and skips files that do not exist', () => {
    const loaded = loadKubeconfig({ requestTimeoutMs: 0 }, { KUBECONFIG: [join(dir, 'missing'), b, a].join(delimiter) });
    expect(loaded.context).toBe('dev');
    expect(loaded.files).toEqual([b, a]);
    expect(loaded.doc.contexts!.map((c) => c.name)).toEqual(['dev', 'prod']);
  });

  it('refuses a missing file named by --kubeconfig', () => {
    expect(() => loadKubeconfig({ kubeconfig: join(dir, 'missing'), requestTimeoutMs: 0 }, {})).toThrow(/cannot read kubeconfig/);
  });

  it('says where it looked when there is no kubeconfig at all', () => {
    expect(() => loadKubeconfig({ requestTimeoutMs: 0 }, { KUBECONFIG: join(dir, 'none') })).toThrow(/no kubeconfig found \(looked at .*none\)/);
  });

  it('names the file that is not YAML', () => {
    const bad = write('bad.yaml', 'clusters: [\n');
    expect(() => loadKubeconfig({ kubeconfig: bad, requestTimeoutMs: 0 }, {})).toThrow(/bad\.yaml is not valid YAML/);
  });
});
