// The evidence's two optional reads (the second ClusterRole in docs/rbac.yaml): a node's labels for
// the region and the TKE service controller's VERSION. Not there (404) means nothing to say; not
// readable (403) stays optional too, but what the user sees names the verb and the resource.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCloud } from '../../src/cloud/open.js';
import type { Cloud } from '../../src/cloud/types.js';
import type { UpgradeRecord } from '../../src/core/upgrade.js';
import { translateApiError } from '../../src/k8s/client.js';
import { openCluster } from '../../src/k8s/cluster.js';
import { DrainEvidence } from '../../src/walk/evidence.js';
import { ApiException } from '@kubernetes/client-node';
import { FakeCluster, statefulSet } from '../support/fakes.js';

const forbiddenNodes = translateApiError(new ApiException(403, 'Forbidden', JSON.stringify({ message: 'nodes "n1" is forbidden' }), {}), { verb: 'get', resource: 'nodes', name: 'n1', namespace: '' });

describe('against the API server', () => {
  let server: ReturnType<typeof createServer>;
  let kubeconfig: string;
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('Content-Type', 'application/json');
      const forbidden = req.url?.includes('/forbidden') || req.url === '/api/v1/namespaces/kube-system/configmaps/tke-service-controller-config';
      res.statusCode = forbidden ? 403 : 404;
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: res.statusCode, message: forbidden ? 'forbidden by RBAC' : 'not found' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    kubeconfig = join(mkdtempSync(join(tmpdir(), 'zlu-optional-')), 'config');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: prod}}]\ncurrent-context: x\n`,
    );
  });
  afterAll(() => server.close());
  const cluster = () => openCluster({ kubeconfig, requestTimeoutMs: 5000 });

  it('a node that is not there has no labels; one that may not be read is a 403 naming get on nodes', async () => {
    await expect(cluster().nodeLabels('gone')).resolves.toEqual({});
    const e = await cluster().nodeLabels('forbidden').catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 403 });
    expect((e as Error).message).toContain('forbidden: you may not get nodes "forbidden"; ask for the "get" permission on "nodes"');
  });

  it('the service controller config not readable is a 403 naming get on configmaps', async () => {
    const e = await cluster().serviceControllerVersion().catch((x: unknown) => x);
    expect(e).toMatchObject({ status: 403 });
    expect((e as Error).message).toContain('forbidden: you may not get configmaps "tke-service-controller-config" in namespace "kube-system"; ask for the "get" permission on "configmaps"');
  });
});

describe('the evidence stays optional and says which permission it lacks', () => {
  it('no readable node: the evidence is off, naming get on nodes (so --require-evidence refuses with it)', async () => {
    const opened = await openCloud({ credentials: 'env' } as Parameters<typeof openCloud>[0], async () => {
      throw forbiddenNodes;
    });
    expect(opened).toEqual({ off: 'no region: pass --region or set TENCENTCLOUD_REGION (the nodes\' region label is not readable: forbidden: you may not get nodes "n1"; ask for the "get" permission on "nodes" (see docs/rbac.yaml))' });
  });

  it('any other failure to read the node is not hidden', async () => {
    await expect(openCloud({ credentials: 'env' } as Parameters<typeof openCloud>[0], async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
  });

  it('the controller version not readable: "unknown", naming get on configmaps; not there: "unknown (not found)"', async () => {
    const cloud = { region: 'ap-guangzhou', credentialSource: 'test' } as unknown as Cloud;
    const record = { statefulSet: 'gw', services: [] } as unknown as UpgradeRecord;
    const c = new FakeCluster(statefulSet(), []);
    const read = async () => {
      const ev = await DrainEvidence.open({ credentials: 'env', requireEvidence: false, zeroPoints: 3, drainTimeoutMs: 1000, forceAfterTimeout: false, intervalMs: 10 }, c, record, [], async () => ({ cloud }));
      return (await ev.read(c, record, [], [], new Date(), Date.now(), false)).controllerVersion;
    };
    c.serviceControllerVersion = async () => {
      throw translateApiError(new ApiException(403, 'Forbidden', '{}', {}), { verb: 'get', resource: 'configmaps', name: 'tke-service-controller-config', namespace: 'kube-system' });
    };
    expect(await read()).toBe('unknown (forbidden: you may not get configmaps "tke-service-controller-config" in namespace "kube-system"; ask for the "get" permission on "configmaps" (see docs/rbac.yaml))');
    c.serviceControllerVersion = async () => undefined;
    expect(await read()).toBe('unknown (kube-system/tke-service-controller-config not found)');
  });
});
