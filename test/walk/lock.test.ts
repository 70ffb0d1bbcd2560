// Every other session judges the Lease by the renewTime a renewal request carried, so the lock
// counts "renewed" from the sending, not from the answer: a slow renewal must not widen the gap.
import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { GateError, NotFoundError } from '../../src/core/errors.js';
import { translateApiError } from '../../src/k8s/client.js';
import { decideLock } from '../../src/core/lock.js';
import { RS_WEIGHT_ANNOTATION } from '../../src/core/rs-weight.js';
import { makeUi } from '../../src/ui/terminal.js';
import { withLock } from '../../src/walk/lock.js';
import { FakeCluster, fakeIo, service, statefulSet } from '../support/fakes.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Under a 300 ms Lease, `afterMs` into the work another session takes the Lease (it may: it has
 * expired by its renewTime); the work's next write must then be refused and never land.
 */
async function expectRefusedAfterTakeover(c: FakeCluster, afterMs: number): Promise<void> {
  const error = await withLock(
    c,
    makeUi({}, fakeIo()),
    'gw',
    'tester',
    false,
    async (guarded) => {
      await sleep(afterMs);
      const lease = c.leases.get('zerolossupgrade-gw')!;
      expect(decideLock(lease, 'bob (other pid 1)', new Date(), false).kind).toBe('take');
      c.leases.set('zerolossupgrade-gw', { ...lease, holder: 'bob (other pid 1)', renewedAt: new Date().toISOString() });
      await guarded.setServiceAnnotation('gw', c.services[0]!.resourceVersion, RS_WEIGHT_ANNOTATION, '{}');
    },
    0.3,
  ).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(GateError);
  expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
}

it('no write goes out once another session may already have taken the Lease', async () => {
  const c = new FakeCluster(statefulSet(), []);
  c.services = [service()];
  const write = c.writeLease.bind(c);
  let calls = 0;
  c.writeLease = async (...args) => {
    calls++;
    if (calls === 1) return write(...args);
    if (calls === 2) {
      // The renewal reaches the API server at once (renewTime = now), its answer comes back 250 ms later.
      const lease = await write(...args);
      await sleep(250);
      return lease;
    }
    // The API server is overloaded from here on.
    await sleep(150);
    throw Object.assign(new Error('Service Unavailable'), { status: 503 });
  };
  // 520 ms in, another operator's session finds the Lease expired by its renewTime.
  await expectRefusedAfterTakeover(c, 520);
}, 10_000);

describe('the lock counts from the sending of every write that renews it', () => {
  it('a slow acquisition: no write goes out once another session may take the Lease', async () => {
    const c = new FakeCluster(statefulSet(), []);
    c.services = [service()];
    const write = c.writeLease.bind(c);
    let calls = 0;
    c.writeLease = async (...args) => {
      calls++;
      if (calls === 1) {
        // The acquisition lands at once (renewTime = now); its answer comes back 250 ms later.
        const lease = await write(...args);
        await sleep(250);
        return lease;
      }
      await sleep(150);
      throw Object.assign(new Error('Service Unavailable'), { status: 503 });
    };
    // 370 ms after the acquisition landed, with a 300 ms Lease: another session may take it.
    await expectRefusedAfterTakeover(c, 120);
  }, 10_000);
});

describe('a refused Lease call names the permission, not only that the lock failed', () => {
  const forbidden = (verb: string) =>
    translateApiError(new ApiException(403, 'Forbidden', JSON.stringify({ message: `leases.coordination.k8s.io "zerolossupgrade-gw" is forbidden: cannot ${verb}` }), {}), {
      verb,
      resource: 'leases',
      name: 'zerolossupgrade-gw',
      namespace: 'prod',
    });

  it('a release the API server refuses is a warning with the verb and resource; the work stands', async () => {
    const c = new FakeCluster(statefulSet(), []);
    c.deleteLease = async () => {
      throw forbidden('delete');
    };
    const io = fakeIo();
    await expect(withLock(c, makeUi({}, io), 'gw', 'tester', false, async () => 'done')).resolves.toBe('done');
    expect(io.stderr.text).toContain('warning: could not release the lock (lease prod/zerolossupgrade-gw): forbidden: you may not delete leases "zerolossupgrade-gw" in namespace "prod"; ask for the "delete" permission on "leases"');
    expect(c.leases.has('zerolossupgrade-gw')).toBe(true);
  });

  it('a release that finds the Lease gone or taken says nothing', async () => {
    for (const error of [new NotFoundError('leases', 'zerolossupgrade-gw', 'prod'), Object.assign(new Error('conflict'), { status: 409 })]) {
      const c = new FakeCluster(statefulSet(), []);
      c.deleteLease = async () => {
        throw error;
      };
      const io = fakeIo();
      await withLock(c, makeUi({}, io), 'gw', 'tester', false, async () => undefined);
      expect(io.stderr.text).toBe('');
    }
  });

  it('renewals refused until the Lease runs out: the stop names the refused verb and resource', async () => {
    const c = new FakeCluster(statefulSet(), []);
    c.services = [service()];
    const write = c.writeLease.bind(c);
    let calls = 0;
    c.writeLease = async (...args) => {
      if (++calls === 1) return write(...args);
      throw forbidden('update');
    };
    const error = await withLock(
      c,
      makeUi({}, fakeIo()),
      'gw',
      'tester',
      false,
      async (guarded) => {
        await sleep(400);
        await guarded.setServiceAnnotation('gw', c.services[0]!.resourceVersion, RS_WEIGHT_ANNOTATION, '{}');
      },
      0.3,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GateError);
    expect((error as Error).message).toContain('the lock could not be renewed for 0.3s (forbidden: you may not update leases "zerolossupgrade-gw" in namespace "prod"; ask for the "update" permission on "leases"');
    expect(c.services[0]!.annotations[RS_WEIGHT_ANNOTATION]).toBeUndefined();
  }, 10_000);
});
