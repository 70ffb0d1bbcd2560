// The data plane without Kubernetes: backends on loopback pod IPs, the CLB proxy, the load generator.
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Backends } from '../../sim/backends.js';
import { Clb } from '../../sim/clb.js';
import type { SimPod } from '../../sim/lb-weights.js';
import { runLoad, DEFAULT_LOAD } from '../../sim/load.js';

const pod = (n: number, extra: Partial<SimPod> = {}): SimPod => ({
  name: `gw-${n}`, namespace: 't', uid: `uid-${n}-${Math.random()}`, ip: `127.10.250.${n + 1}`, labels: {}, statefulSet: 'gw', ordinal: n,
  deleting: false, ports: [{ containerPort: 18080, protocol: 'TCP' }], image: 'nginx:1', terminationGracePeriodSeconds: 2, ...extra,
});
const get = (host: string, port: number) =>
  new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
    const req = request({ host, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end();
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('backends', () => {
  let backends: Backends;
  afterEach(async () => backends.close());

  it('answer with pod name and image, then terminate gracefully: in-flight finishes, new connections refused', async () => {
    backends = new Backends({ responseDelayMs: 300, startupDelayMs: 0 });
    const p = pod(0);
    backends.reconcile([p]);
    await sleep(100);
    expect(JSON.parse((await get(p.ip!, 18080)).body)).toEqual({ pod: 'gw-0', image: 'nginx:1' });
    const inFlight = get(p.ip!, 18080);
    await sleep(50);
    backends.reconcile([]); // the pod is gone: SIGTERM
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    expect(answered.connection).toBe('close');
    await expect(get(p.ip!, 18080)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('drop connections still open at the end of terminationGracePeriodSeconds', async () => {
    backends = new Backends({ responseDelayMs: 5, startupDelayMs: 0 });
    const p = pod(1, { terminationGracePeriodSeconds: 1 });
    backends.reconcile([p]);
    await sleep(100);
    // A raw connection with a half-sent request is busy, so it is not closed as idle.
    const s = connect({ host: p.ip!, port: 18080 });
    await new Promise((r) => s.once('connect', r));
    s.write('GET / HTTP/1.1\r\nHost: x\r\n');
    const closedAt = new Promise<number>((r) => s.once('close', () => r(Date.now())));
    const t0 = Date.now();
    backends.reconcile([]);
    expect(backends.running(p.uid)).toBe(true);
    const elapsed = (await closedAt) - t0;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2500);
    await sleep(50);
    expect(backends.running(p.uid)).toBe(false);
  });
});

describe('CLB proxy', () => {
  let clb: Clb;
  let backends: Backends;
  afterEach(async () => {
    await clb.close();
    await backends.close();
  });

  it('sends new connections by weight, keeps open ones where they are, and feeds ConNum', async () => {
    backends = new Backends({ responseDelayMs: 2, startupDelayMs: 0 });
    const pods = [pod(2), pod(3)];
    backends.reconcile(pods);
    clb = new Clb({ healthCheckIntervalMs: 100, unhealthyThreshold: 1, monitorPeriodMs: 500 });
    const lb = clb.ensureLoadBalancer('t/gw');
    const targets = (w2: number, w3: number) => [
      { protocol: 'TCP', port: 18081, targets: [{ pod: 'gw-2', uid: pods[0]!.uid, ip: pods[0]!.ip!, port: 18080, weight: w2 }, { pod: 'gw-3', uid: pods[1]!.uid, ip: pods[1]!.ip!, port: 18080, weight: w3 }] },
    ];
    await clb.apply(lb.id, targets(10, 10));
    await sleep(300);
    const load = { ...DEFAULT_LOAD, host: lb.vip, port: 18081, rate: 200, connections: 10, connectionLifetimeMs: 300, longLived: 1, longLivedLifetimeMs: 60_000, longLivedIntervalMs: 50, durationMs: 3000 };
    const run = runLoad(load);
    await sleep(800);
    const longLivedPod = Object.entries(run.report().byPod).sort((a, b) => b[1] - a[1])[0]![0];
    // Drain gw-2: only new connections move.
    await clb.apply(lb.id, targets(0, 10));
    const before = { ...run.report().byPod };
    await sleep(600);
    const mid = { ...run.report().byPod };
    await sleep(1200);
    const report = await run.done;
    expect(report.failed).toBe(0);
    expect(report.sent).toBeGreaterThan(300);
    expect(before['gw-2']).toBeGreaterThan(0);
    expect(before['gw-3']).toBeGreaterThan(0);
    // Short connections (300 ms) have all moved by now; the long-lived one stays where it was.
    const lateToGw2 = report.byPod['gw-2']! - mid['gw-2']!;
    if (longLivedPod === 'gw-2') expect(lateToGw2).toBeGreaterThan(0);
    else expect(lateToGw2).toBe(0);
    await sleep(200);
    expect(clb.connections(lb.id, pods[0]!.ip!, 18080)).toBe(0);
    const points = clb.conNumPoints(lb.id, pods[1]!.ip!, 18080, Date.now() - 5000, Date.now());
    expect(points.some((x) => x.max > 0)).toBe(true);
  });

  it('refuses a new connection when no target has weight and health', async () => {
    backends = new Backends({ responseDelayMs: 2, startupDelayMs: 0 });
    clb = new Clb({ healthCheckIntervalMs: 100, unhealthyThreshold: 1, monitorPeriodMs: 500 });
    const lb = clb.ensureLoadBalancer('t/empty');
    await clb.apply(lb.id, [{ protocol: 'TCP', port: 18082, targets: [] }]);
    const report = await runLoad({ ...DEFAULT_LOAD, host: lb.vip, port: 18082, rate: 20, connections: 2, longLived: 0, durationMs: 500 }).done;
    expect(report.succeeded).toBe(0);
    expect(report.failed).toBeGreaterThan(0);
  });
});
