// The data plane without Kubernetes: backends on loopback pod IPs (how each kind of application
// takes SIGTERM), the CLB's health checks and proxy, and the load generator through it.
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Backends, type Termination } from '../../sim/backends.js';
import { Clb } from '../../sim/clb.js';
import type { SimPod } from '../../sim/lb-weights.js';
import { runLoad, DEFAULT_LOAD } from '../../sim/load.js';

let nextIp = 1;
const pod = (n: number, extra: Partial<SimPod> = {}): SimPod => ({
  name: `gw-${n}`, namespace: 't', uid: `uid-${n}-${Math.random()}`, ip: `127.10.250.${nextIp++}`, labels: {}, statefulSet: 'gw', ordinal: n,
  deleting: false, ports: [{ containerPort: 18080, protocol: 'TCP' }], image: 'nginx:1', terminationGracePeriodSeconds: 2, termination: 'graceful', ...extra,
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
/** Opens /stream and resolves when its first line came; `closed` resolves with when the server ended it. */
const stream = (host: string, port: number) =>
  new Promise<{ closed: Promise<number> }>((resolve, reject) => {
    const s = connect({ host, port });
    const closed = new Promise<number>((r) => s.once('close', () => r(Date.now())));
    s.once('error', reject);
    s.once('connect', () => s.write('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.once('data', () => resolve({ closed }));
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (backends: Backends, p: SimPod, grace: number) =>
  new Promise<number>((resolve) => {
    const t0 = Date.now();
    backends.terminate(p.uid, grace, () => resolve(Date.now() - t0));
  });

describe('backends: how applications take SIGTERM', () => {
  let backends: Backends;
  afterEach(async () => backends.close());
  const started = async (termination: Termination, responseDelayMs = 5) => {
    backends = new Backends({ responseDelayMs, startupDelayMs: 0, streamTickMs: 50 });
    const p = pod(0, { termination });
    backends.start(p);
    await sleep(100);
    expect(backends.listening(p.uid)).toBe(true);
    return p;
  };

  it('do not listen before the application has booted', async () => {
    backends = new Backends({ responseDelayMs: 5, startupDelayMs: 400, streamTickMs: 50 });
    const p = pod(0);
    backends.start(p);
    await sleep(100);
    expect(backends.running(p.uid)).toBe(true);
    expect(backends.listening(p.uid)).toBe(false);
    await expect(get(p.ip!, 18080)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await sleep(500);
    expect(backends.listening(p.uid)).toBe(true);
  });

  it('graceful: in-flight work is answered with Connection: close, new connections are refused, streams live on until the grace period ends', async () => {
    const p = await started('graceful', 300);
    expect(JSON.parse((await get(p.ip!, 18080)).body)).toEqual({ pod: 'gw-0', image: 'nginx:1' });
    const s = await stream(p.ip!, 18080);
    const inFlight = get(p.ip!, 18080);
    await sleep(50);
    const exit = exited(backends, p, 1);
    const answered = await inFlight;
    expect(answered).toMatchObject({ status: 200, connection: 'close' });
    await expect(get(p.ip!, 18080)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(backends.listening(p.uid)).toBe(false);
    // The stream kept it alive until SIGKILL at 1 s, which cut it.
    const [ms, cutAt] = await Promise.all([exit, s.closed]);
    expect(ms).toBeGreaterThanOrEqual(900);
    expect(cutAt).toBeGreaterThan(Date.now() - 500);
    expect(backends.running(p.uid)).toBe(false);
  });

  it('graceful: exits at once when nothing is open', async () => {
    const p = await started('graceful');
    expect(await exited(backends, p, 5)).toBeLessThan(200);
  });

  it('abrupt: a request in flight and a stream are cut at SIGTERM', async () => {
    const p = await started('abrupt', 1000);
    const s = await stream(p.ip!, 18080);
    const inFlight = get(p.ip!, 18080).then(() => 'answered', (e: NodeJS.ErrnoException) => e.code);
    await sleep(50);
    const ms = await exited(backends, p, 5);
    expect(ms).toBeLessThan(200);
    expect(await inFlight).toBe('ECONNRESET');
    expect(await s.closed).toBeLessThanOrEqual(Date.now());
    await expect(get(p.ip!, 18080)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('ignore: keeps serving and accepting after SIGTERM, until killed at the end of the grace period', async () => {
    const p = await started('ignore');
    const s = await stream(p.ip!, 18080);
    const exit = exited(backends, p, 1);
    await sleep(300);
    expect(backends.listening(p.uid)).toBe(true);
    expect((await get(p.ip!, 18080)).status).toBe(200); // a new connection, accepted after SIGTERM
    const [ms] = await Promise.all([exit, s.closed]);
    expect(ms).toBeGreaterThanOrEqual(900);
    await expect(get(p.ip!, 18080)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('CLB', () => {
  let clb: Clb;
  let backends: Backends;
  afterEach(async () => {
    await clb.close();
    await backends.close();
  });
  const target = (p: SimPod, weight: number) => ({ pod: p.name, uid: p.uid, ip: p.ip!, port: 18080, weight });

  it('health is per registration: a new pod on a recycled IP starts unhealthy and needs healthyThreshold passes in a row', async () => {
    backends = new Backends({ responseDelayMs: 2, startupDelayMs: 0, streamTickMs: 50 });
    clb = new Clb({ healthCheckIntervalMs: 200, healthyThreshold: 3, unhealthyThreshold: 3, monitorPeriodMs: 500 });
    const lb = clb.ensureLoadBalancer('t/gw');
    const old = pod(1);
    backends.start(old);
    await clb.apply(lb.id, [{ protocol: 'TCP', port: 18083, targets: [target(old, 10)] }]);
    const l = () => lb.listeners[0]!;
    await sleep(250);
    expect(clb.isHealthy(lb.id, l().id, l().targets[0]!)).toBe(false); // one pass so far
    await sleep(800);
    expect(clb.isHealthy(lb.id, l().id, l().targets[0]!)).toBe(true);
    // The successor: same IP, listening already, but a new target.
    const successor = { ...pod(1), ip: old.ip };
    await clb.apply(lb.id, [{ protocol: 'TCP', port: 18083, targets: [target(successor, 10)] }]);
    expect(clb.isHealthy(lb.id, l().id, l().targets[0]!)).toBe(false);
    expect(clb.isHealthy(lb.id, l().id, { uid: old.uid, ip: old.ip!, port: 18080 })).toBe(false); // forgotten
    await sleep(250);
    expect(clb.isHealthy(lb.id, l().id, l().targets[0]!)).toBe(false);
    await sleep(800);
    expect(clb.isHealthy(lb.id, l().id, l().targets[0]!)).toBe(true);
    // Unhealthy only after unhealthyThreshold failures in a row.
    await new Promise<number>((r) => backends.terminate(old.uid, 0, () => r(0)));
    await sleep(250);
    expect(clb.isHealthy(lb.id, l().id, l().targets[0]!)).toBe(true);
    await sleep(800);
    expect(clb.isHealthy(lb.id, l().id, l().targets[0]!)).toBe(false);
  });

  it('applies one listener without touching another', async () => {
    backends = new Backends({ responseDelayMs: 2, startupDelayMs: 0, streamTickMs: 50 });
    clb = new Clb({ healthCheckIntervalMs: 100, healthyThreshold: 1, unhealthyThreshold: 1, monitorPeriodMs: 500 });
    const lb = clb.ensureLoadBalancer('t/two');
    const p = pod(2);
    await clb.apply(lb.id, [
      { protocol: 'TCP', port: 18084, targets: [target(p, 10)] },
      { protocol: 'TCP', port: 18085, targets: [target(p, 10)] },
    ]);
    await clb.applyListener(lb.id, { protocol: 'TCP', port: 18085, targets: [target(p, 0)] });
    expect(lb.listeners.map((l) => `${l.port}:${l.targets[0]!.weight}`)).toEqual(['18084:10', '18085:0']);
    clb.dropListener(lb.id, 'TCP', 18084);
    expect(lb.listeners.map((l) => l.port)).toEqual([18085]);
  });

  it('sends new connections by weight, keeps open ones where they are, and feeds ConNum', async () => {
    backends = new Backends({ responseDelayMs: 2, startupDelayMs: 0, streamTickMs: 50 });
    const pods = [pod(2), pod(3)];
    for (const p of pods) backends.start(p);
    clb = new Clb({ healthCheckIntervalMs: 100, healthyThreshold: 1, unhealthyThreshold: 1, monitorPeriodMs: 500 });
    const lb = clb.ensureLoadBalancer('t/gw');
    const targets = (w2: number, w3: number) => [{ protocol: 'TCP', port: 18081, targets: [target(pods[0]!, w2), target(pods[1]!, w3)] }];
    await clb.apply(lb.id, targets(10, 10));
    await sleep(300);
    const run = runLoad({ ...DEFAULT_LOAD, targets: [{ host: lb.vip, port: 18081 }], rate: 200, connections: 10, connectionLifetimeMs: 300, streams: 2, streamLifetimeMs: [60_000, 60_000], durationMs: 3000 });
    await sleep(800);
    // Drain gw-2: only new connections move; streams open on it stay there and are not cut.
    await clb.apply(lb.id, targets(0, 10));
    await sleep(600);
    const mid = { ...run.report().byPod };
    await sleep(1200);
    run.stop();
    const report = await run.done;
    expect(report.failed).toBe(0);
    expect(report.cut).toBe(0);
    expect(report.streams).toBe(2);
    expect(report.sent).toBeGreaterThan(300);
    expect(mid['gw-2']).toBeGreaterThan(0);
    expect(mid['gw-3']).toBeGreaterThan(0);
    // Short connections (300 ms) have all moved: no request reached gw-2 after `mid`.
    expect(report.byPod['gw-2']).toBe(mid['gw-2']);
    await sleep(200);
    expect(clb.connections(lb.id, pods[0]!.ip!, 18080)).toBe(0);
    const points = clb.conNumPoints(lb.id, pods[1]!.ip!, 18080, Date.now() - 5000, Date.now());
    expect(points.some((x) => x.max > 0)).toBe(true);
  });

  it('refuses a new connection when no target has weight and health', async () => {
    backends = new Backends({ responseDelayMs: 2, startupDelayMs: 0, streamTickMs: 50 });
    clb = new Clb({ healthCheckIntervalMs: 100, healthyThreshold: 1, unhealthyThreshold: 1, monitorPeriodMs: 500 });
    const lb = clb.ensureLoadBalancer('t/empty');
    await clb.apply(lb.id, [{ protocol: 'TCP', port: 18082, targets: [] }]);
    const report = await runLoad({ ...DEFAULT_LOAD, targets: [{ host: lb.vip, port: 18082 }], rate: 20, connections: 2, streams: 0, durationMs: 500 }).done;
    expect(report.succeeded).toBe(0);
    expect(report.failed).toBeGreaterThan(0);
  });
});
