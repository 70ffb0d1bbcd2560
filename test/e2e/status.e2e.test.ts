// `status` through the built binary, as the restricted operator, against the real cluster.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminClients, createNamespace, runPlugin, statefulSetManifest, waitFor, waitForRollout } from './support.js';

describe('kubectl zerolossupgrade status', () => {
  const { apps, core } = adminClients();
  let ns: string;

  beforeAll(async () => {
    ns = await createNamespace(core, 'status');
    await waitFor('default service account', () => core.readNamespacedServiceAccount({ name: 'default', namespace: ns }));
    await apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSetManifest('web', { replicas: 3 }) });
    await waitForRollout(ns, 'web');
  });
  afterAll(async () => {
    await core.deleteNamespace({ name: ns });
  });

  it('-o json matches the cluster, read with the documented minimal role', async () => {
    const r = await runPlugin(['status', 'web', '-n', ns, '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const view = JSON.parse(r.stdout);
    const sts = await apps.readNamespacedStatefulSet({ name: 'web', namespace: ns });
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' })).items;
    expect(view.statefulSet).toMatchObject({ name: 'web', namespace: ns, replicas: 3, updateStrategy: 'OnDelete', updateRevision: sts.status?.updateRevision });
    expect(view.pods.map((p: { pod: string; ip: string; node: string; revisionState: string; ready: boolean }) => [p.pod, p.ip, p.node, p.revisionState, p.ready])).toEqual(
      pods
        .sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!))
        .map((p) => [p.metadata?.name, p.status?.podIP, p.spec?.nodeName, 'new', true]),
    );
  });

  it('prints a table with a row per pod', async () => {
    const r = await runPlugin(['status', 'web', '-n', ns]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`StatefulSet ${ns}/web: 3 replicas`);
    for (const n of [0, 1, 2]) expect(r.stdout).toMatch(new RegExp(`│ ${n} +│ web-${n} +│ 127\\.10\\.`));
    expect(r.stdout).not.toContain('\x1b['); // not a terminal: no colour
  });

  it('takes the namespace from the context when -n is absent', async () => {
    const r = await runPlugin(['status', 'web']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: statefulsets "web" not found in namespace "default"\n');
  });

  it('names the missing permission for a user without the role', async () => {
    const r = await runPlugin(['status', 'web', '-n', ns], { kubeconfig: inject('nobodyKubeconfig') });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: forbidden: you may not get statefulsets "web" in namespace "${ns}"; ask for the "get" permission on "statefulsets"`);
    expect(r.stdout).toBe('');
  });

  it('says which server it cannot reach', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zlu-'));
    const kubeconfig = join(dir, 'config');
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    writeFileSync(kubeconfig, readFileSync(inject('operatorKubeconfig'), 'utf8').replace(/server: .*/, 'server: https://127.0.0.1:1'));
    const r = await runPlugin(['status', 'web', '-n', ns], { kubeconfig });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: cannot reach the API server at https://127.0.0.1:1 to get statefulsets "web" in namespace "${ns}": ECONNREFUSED; check the network and the kubeconfig's server address, then run the same command again: it resumes where it stopped\n`,
    );
  });
});
