// Pins the Kubernetes behaviour the plugin relies on, against the real control plane.
import { ApiException } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClients, createNamespace, statefulSetManifest, waitFor, waitForRollout } from './support.js';

describe('OnDelete StatefulSet on the local control plane', () => {
  const { apps, core } = adminClients();
  let ns: string;
  const name = 'smoke';
  const podIn = (pods: Awaited<ReturnType<typeof waitForRollout>>['pods'], n: number) => pods.find((p) => p.metadata?.name === `${name}-${n}`)!;

  beforeAll(async () => {
    ns = await createNamespace(core, 'smoke');
    await waitFor('default service account', () => core.readNamespacedServiceAccount({ name: 'default', namespace: ns }));
    await apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSetManifest(name, { replicas: 3 }) });
  });
  afterAll(async () => {
    await core.deleteNamespace({ name: ns });
  });

  it('brings all 3 pods up Running and Ready with loopback IPs', async () => {
    const { pods } = await waitForRollout(ns, name);
    expect(pods.map((p) => p.metadata?.name).sort()).toEqual(['smoke-0', 'smoke-1', 'smoke-2']);
    for (const p of pods) expect(p.status?.podIP).toMatch(/^127\.10\.\d+\.\d+$/);
  });

  it('changing the image restarts nothing; deleting pod 0 brings it back new; scaling up adds a new pod', async () => {
    const before = (await waitForRollout(ns, name)).pods;
    await apps.patchNamespacedStatefulSet(
      { name, namespace: ns, body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'nginx:1.25.4' }] },
    );
    const sts = await waitFor('a new update revision', async () => {
      const s = await apps.readNamespacedStatefulSet({ name, namespace: ns });
      return s.status?.updateRevision !== s.status?.currentRevision && s.status?.observedGeneration === s.metadata?.generation ? s : undefined;
    });
    const updateRevision = sts.status!.updateRevision!;
    // Give the controller time to do what it must not do (replace pods itself).
    await new Promise((r) => setTimeout(r, 3000));
    const after = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${name}` })).items;
    expect(after.map((p) => p.metadata?.uid).sort()).toEqual(before.map((p) => p.metadata?.uid).sort());
    expect(after.every((p) => p.spec?.containers[0]?.image === 'nginx:1.25.3')).toBe(true);

    const old0 = podIn(before, 0);
    await core.deleteNamespacedPod({ name: `${name}-0`, namespace: ns });
    const new0 = await waitFor('smoke-0 recreated', async () => {
      const p = await core.readNamespacedPod({ name: `${name}-0`, namespace: ns });
      return p.metadata?.uid !== old0.metadata?.uid && p.status?.phase === 'Running' ? p : undefined;
    });
    expect(new0.spec?.containers[0]?.image).toBe('nginx:1.25.4');
    expect(new0.metadata?.labels?.['controller-revision-hash']).toBe(updateRevision);
    expect(podIn(after, 1).spec?.containers[0]?.image).toBe('nginx:1.25.3');

    await apps.patchNamespacedStatefulSetScale({ name, namespace: ns, body: [{ op: 'replace', path: '/spec/replicas', value: 4 }] });
    const p3 = await waitFor('smoke-3 created', () => core.readNamespacedPod({ name: `${name}-3`, namespace: ns }));
    expect(p3.spec?.containers[0]?.image).toBe('nginx:1.25.4');
    expect(p3.metadata?.labels?.['controller-revision-hash']).toBe(updateRevision);
  });

  it('refuses a delete whose uid precondition is stale', async () => {
    const { pods } = await waitForRollout(ns, name);
    const p1 = podIn(pods, 1);
    const error = await core
      .deleteNamespacedPod({ name: `${name}-1`, namespace: ns, body: { preconditions: { uid: 'not-the-uid' } } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiException);
    expect((error as ApiException<unknown>).code).toBe(409);
    const still = await core.readNamespacedPod({ name: `${name}-1`, namespace: ns });
    expect(still.metadata?.uid).toBe(p1.metadata?.uid);
    expect(still.metadata?.deletionTimestamp).toBeUndefined();
  });
});
