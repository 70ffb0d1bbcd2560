// The soak gate in the walk, against the in-memory cluster and a real HTTP server on loopback that
// answers Prometheus' query API: what passes, what holds the walk, what walks back, what is
// recorded, and that a bad flag changes nothing.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pairAnalyses } from '../../src/commands/soak.js';
import { runNext, validateNextOptions } from '../../src/commands/next.js';
import { validateSoakOptions } from '../../src/commands/soak.js';
import { encodeRecord } from '../../src/core/upgrade.js';
import { makeUi, type Ui } from '../../src/ui/terminal.js';
import { fakeIo } from '../support/fakes.js';
import type { FakeCluster } from '../support/fakes.js';
import { RECORD, historyOf, ok, recordOf, run, settled } from '../support/walk.js';

/** A Prometheus stand-in: answers every instant query with `value` (or with nothing; `answer` decides per query when set), and keeps each query and Authorization header. */
const prom = { value: '0' as string | undefined, answer: undefined as ((query: string) => string | undefined) | undefined, status: 200, queries: [] as string[], auth: [] as (string | undefined)[] };
let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? '';
    prom.queries.push(q);
    prom.auth.push(req.headers.authorization);
    res.writeHead(prom.status, { 'content-type': 'application/json' });
    if (prom.status !== 200) return res.end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error' }));
    const value = prom.answer ? prom.answer(q) : prom.value;
    const result = value === undefined ? [] : [{ metric: {}, value: [Date.now() / 1000, value] }];
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  Object.assign(prom, { value: '0', answer: undefined, status: 200, queries: [], auth: [] });
});

// Most tests start with --surge 0: the batches' own soaks, without the surge pods' soak before them (tested on its own).
const FAST = ['--yes', '--min-drain', '0s', '--timeout', '1s', '--analysis-interval', '1s'];
const analysis = () => ['--prometheus', url, '--analysis', 'errors{pod=~"$PODS",namespace="$NAMESPACE"}', '--max', '0.01'];
const evictions = (c: FakeCluster) => c.mutations.filter((m) => m.startsWith('delete pod ')).map((m) => m.split(' ')[2]);

describe('the soak gate between batches', { timeout: 60_000 }, () => {
  it('a good release: each batch soaks for the time given with its own pods in the query, passes, and the walk goes on to the end', async () => {
    const c = settled('gw', 3);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '2s', '--surge', '0']);
    const started = Date.now();
    const r = await ok(c, ['next', 'gw', ...FAST, ...analysis()]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 2000);
    expect(r.err.match(/soak of gw-\d passed/g)).toEqual(['soak of gw-0 passed', 'soak of gw-1 passed', 'soak of gw-2 passed']);
    expect(evictions(c)).toEqual(['gw-0', 'gw-1', 'gw-2']);
    // The query was put in for each batch in turn.
    for (const p of ['gw-0', 'gw-1', 'gw-2']) expect(prom.queries).toContain(`errors{pod=~"${p}",namespace="prod"}`);
    const [entry] = historyOf(c);
    expect(entry!.batches.map((b) => [b.ordinals, b.soak?.outcome, b.soak!.seconds >= 2])).toEqual([
      ['0', 'passed', true],
      ['1', 'passed', true],
      ['2', 'passed', true],
    ]);
    expect(entry!.batches[0]!.soak!.readings).toContain('analysis 1: 0 (<= 0.01)');
    expect(c.events.filter((e) => e.startsWith('Normal SoakPassed'))).toHaveLength(3);
    expect(recordOf(c).soak).toBeUndefined();
  });

  it('a failed analysis stops with exit 3 after the first batch: nothing more drained, the batch keeps serving, the failure on record; run again unattended, it still refuses', async () => {
    const c = settled('gw', 3);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '30s', '--surge', '0']);
    prom.value = '0.05';
    const started = Date.now();
    const r = await run(c, ['next', 'gw', ...FAST, ...analysis()]);
    expect(r.code, r.err).toBe(3);
    // It failed at the first reading that saw it, not at the end of the 30 s.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.err).toContain('the soak of gw-0 FAILED');
    expect(r.err).toContain('analysis 1: 0.05 (<= 0.01)');
    expect(r.err).toContain('To go back, roll back with: kubectl zerolossupgrade rollback gw -n prod');
    expect(evictions(c)).toEqual(['gw-0']);
    const rec = recordOf(c);
    expect(rec.batches.map((b: { phase: string }) => b.phase)).toEqual(['done', 'pending', 'pending']);
    expect(rec.soak.failed.reason).toBe('analysis 1: 0.05 (<= 0.01)');
    // gw-0 was given its weight back: no drain is left on the Service.
    expect(c.services[0]!.annotations['service.cloud.tencent.com/lb-rs-weight'] ?? '').not.toContain('"weight":0');
    expect(c.events.filter((e) => e.startsWith('Warning SoakFailed'))).toHaveLength(1);
    expect(historyOf(c)[0]!.batches[0]!.soak).toMatchObject({ outcome: 'failed', readings: ['analysis 1: 0.05 (<= 0.01)', 'restarts: none', 'readiness: 1/1 Ready', 'warnings: none'] });

    prom.value = '0';
    const again = await run(c, ['next', 'gw', ...FAST, ...analysis()]);
    expect(again.code).toBe(3);
    expect(again.err).toContain('did not pass');
    const finish = await run(c, ['finish', 'gw', '--yes', '--min-drain', '0s']);
    expect(finish.code).toBe(3);
    // The dry run says the same: the next step is no drain at all.
    const plan = await ok(c, ['next', 'gw', '--dry-run']);
    expect(plan.out).toContain('stop: the soak of gw-0 failed (analysis 1: 0.05 (<= 0.01))');
    expect(plan.out).not.toContain('eviction');
    expect(evictions(c)).toEqual(['gw-0']);
  });

  it('--on-failure rollback walks back at once, unattended: the soaked batch back on the old revision, the next never drained, and the rollback on record as the soak\'s', async () => {
    const c = settled('gw', 3);
    const original = c.sts!.updateRevision;
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    prom.value = '0.2';
    const r = await run(c, ['next', 'gw', ...FAST, '--soak', '30s', '--on-failure', 'rollback', ...analysis()]);
    expect(r.code, r.err).toBe(3);
    expect(r.err).toContain('--on-failure rollback: walking "gw" back now');
    expect(r.err).toContain('was rolled back and finished');
    expect(evictions(c)).toEqual(['gw-0', 'gw-0']);
    expect(c.pods.map((p) => p.revision)).toEqual([original, original, original]);
    // Rolled back and finished in the same run: nothing left for a person to complete.
    expect(recordOf(c)).toBeUndefined();
    expect(c.sts!.replicas).toBe(3);
    const [entry] = historyOf(c);
    expect(entry!.rollback).toMatchObject({ trigger: 'soak' });
    expect(entry!.batches.map((b) => [b.walk, b.ordinals, b.soak?.outcome])).toEqual([
      ['forward', '0', 'failed'],
      ['back', '0', undefined],
    ]);
    expect(c.events.some((e) => e.startsWith('Normal RolledBack') && e.includes('triggered by the failed soak'))).toBe(true);
    expect(entry!.outcome).toBe('rolled back');
  });

  it('no series is unknown, which fails an unattended soak at its end; a container restart fails it at once, with its reason', async () => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    prom.value = undefined;
    const r = await run(c, ['next', 'gw', ...FAST, '--soak', '2s', ...analysis()]);
    expect(r.code, r.err).toBe(3);
    expect(r.err).toContain('unknown, which never passes a soak: analysis 1: no series');
    expect(evictions(c)).toEqual(['gw-0']);

    const d = settled('gw', 2);
    await ok(d, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    // gw-0 restarts (OOMKilled) two seconds into its soak.
    const timer = setInterval(() => {
      const p = d.pods.find((x) => x.name === 'gw-0');
      if (p && p.revision === d.sts!.updateRevision && recordOf(d)?.soak) d.pods = d.pods.map((x) => (x === p ? { ...x, restarts: [{ container: 'gw', count: 1, lastTermination: 'OOMKilled (exit code 137)' }] } : x));
    }, 200);
    try {
      const s = await run(d, ['next', 'gw', ...FAST, '--soak', '30s']);
      expect(s.code, s.err).toBe(3);
      expect(s.err).toContain('restarts: gw-0 gw restarted 1x (last: OOMKilled (exit code 137))');
    } finally {
      clearInterval(timer);
    }
    expect(evictions(d)).toEqual(['gw-0']);
  });

  it('the Prometheus token goes in the Authorization header only: a refused one is named as refused, and the token shows nowhere', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zlu-soak-'));
    const secret = 's3cr3t-token-value-0123456789';
    writeFileSync(join(dir, 'token'), `${secret}\n`);
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    prom.status = 401;
    const r = await run(c, ['next', 'gw', ...FAST, '--soak', '2s', ...analysis(), '--prometheus-user', '1250000000', '--prometheus-token-file', join(dir, 'token')]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('refused the credentials (HTTP 401)');
    expect(prom.auth.length).toBeGreaterThan(0);
    expect(new Set(prom.auth)).toEqual(new Set([`Basic ${Buffer.from(`1250000000:${secret}`).toString('base64')}`]));
    const everything = [r.out, r.err, ...c.events, JSON.stringify(c.sts!.annotations), JSON.stringify([...c.configMaps.values()])].join('\n');
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(Buffer.from(`1250000000:${secret}`).toString('base64'));
  });
});

describe('the surge pods soak first', { timeout: 60_000 }, () => {
  it('before the first batch is drained, the surge pods (already serving the new release) soak; then each batch does', async () => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '2s']);
    const r = await ok(c, ['next', 'gw', ...FAST, ...analysis()]);
    expect(r.err.match(/soak of [\w -]+ passed/g)).toEqual(['soak of the surge pods gw-2 passed', 'soak of gw-0 passed', 'soak of gw-1 passed']);
    expect(prom.queries[0]).toBe('errors{pod=~"gw-2",namespace="prod"}');
    const [entry] = historyOf(c);
    expect(entry!.surgeSoak).toMatchObject({ outcome: 'passed' });
    expect(entry!.batches.map((b) => b.soak?.outcome)).toEqual(['passed', 'passed']);
    // Passed once, never again in the same upgrade.
    expect(recordOf(c).surgeSoaked).toBe(true);
  });

  it('a bad release is caught on the surge pods with nothing drained or deleted; --on-failure rollback puts the template back and removes them', async () => {
    const c = settled('gw', 2);
    const original = c.sts!.updateRevision;
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2']);
    prom.value = '0.3';
    const r = await run(c, ['next', 'gw', ...FAST, '--soak', '30s', '--on-failure', 'rollback', ...analysis()]);
    expect(r.code, r.err).toBe(3);
    expect(r.err).toContain('the soak of the surge pods gw-2 FAILED');
    expect(evictions(c)).toEqual([]);
    expect(c.services[0]!.annotations['service.cloud.tencent.com/lb-rs-weight']).toBeUndefined();
    expect(c.sts!.updateRevision).toBe(original);
    // The surge pod ran the failed release: it was drained and removed in the same run.
    expect(recordOf(c)).toBeUndefined();
    expect(historyOf(c)[0]).toMatchObject({ outcome: 'rolled back', rollback: { trigger: 'soak' }, surgeSoak: { outcome: 'failed' } });
    expect(c.sts!.replicas).toBe(2);
    expect(c.pods.map((p) => [p.name, p.revision])).toEqual([['gw-0', original], ['gw-1', original]]);
    expect(evictions(c)).toEqual([]);
  });
});

describe('the surge soak in the plan, under --soak 0, and after a crash of its walk back', { timeout: 60_000 }, () => {
  it('the dry run plans the surge pods\' soak first; --soak 0 says it skips the soak start recorded before anything is drained', async () => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--soak', '1m']);
    const plan = await ok(c, ['next', 'gw', '--dry-run']);
    expect(plan.out).toContain('soak the surge pods gw-2 for 60s');
    expect(plan.out).not.toContain('eviction');
    const r = await ok(c, ['next', 'gw', ...FAST, '--soak', '0', '--batches', '1']);
    const warned = r.err.indexOf('--soak 0: no soak in this run, although the upgrade was started with --soak 1m00s');
    expect(warned).toBeGreaterThanOrEqual(0);
    expect(warned).toBeLessThan(r.err.indexOf('drained gw-0'));
  });

  it('run again after a crash during a walk back the soak started, it goes the whole way and out, --batches or not, and exits 3', async () => {
    const c = settled('gw', 3);
    const original = c.sts!.updateRevision;
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    await ok(c, ['next', 'gw', ...FAST, '--batches', '2']);
    // As a run leaves it when killed right after turning the upgrade back on a failed soak.
    const { rollBack } = await import('../../src/walk/rollback.js');
    const { withLock } = await import('../../src/walk/lock.js');
    // Answers yes but reads as not unattended: the walk back stops after the turn (0 batches), as a kill would leave it.
    const ui = { ...makeUi({ yes: true }, fakeIo()), yes: false };
    await withLock(c, ui, 'gw', 'tester', false, async (guarded) => {
      const ctx = { cluster: guarded, ui, now: () => new Date(), who: 'tester', minDrainMs: 0, timeoutMs: 1000, evidence: (await import('../../src/walk/evidence.js')).DrainEvidence.none({ credentials: 'off', requireEvidence: false, zeroPoints: 3, drainTimeoutMs: 1000, forceAfterTimeout: false, intervalMs: 1000 }, 'off'), warned: new Set<string>() };
      await rollBack(ctx, 'gw', false, 0, 'soak');
    });
    expect(recordOf(c).rollback.trigger).toBe('soak');
    const r = await run(c, ['next', 'gw', ...FAST, '--batches', '1']);
    expect(r.code, r.err).toBe(3);
    expect(r.err).toContain('rolled back and finished');
    expect(c.pods.map((p) => p.revision)).toEqual([original, original, original]);
    expect(recordOf(c)).toBeUndefined();
  });
});

describe('what the review found', { timeout: 60_000 }, () => {
  /** next as a person at a terminal who answers `choice` to the question after a failed soak, yes to the rest. */
  const atTerminal = (choice: string): Ui => ({ ...makeUi({ yes: true }, fakeIo()), yes: false, choose: async (message, _c, whenYes) => (message.includes('did not pass') ? (choice as never) : whenYes) });
  const nextArgs = (extra: Record<string, unknown> = {}) => ({ statefulset: 'gw', 'min-drain': '0s', timeout: '1s', 'force-unlock': false, 'dry-run': false, 'cloud-credentials': 'off' as const, 'require-evidence': false, 'zero-points': 3, 'drain-timeout': '1s', 'force-after-timeout': false, 'evidence-interval': '1s', ...extra });
  const soakArgv = (soak: string) => ['--soak', soak, '--analysis-interval', '1s', ...analysis()];
  const soakOptions = (soak: string) => validateSoakOptions({ soak, 'analysis-interval': '1s', 'soak-watch': 'batch', 'on-failure': 'stop', prometheus: url, analysis: ['errors{pod=~"$PODS",namespace="$NAMESPACE"}'], max: [0.01] }, soakArgv(soak));

  it('"continue anyway" right after a failure goes on from the record as written, and the next batch is drained with the failure settled', async () => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    prom.answer = (q) => (q.includes('gw-0') ? '0.5' : '0');
    const seenAtEviction: unknown[] = [];
    const before = c.beforeWrite;
    c.beforeWrite = (what, body) => {
      if (what === 'evict pod gw-1') seenAtEviction.push(recordOf(c).soak ?? null);
      before(what, body);
    };
    await runNext({ ...validateNextOptions(nextArgs()), soak: soakOptions('3s') }, c, atTerminal('continue'), () => new Date(), async () => ({ off: 'off' }));
    expect(evictions(c)).toEqual(['gw-0', 'gw-1']);
    // When gw-1 left, the failed soak of gw-0 was settled (overridden), not carried along.
    expect(seenAtEviction).toEqual([null]);
    expect(historyOf(c)[0]!.batches[0]!.soak).toMatchObject({ outcome: 'overridden', by: 'tester' });
    expect(c.events.some((e) => e.startsWith('Warning SoakOverridden'))).toBe(true);
  });

  it('a pod replaced during the soak fails it, however healthy the new one is', async () => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    const timer = setInterval(() => {
      if (recordOf(c)?.soak) c.pods = c.pods.map((p) => (p.name === 'gw-0' && !p.uid.startsWith('again') ? { ...p, uid: `again-${p.uid}` } : p));
    }, 200);
    try {
      const r = await run(c, ['next', 'gw', ...FAST, '--soak', '30s']);
      expect(r.code, r.err).toBe(3);
      expect(r.err).toMatch(/readiness: gw-0: replaced during the soak \(uid \S+ -> again-\S+\)/);
    } finally {
      clearInterval(timer);
    }
  });

  it('a rerun\'s shorter --soak does not cut a recorded soak short', async () => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    await ok(c, ['next', 'gw', ...FAST, '--batches', '1']);
    const rec = recordOf(c);
    // As a run killed right after its restore leaves it: a soak of 4 s just begun.
    c.sts = { ...c.sts!, annotations: { ...c.sts!.annotations, [RECORD]: encodeRecord({ ...rec, soak: { batch: 0, startedAt: new Date().toISOString(), ms: 4000, uids: { 'gw-0': c.pods[0]!.uid } } }) } };
    const started = Date.now();
    const r = await ok(c, ['next', 'gw', ...FAST, '--soak', '1s', '--batches', '1']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3500);
    expect(r.err).toContain('soak of gw-0 passed');
  });

  it('--batches with --on-failure rollback walks the whole way back, not --batches of it', async () => {
    const c = settled('gw', 3);
    const original = c.sts!.updateRevision;
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    await ok(c, ['next', 'gw', ...FAST, '--soak', '1s', '--batches', '1', ...analysis()]);
    prom.answer = (q) => (q.includes('gw-1') ? '0.5' : '0');
    const r = await run(c, ['next', 'gw', ...FAST, '--soak', '30s', '--batches', '1', '--on-failure', 'rollback', ...analysis()]);
    expect(r.code, r.err).toBe(3);
    expect(c.pods.filter((p) => p.ordinal < 3).map((p) => p.revision)).toEqual([original, original, original]);
    expect(evictions(c).sort()).toEqual(['gw-0', 'gw-0', 'gw-1', 'gw-1']);
  });

  it('a token file of more than one line is refused before anything is read or changed, and never quoted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zlu-soak-'));
    writeFileSync(join(dir, 'token'), 'first-half-of-secret\nsecond-half-of-secret\n');
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    const before = c.mutations.length;
    const r = await run(c, ['next', 'gw', ...FAST, '--soak', '2s', ...analysis(), '--prometheus-token-file', join(dir, 'token')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('must hold the token alone, on one line');
    expect(r.err).not.toContain('half-of-secret');
    expect(c.mutations.length).toBe(before);
    expect(prom.queries).toEqual([]);
  });

  it('Ctrl-C before the first wait is a cancellation, not an unhandled rejection', async () => {
    const io = fakeIo({ tty: true });
    const stdin = Object.assign(io.stdin, { setRawMode: (raw: boolean) => raws.push(raw) });
    const raws: boolean[] = [];
    const ui = makeUi({}, { ...io, stdin });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const key = ui.keypress();
      (stdin as unknown as NodeJS.WritableStream).write(Buffer.from([3]));
      await new Promise((r) => setTimeout(r, 50));
      await expect(key.pressed).rejects.toThrow('interrupted (Ctrl-C)');
      key.stop();
      expect(raws).toEqual([true, false]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('bad soak flags: exit 2, nothing changed', () => {
  const refused: [string[], RegExp][] = [
    [['--analysis', 'up'], /has no bound/],
    [['--max', '1', '--analysis', 'up'], /comes before any --analysis/],
    [['--analysis', 'up', '--max', '1', '--min', '0'], /has two bounds/],
    [['--analysis', 'up', '--max', 'lots'], /is not a number|give each --analysis/],
    [['--soak', '1m', '--analysis', 'up', '--max', '1'], /needs --prometheus/],
    [['--soak', '1m', '--prometheus', 'http://u:p@127.0.0.1:9090', '--analysis', 'up', '--max', '1'], /must not carry credentials/],
    [['--soak', '1m', '--prometheus', 'ftp://127.0.0.1', '--analysis', 'up', '--max', '1'], /http or https/],
    [['--soak', '1m', '--prometheus', 'http://127.0.0.1:9090'], /only used by --analysis/],
    [['--soak', '1m', '--prometheus', 'http://127.0.0.1:9090', '--analysis', 'up', '--max', '1', '--prometheus-token-file', '/nonexistent/token'], /cannot read \/nonexistent\/token: ENOENT/],
    [['--prometheus', 'http://127.0.0.1:9090', '--analysis', 'up', '--max', '1'], /give --soak DURATION/],
    [['--soak', 'soon'], /invalid duration "soon" for --soak/],
    [['--soak', '1m', '--analysis-interval', '100ms'], /at least 1s/],
    [['--on-failure', 'pray'], /Invalid values|Choices/],
  ];
  it.each(refused)('next %j', async (flags, message) => {
    const c = settled('gw', 2);
    await ok(c, ['start', 'gw', '--image', 'gw=gw:2', '--surge', '0']);
    const before = c.mutations.length;
    const r = await run(c, ['next', 'gw', '--yes', ...flags]);
    expect(r.code, r.err).toBe(2);
    expect(r.err).toMatch(message);
    expect(c.mutations.length).toBe(before);
  });

  it('pairs each --analysis with the bound after it, in either form', () => {
    expect(pairAnalyses(['next', 'gw', '--analysis', 'a', '--max', '0.01', '--analysis=b', '--min=5', '--', '--analysis', 'c'])).toEqual([
      { query: 'a', bound: { kind: 'max', value: 0.01 } },
      { query: 'b', bound: { kind: 'min', value: 5 } },
    ]);
    expect(pairAnalyses(['--analysis', 'a', '--min', '-1'])).toEqual([{ query: 'a', bound: { kind: 'min', value: -1 } }]);
  });
});
