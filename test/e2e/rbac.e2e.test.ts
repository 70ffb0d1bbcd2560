// docs/rbac.yaml is minimal as well as sufficient: for every verb of every resource in its two
// ClusterRoles (the walk's, and the optional one for the evidence), an identity bound to that role
// minus that one verb runs a plugin command that reaches the call needing it, and the command is
// refused with the plugin's own 403 wording naming the verb and the resource; where the contract
// says so, the refused command changed nothing. Three refusals are tolerated by design (exit 0, the
// permission still named): the audit Event, the release of the Lease, the controller's version.
// The rules are read from docs/rbac.yaml now: a rule added later without a scenario here fails.
// Each case is its own ServiceAccount (a TokenRequest token in a kubeconfig of its own), bound by a
// RoleBinding to its own pared-down ClusterRole (and a ClusterRoleBinding for the evidence's, as
// nodes are cluster-wide); all cases share one namespace and run at once.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, RbacAuthorizationV1Api, V1MicroTime, type V1ClusterRole, type V1PolicyRule } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CloudApi } from '../../sim/cloud-api.js';
import { Clb, DEFAULT_CLB_OPTIONS } from '../../sim/clb.js';
import { adminClients, createNamespace, root, runPlugin, statefulSetManifest, waitFor, waitForRollout, type RunResult } from './support.js';

const RECORD = 'zerolossupgrade.io/upgrade';
const EVIDENCE_ROLE = 'kubectl-zerolossupgrade-evidence';
const RS_WEIGHT = 'service.cloud.tencent.com/lb-rs-weight';
const ROLE = 'kubectl-zerolossupgrade';
const NEW_IMAGE = 'nginx:1.25.4';

const roles = parseAllDocuments(readFileSync(join(root, 'docs', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as V1ClusterRole);
const walkRole = roles.find((r) => r.kind === 'ClusterRole' && r.metadata?.name === ROLE)!;
const evidenceRole = roles.find((r) => r.kind === 'ClusterRole' && r.metadata?.name === EVIDENCE_ROLE)!;
/** Every verb/resource pair the two roles grant, in their order. */
const pairsOf = (role: V1ClusterRole | undefined) =>
  (role?.rules ?? []).flatMap((rule, index) => (rule.resources ?? []).flatMap((resource) => rule.verbs.map((verb) => ({ role: role!.metadata!.name!, index, verb, resource }))));
const pairs = [...pairsOf(walkRole), ...pairsOf(evidenceRole)];
// The evidence role's pairs are named apart: `get configmaps` is in both roles, for different ConfigMaps.
const key = (p: { role: string; verb: string; resource: string }) => `${p.role === EVIDENCE_ROLE ? 'evidence: ' : ''}${p.verb} ${p.resource}`;

/** The role without this one verb on this one resource (a rule left with nothing goes). */
function without(rules: V1PolicyRule[], p: (typeof pairs)[number]): V1PolicyRule[] {
  return rules.flatMap((rule, i) => {
    if (i !== p.index) return [rule];
    const rest = (rule.resources ?? []).filter((r) => r !== p.resource);
    const verbs = rule.verbs.filter((v) => v !== p.verb);
    return [...(verbs.length > 0 ? [{ ...rule, resources: [p.resource], verbs }] : []), ...(rest.length > 0 ? [{ ...rule, resources: rest }] : [])];
  });
}

/** What a command may not have changed: the record, the template, the Service's annotations, the pods (by uid). */
type Part = 'record' | 'template' | 'service' | 'pods';
const ALL: Part[] = ['record', 'template', 'service', 'pods'];

interface Scenario {
  /** settled: Running and Ready, no upgrade; started: `start` done by the full operator; staleLease: settled, with a colleague's expired Lease. */
  setup: 'settled' | 'started' | 'staleLease';
  command: (name: string) => string[];
  /** 1 (the API refused); 0 where the plugin only warns by design (the work itself is done). */
  code: 0 | 1;
  unchanged: Part[];
  /** The StatefulSet's Lease after the command: released, held by the colleague, or left held by the case's identity. */
  lease: 'absent' | 'colleague' | 'held';
  /** Anything else the case must show. */
  check?: (c: Case) => Promise<void>;
  /** Environment for the plugin (Tencent Cloud credentials for the evidence). */
  env?: () => Record<string, string>;
  /** Where a tolerated refusal shows (code 0): a warning by default. */
  shown?: RegExp;
}

const walk = ['--yes', '--min-drain', '0s', '--timeout', '60s', '--cloud-credentials', 'off'];
const start = (name: string) => ['start', name, '--image', `app=${NEW_IMAGE}`, '--timeout', '60s'];

/** `next` refused by the API after its drain: the template and the pods as they were, the Service drained. */
const stoppedDrained = (check?: (c: Case) => Promise<void>): Scenario => ({
  setup: 'started',
  command: (n) => ['next', n, ...walk],
  code: 1,
  unchanged: ['template', 'pods'],
  lease: 'absent',
  check: async (c) => {
    expect(c.after.service?.[RS_WEIGHT]).toContain('"weight":0');
    await check?.(c);
  },
});

const scenarios: Record<string, Scenario> = {
  // Every command reads the StatefulSet first, and its pods with one list.
  'get statefulsets': { setup: 'settled', command: (n) => ['status', n], code: 1, unchanged: ALL, lease: 'absent' },
  'list pods': { setup: 'settled', command: (n) => ['status', n], code: 1, unchanged: ALL, lease: 'absent' },
  // start: the lock, the preflight (Services, autoscalers), then one patch.
  'get leases': { setup: 'settled', command: start, code: 1, unchanged: ALL, lease: 'absent' },
  'create leases': { setup: 'settled', command: start, code: 1, unchanged: ALL, lease: 'absent' },
  // A colleague's expired Lease is taken over by updating it.
  'update leases': { setup: 'staleLease', command: start, code: 1, unchanged: ALL, lease: 'colleague' },
  'list services': { setup: 'settled', command: start, code: 1, unchanged: ALL, lease: 'absent' },
  'list horizontalpodautoscalers': { setup: 'settled', command: start, code: 1, unchanged: ALL, lease: 'absent' },
  'patch statefulsets': { setup: 'settled', command: start, code: 1, unchanged: ALL, lease: 'absent' },
  // The release at the end of every locking command: the start itself is done, the Lease stays
  // until it expires, and the warning names the permission.
  'delete leases': {
    setup: 'settled',
    command: start,
    code: 0,
    unchanged: [],
    lease: 'held',
    check: async (c) => {
      expect(c.after.record).toBeDefined();
      // The positive control of the check in 'create events': with the permission, the audit Event is there.
      expect(await pluginEvents(c.name)).toContain('UpgradeStarted');
    },
  },
  // The audit trail: a missing Event is a warning by design (the record keeps who did what).
  'create events': {
    setup: 'settled',
    command: start,
    code: 0,
    unchanged: [],
    lease: 'absent',
    check: async (c) => {
      expect(c.after.record).toBeDefined();
      expect(c.result.stderr).toContain('warning: could not record the Event UpgradeStarted: forbidden:');
      expect(await pluginEvents(c.name)).toEqual([]);
    },
  },
  // rollback reads the original ControllerRevision's template before its one patch.
  'get controllerrevisions': { setup: 'started', command: (n) => ['rollback', n, ...walk], code: 1, unchanged: ALL, lease: 'absent' },
  // The dry run of next reads each recorded Service by name (the walk itself lists them, and reads
  // one by name again only after a conflict on its conditional patch).
  'get services': { setup: 'started', command: (n) => ['next', n, '--dry-run'], code: 1, unchanged: ALL, lease: 'absent' },
  // next: drain (the record first, then the Service), confirm (the service controller's Events), evict, wait.
  'patch services': { setup: 'started', command: (n) => ['next', n, ...walk], code: 1, unchanged: ['template', 'service', 'pods'], lease: 'absent' },
  'list events': stoppedDrained(),
  // Drained and confirmed, nothing deleted: the pods stay drained.
  'create pods/eviction': stoppedDrained(),
  // The history: who confirmed is written before the pods go, so without it nothing is deleted and
  // the batch stays drained; at start a history not written is only a warning (the walk refuses later).
  'get configmaps': stoppedDrained(),
  'patch configmaps': stoppedDrained(async (c) => expect(c.result.stderr).toContain('Nothing was deleted or scaled down')),
  'create configmaps': {
    setup: 'settled',
    command: start,
    code: 0,
    unchanged: [],
    lease: 'absent',
    check: async (c) => expect(c.after.record).toBeDefined(),
  },
  // The batch's evictions and the wait for the rebuild read one watch of the pods, established
  // before the first eviction: refused, nothing is deleted and the batch stays drained.
  'watch pods': stoppedDrained(async (c) => expect(c.result.stderr).not.toContain('deleted pod')),
  // The optional evidence role. Its region comes from a node's labels: without them an unattended
  // walk on the evidence is refused before anything changes (no cloud is called without a region).
  'evidence: get nodes': {
    setup: 'started',
    // The endpoint and the short --drain-timeout only matter if the region were found (this test failing).
    command: (n) => ['next', n, '--yes', '--require-evidence', '--min-drain', '0s', '--cloud-credentials', 'env', '--cloud-endpoint', cloudEndpoint, '--drain-timeout', '1s'],
    env: () => CLOUD_ENV,
    code: 1,
    unchanged: ALL,
    lease: 'absent',
    check: async (c) => expect(c.result.stderr).toMatch(/^error: --require-evidence: the drain evidence is off: no region: .*the nodes' region label is not readable: forbidden: /m),
  },
  // The TKE service controller's VERSION beside the evidence: "unknown", naming the permission; the
  // walk goes on, as the role is optional. The evidence is on (credentials, region); its endpoint is
  // a stand-in Tencent Cloud API on 127.0.0.1, so nothing leaves the machine (the Service has no CLB
  // id here, so no CLB is read; only the cluster side of the evidence runs).
  'evidence: get configmaps': {
    setup: 'started',
    command: (n) => ['next', n, ...walk.filter((a) => a !== 'off' && a !== '--cloud-credentials'), '--cloud-credentials', 'env', '--region', 'ap-guangzhou', '--cloud-endpoint', cloudEndpoint, '--batches', '1', '--drain-timeout', '1s', '--evidence-interval', '1s'],
    env: () => CLOUD_ENV,
    code: 0,
    unchanged: [],
    lease: 'absent',
    shown: /^\s*service controller version unknown \(forbidden: you may not get configmaps "tke-service-controller-config" in namespace "kube-system"; ask for the "get" permission on "configmaps"/m,
    check: async (c) => expect(c.result.stderr).toContain(`deleted pod ${c.name}-0`),
  },
};

const CLOUD_ENV = { TENCENTCLOUD_SECRET_ID: 'AKIDrbacTest', TENCENTCLOUD_SECRET_KEY: 'rbac-test-key' };
let cloudEndpoint = '';

interface Snapshot {
  record?: string;
  template: string;
  service?: Record<string, string>;
  pods: Record<string, string>;
}

interface Case {
  pair: (typeof pairs)[number];
  scenario: Scenario;
  name: string;
  kubeconfig: string;
  before: Snapshot;
  after: Snapshot;
  result: RunResult;
  lease?: string;
}

const { kc, apps, core } = adminClients();
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const leases = kc.makeApiClient(CoordinationV1Api);
let ns: string;
const dir = mkdtempSync(join(tmpdir(), 'zlu-rbac-'));
const cases = new Map<string, Case>();
const errors = new Map<string, unknown>();
let seconds = 0;
let clb: Clb | undefined;
let cloud: CloudApi | undefined;

async function pluginEvents(name: string): Promise<string[]> {
  const list = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.kind=StatefulSet,involvedObject.name=${name}` });
  return list.items.filter((e) => e.source?.component === 'kubectl-zerolossupgrade').map((e) => e.reason ?? '');
}

async function snapshot(name: string): Promise<Snapshot> {
  const sts = await apps.readNamespacedStatefulSet({ name, namespace: ns });
  const svc = await core.readNamespacedService({ name, namespace: ns });
  const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${name}` })).items;
  return {
    record: sts.metadata?.annotations?.[RECORD],
    template: JSON.stringify({ replicas: sts.spec?.replicas, containers: sts.spec?.template.spec?.containers.map((c) => c.image) }),
    service: svc.metadata?.annotations,
    pods: Object.fromEntries(pods.map((p) => [p.metadata!.name!, `${p.metadata!.uid}${p.metadata?.deletionTimestamp ? ' deleting' : ''}`]).sort()),
  };
}

/**
 * A ServiceAccount bound to `walk` in the namespace (RoleBinding) and, when given, to `evidence`
 * cluster-wide (nodes are), each as a ClusterRole of its own; and a kubeconfig with a TokenRequest token.
 */
async function identity(name: string, walk: V1PolicyRule[], evidence?: V1PolicyRule[]): Promise<string> {
  const labels = { 'zlu-rbac-test': ns };
  const subjects = [{ kind: 'ServiceAccount', name, namespace: ns }];
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name } } });
  const role = `zlu-rbac-${ns}-${name}`;
  await rbac.createClusterRole({ body: { metadata: { name: role, labels }, rules: walk } });
  await rbac.createNamespacedRoleBinding({ namespace: ns, body: { metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects } });
  if (evidence) {
    await rbac.createClusterRole({ body: { metadata: { name: `${role}-evidence`, labels }, rules: evidence } });
    await rbac.createClusterRoleBinding({ body: { metadata: { name: `${role}-evidence`, labels }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${role}-evidence` }, subjects } });
  }
  const token = await core.createNamespacedServiceAccountToken({ name, namespace: ns, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  const file = join(dir, `${name}.kubeconfig`);
  const server = kc.getCurrentCluster()!.server;
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: zlu-e2e, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]`,
      `users: [{name: ${name}, user: {token: "${token.status!.token}"}}]`,
      `contexts: [{name: ${name}, context: {cluster: zlu-e2e, user: ${name}, namespace: ${ns}}}]`,
      `current-context: ${name}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

async function leaseHolder(name: string): Promise<string | undefined> {
  try {
    return (await leases.readNamespacedLease({ name: `zerolossupgrade-${name}`, namespace: ns })).spec?.holderIdentity ?? '';
  } catch (e) {
    if ((e as { code?: number }).code === 404) return undefined;
    throw e;
  }
}

const COLLEAGUE = 'colleague (elsewhere pid 1)';

async function prepare(pair: (typeof pairs)[number], scenario: Scenario): Promise<Omit<Case, 'after' | 'result' | 'lease'>> {
  // Names from the pair: "create pods/eviction" -> create-pods-eviction.
  const name = key(pair).replace(/[^a-z0-9]+/g, '-');
  const [kubeconfig] = await Promise.all([
    pair.role === ROLE ? identity(name, without(walkRole.rules!, pair)) : identity(name, walkRole.rules!, without(evidenceRole.rules!, pair)),
    (async () => {
      await apps.createNamespacedStatefulSet({ namespace: ns, body: statefulSetManifest(name, { replicas: 2 }) });
      await core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name, annotations: { 'service.cloud.tencent.com/direct-access': 'true' } },
          spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }] },
        },
      });
      await waitForRollout(ns, name);
    })(),
  ]);
  if (scenario.setup === 'started') {
    // The full role (the operator of the other e2e files) starts the upgrade; the pared-down one goes on.
    const r = await runPlugin([...start(name), '-n', ns]);
    if (r.code !== 0) throw new Error(`start as the operator failed: ${r.stderr}`);
  }
  if (scenario.setup === 'staleLease') {
    const hourAgo = new Date(Date.now() - 3600_000);
    await leases.createNamespacedLease({
      namespace: ns,
      body: { metadata: { name: `zerolossupgrade-${name}` }, spec: { holderIdentity: COLLEAGUE, acquireTime: new V1MicroTime(hourAgo.toISOString()), renewTime: new V1MicroTime(hourAgo.toISOString()), leaseDurationSeconds: 30 } },
    });
  }
  // The controller writes status for a moment after the pods are Ready: wait until the parts hold still.
  let last = '';
  const before = await waitFor(`${name} at rest`, async () => {
    const s = await snapshot(name);
    const now = JSON.stringify(s);
    const still = now === last && Object.values(s.pods).every((p) => !p.endsWith('deleting'));
    last = now;
    if (!still) await new Promise((r) => setTimeout(r, 500));
    return still ? s : undefined;
  });
  return { pair, scenario, name, kubeconfig, before };
}

describe('docs/rbac.yaml is minimal: each verb of each resource is needed by a command', () => {
  beforeAll(async () => {
    ns = await createNamespace(core, 'rbac');
    // The configmap exists: what the evidence role's missing rule hides is there to be read.
    await core.createNamespacedConfigMap({ namespace: 'kube-system', body: { metadata: { name: 'tke-service-controller-config' }, data: { VERSION: 'v2.5.1' } } }).catch((e) => {
      if ((e as { code?: number }).code !== 409) throw e; // left by an earlier run on a cluster still up
    });
    clb = new Clb({ ...DEFAULT_CLB_OPTIONS, monitorPeriodMs: 1000 });
    cloud = new CloudApi(clb, { secretId: CLOUD_ENV.TENCENTCLOUD_SECRET_ID, secretKey: CLOUD_ENV.TENCENTCLOUD_SECRET_KEY });
    cloudEndpoint = `http://${await cloud.listen()}`;
    const started = Date.now();
    await Promise.all(
      pairs.map(async (pair) => {
        const scenario = scenarios[key(pair)];
        if (!scenario) return;
        try {
          const c = await prepare(pair, scenario);
          const result = await runPlugin([...scenario.command(c.name), '-n', ns], { kubeconfig: c.kubeconfig, env: scenario.env?.() });
          cases.set(key(pair), { ...c, result, after: await snapshot(c.name), lease: await leaseHolder(c.name) });
        } catch (e) {
          errors.set(key(pair), e);
        }
      }),
    );
    seconds = (Date.now() - started) / 1000;
  });

  afterAll(async () => {
    process.stderr.write(`rbac: ${cases.size} cases in ${seconds.toFixed(1)}s\n`);
    rmSync(dir, { recursive: true, force: true });
    await cloud?.close();
    await clb?.close();
    await core.deleteNamespacedConfigMap({ name: 'tke-service-controller-config', namespace: 'kube-system' }).catch(() => undefined);
    if (!ns) return;
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await rbac.deleteCollectionClusterRoleBinding({ labelSelector: `zlu-rbac-test=${ns}` }).catch(() => undefined);
    await rbac.deleteCollectionClusterRole({ labelSelector: `zlu-rbac-test=${ns}` }).catch(() => undefined);
  });

  it('reads the role from docs/rbac.yaml, and every pair has exactly one scenario (none left over)', () => {
    expect(walkRole, `ClusterRole ${ROLE} in docs/rbac.yaml`).toBeDefined();
    expect(evidenceRole, `ClusterRole ${EVIDENCE_ROLE} in docs/rbac.yaml`).toBeDefined();
    // 16 + 2 today; a pair granted twice would make removing it from one rule prove nothing.
    expect(pairsOf(walkRole).length).toBeGreaterThanOrEqual(16);
    expect(pairsOf(evidenceRole).length).toBeGreaterThanOrEqual(2);
    expect(new Set(pairs.map(key)).size).toBe(pairs.length);
    expect(Object.keys(scenarios).sort()).toEqual(pairs.map(key).sort());
    expect(cases.size + errors.size).toBe(pairs.length);
  });

  it.each(pairs.map((p) => [key(p), p] as const))('without "%s"', async (k, pair) => {
    expect(scenarios[k], `no scenario reaches the call that needs "${k}": add one, or the rule is not needed`).toBeDefined();
    if (errors.has(k)) throw errors.get(k);
    const c = cases.get(k)!;
    const { verb, resource } = pair;
    const said = `${c.result.stderr}\n--- stdout:\n${c.result.stdout}`;
    // The plugin's own 403 wording, naming the verb and the resource.
    expect(c.result.stderr, said).toContain(`forbidden: you may not ${verb} ${resource}`);
    expect(c.result.stderr, said).toContain(`ask for the "${verb}" permission on "${resource}"`);
    expect(c.result.code, said).toBe(c.scenario.code);
    if (c.scenario.code !== 0) expect(c.result.stderr, said).toMatch(new RegExp(`^error: (.*: )?forbidden: you may not ${verb} ${resource}`, 'm'));
    else expect(c.result.stderr, said).toMatch(c.scenario.shown ?? new RegExp(`^warning: .*forbidden: you may not ${verb} ${resource}`, 'm'));
    for (const part of c.scenario.unchanged) expect(c.after[part], `${part} after "${c.scenario.command(c.name).join(' ')}"`).toEqual(c.before[part]);
    if (c.scenario.lease === 'absent') expect(c.lease).toBeUndefined();
    else if (c.scenario.lease === 'colleague') expect(c.lease).toBe(COLLEAGUE);
    else expect(c.lease).toContain(`system:serviceaccount:${ns}:${c.name}`);
    await c.scenario.check?.(c);
  });
});
