import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyOf, ok, recordOf, run, settled } from '../support/walk.js';

let server: Server;
let url: string;
let value = '0';
beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, value] }] } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
const FAST = ['--yes', '--min-drain', '0s', '--timeout', '1s', '--analysis-interval', '1s'];
const analysis = () => ['--prometheus', url, '--analysis', 'errors{pod=~"$PODS"}', '--max', '0.01'];
const evictions = (c: any) => c.mutations.filter((m: string) => m.startsWith('delete pod ')).map((m: string) => m.split(' ')[2]);

describe('scratch', { timeout: 60_000 }, () => {
  it('T1 next --dry-run before the surge soak begins plans a drain and eviction of batch 1', async () => {
    value = '0';
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '30s']);
    const plan = await ok(c, ['next', 'gw', '--dry-run']);
    console.log('T1 PLAN\n' + plan.out);
    expect(plan.out).toContain('eviction');
    expect(plan.out).not.toContain('soak');
  });

  it('T2 abort after a failed surge soak says the surge pods stay and rollback walks them back', async () => {
    value = '0.5';
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '30s']);
    const r = await run(c, ['next', 'gw', ...FAST, ...analysis()]);
    expect(r.code).toBe(3);
    const a = await run(c, ['abort', 'gw', '--yes', '--min-drain', '0s', '--timeout', '1s']);
    console.log('T2 ABORT\n' + a.err + a.out);
    expect(a.err).toContain('the soak of the surge pods gw-2 failed');
    expect(a.err).toContain('aborting leaves them');
    expect(c.sts!.replicas).toBe(2);
  });

  it('T3 --on-failure rollback after a failed surge soak: exit 3, surge pod still on the bad revision at full weight, "every pod back on the original revision"', async () => {
    value = '0.5';
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '30s']);
    const target = recordOf(c).targetRevision;
    const r = await run(c, ['next', 'gw', ...FAST, '--on-failure', 'rollback', ...analysis()]);
    console.log('T3\n' + r.err + r.out);
    expect(r.code).toBe(3);
    const gw2 = c.pods.find((p) => p.name === 'gw-2')!;
    expect(gw2.revision).toBe(target);
    expect(c.services[0]!.annotations['service.cloud.tencent.com/lb-rs-weight']).toBeUndefined();
    expect(r.out + r.err).toContain('every pod of statefulset "gw" is back on the original revision');
  });

  it('T4 next --soak 0 on an upgrade started with --soak: surge soak skipped, batch 1 drained before any warning', async () => {
    value = '0';
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '30s']);
    const r = await ok(c, ['next', 'gw', ...FAST, '--soak', '0', '--batches', '1']);
    console.log('T4\n' + r.err);
    expect(evictions(c)).toEqual(['gw-0']);
    const warnAt = r.err.indexOf('--soak 0');
    const drainAt = r.err.indexOf('drained gw-0');
    console.log({ warnAt, drainAt });
  });

  it('T5 kill after the soak-triggered rollback landed: the rerun of the same unattended command exits 0', async () => {
    value = '0.5';
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '30s']);
    const r = await run(c, ['next', 'gw', ...FAST, '--on-failure', 'rollback', ...analysis()]);
    expect(r.code).toBe(3);
    const again = await run(c, ['next', 'gw', ...FAST, '--on-failure', 'rollback', ...analysis()]);
    console.log('T5 rerun code', again.code, again.err + again.out);
  });
});
