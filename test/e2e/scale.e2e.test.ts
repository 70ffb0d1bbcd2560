// 1,000 replicas on kwok's nodes: a full walk in batches of 100 to the end, the record bounded at
// every batch, the API calls of a batch the same as at 100 replicas (counted in the API server's
// audit log), every departure at weight 0 (the API referee), and `history` with every confirmation.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AuditLog, tally, type AuditedCall } from '../support/audit.js';
import { ApiReferee } from './referee.js';
import { adminClients, createNamespace, runPlugin, statefulSetManifest, waitFor } from './support.js';

const RECORD = 'zerolossupgrade.io/upgrade';
const { kc, apps, core } = adminClients();
const audit = new AuditLog(inject('auditLog'));
let ns: string;
let referee: ApiReferee;

async function deploy(name: string, replicas: number) {
  await core.createNamespacedService({
    namespace: ns,
    body: { metadata: { name, annotations: { 'service.cloud.tencent.com/direct-access': 'true' } }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }] } },
  });
  const sts = statefulSetManifest(name, { replicas });
  sts.spec!.template.spec!.nodeSelector = { type: 'kwok' };
  await apps.createNamespacedStatefulSet({ namespace: ns, body: sts });
  await waitFor(`${replicas} pods of ${name} Ready`, async () => {
    const s = await apps.readNamespacedStatefulSet({ name, namespace: ns });
    return s.status?.readyReplicas === replicas && s.status.observedGeneration === s.metadata?.generation;
  }, 300_000);
}

const walk = ['--yes', '--min-drain', '1s', '--timeout', '5m', '--cloud-credentials', 'off'];
const ok = async (args: string[]) => {
  const r = await runPlugin([...args, '-n', ns]);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
};
/** Calls of one `next` batch without the per-pod evictions (one each, no bulk eviction exists) and the Lease. */
const fixedCalls = (calls: AuditedCall[]) => calls.filter((c) => c.resource !== 'pods/eviction' && c.resource !== 'leases');

beforeAll(async () => {
  ns = await createNamespace(core, 'scale');
  referee = await ApiReferee.watch(kc, ns);
}, 600_000);
afterAll(async () => {
  referee?.stop();
  await core.deleteNamespace({ name: ns }).catch(() => undefined);
});

describe('1,000 replicas', () => {
  it('walks in batches of 100 to the end: record bounded at every batch, calls per batch as at 100 replicas, every pod gone at weight 0, history complete', async () => {
    // The reference: 100 replicas walked in one batch of 100.
    await deploy('small', 100);
    await ok(['start', 'small', '--image', 'app=nginx:1.25.4', '--batch', '100', '--timeout', '5m']);
    let mark = audit.mark();
    await ok(['next', 'small', ...walk, '--batches', '1']);
    const reference = fixedCalls(audit.callsSince(mark, ns));
    expect(reference.length).toBeGreaterThan(5);

    await deploy('big', 1000);
    await ok(['start', 'big', '--image', 'app=nginx:1.25.4', '--batch', '100', '--timeout', '5m']);
    const sizes: number[] = [];
    const perBatch: AuditedCall[][] = [];
    for (let batch = 1; batch <= 10; batch++) {
      mark = audit.mark();
      await ok(['next', 'big', ...walk, '--batches', '1']);
      perBatch.push(audit.callsSince(mark, ns));
      const sts = await apps.readNamespacedStatefulSet({ name: 'big', namespace: ns });
      const record = sts.metadata?.annotations?.[RECORD];
      expect(record, `record after batch ${batch}`).toBeDefined();
      sizes.push(Buffer.byteLength(record!));
    }
    expect(sizes).toHaveLength(10);
    for (const s of sizes) expect(s).toBeLessThan(8 * 1024);
    // One eviction per pod of the batch, and otherwise the calls of a batch at 100 replicas.
    for (const calls of perBatch) {
      expect(calls.filter((c) => c.resource === 'pods/eviction')).toHaveLength(100);
      expect(fixedCalls(calls).length, JSON.stringify(tally(fixedCalls(calls)))).toBeLessThanOrEqual(reference.length + 6);
    }
    await ok(['finish', 'big', ...walk]);
    const after = await apps.readNamespacedStatefulSet({ name: 'big', namespace: ns });
    expect(after.spec?.replicas).toBe(1000);
    expect(after.metadata?.annotations?.[RECORD]).toBeUndefined();

    // Every departure: the 1,000 originals and the 100 surge pods, each at weight 0.
    const departures = referee.deletions('big');
    expect(departures).toHaveLength(1100);
    for (const d of departures) expect(Object.values(d.weights), d.pod).toEqual([0]);

    const history = JSON.parse((await ok(['history', 'big', '--upgrade', '1', '-o', 'json'])).stdout);
    expect(history.outcome).toBe('finished');
    expect(history.batches.map((b: { ordinals: string }) => b.ordinals)).toEqual(Array.from({ length: 10 }, (_, i) => `${i * 100}-${i * 100 + 99}`));
    for (const b of history.batches) expect(b.confirmation).toMatchObject({ by: 'zlu-operator', how: 'yes', connectionsDrained: true });
    expect(history.surgeDrain).toMatchObject({ ordinals: '1000-1099', confirmation: { by: 'zlu-operator' } });
  }, 1_800_000);
});
