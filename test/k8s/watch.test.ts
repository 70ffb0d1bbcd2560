// The pod watch against a small loopback stand-in for the API server: a watch whose history is
// gone (410) lists again instead of retrying the same stale resourceVersion; bookmarks move it on.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCluster } from '../../src/k8s/cluster.js';
import { statefulSet } from '../support/fakes.js';

const podJson = (ready: boolean, rv: string) => ({
  metadata: { name: 'gw-0', namespace: 'prod', uid: 'u0', resourceVersion: rv, labels: { app: 'gw', 'controller-revision-hash': 'gw-2' }, ownerReferences: [{ controller: true, uid: 'sts-uid', kind: 'StatefulSet', name: 'gw', apiVersion: 'apps/v1' }] },
  spec: { containers: [{ name: 'gw', image: 'gw:2' }] },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

describe('waitForPods', () => {
  const requests: string[] = [];
  let lists = 0;
  let server: ReturnType<typeof createServer>;
  let kubeconfig: string;
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      requests.push(req.url ?? '');
      const url = new URL(req.url ?? '', 'http://x');
      res.setHeader('Content-Type', 'application/json');
      if (url.searchParams.get('watch')) {
        const from = url.searchParams.get('resourceVersion');
        if (from === '10') {
          // The history before 20 was compacted: the server says so in an ERROR event and closes.
          res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 10 (20)' } })}\n`);
          return;
        }
        // From the fresh list: a bookmark, then the pod turning Ready.
        res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '25' } } })}\n`);
        setTimeout(() => res.end(`${JSON.stringify({ type: 'MODIFIED', object: podJson(true, '26') })}\n`), 50);
        return;
      }
      lists++;
      res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: lists === 1 ? '10' : '20' }, items: [podJson(false, lists === 1 ? '9' : '19')] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'zlu-watch-'));
    kubeconfig = join(dir, 'config');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: prod}}]\ncurrent-context: x\n`,
    );
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('lists again after 410 Gone and then sees the change', async () => {
    const cluster = openCluster({ kubeconfig, requestTimeoutMs: 0 });
    const wait = await cluster.waitForPods(statefulSet(), (ps) => ps.length === 1 && ps[0]!.ready, 5000);
    expect(wait.met).toBe(true);
    expect(wait.pods[0]!.ready).toBe(true);
    const watches = requests.filter((u) => u.includes('watch=true'));
    expect(watches.map((u) => new URL(u, 'http://x').searchParams.get('resourceVersion'))).toEqual(['10', '20']);
    expect(lists).toBe(2);
    expect(watches.every((u) => u.includes('allowWatchBookmarks=true'))).toBe(true);
  });
});
