// What the walk's unit tests share: a settled StatefulSet in the in-memory cluster that plays the
// StatefulSet controller, and ways to run the CLI against it.
import { expect } from 'vitest';
import { main } from '../../src/app.js';
import { decodeHistory, historyConfigMapName } from '../../src/core/history.js';
import { decodeRecord } from '../../src/core/upgrade.js';
import { runNext, validateNextOptions } from '../../src/commands/next.js';
import { makeUi, type Ui } from '../../src/ui/terminal.js';
import { FakeCluster, fakeDeps, fakeIo, pod, service, statefulSet } from './fakes.js';

export const RECORD = 'zerolossupgrade.io/upgrade';
/** Unattended, no drain wait, short waits: the fake answers at once. */
export const DRAIN = ['--yes', '--min-drain', '0s', '--timeout', '1s'];

/**
 * A StatefulSet of `replicas` pods on one revision (named from the template, as the controller
 * does, so a rollback finds it again) behind one direct-access Service, or a store shared with
 * another fake; status.currentRevision stale, as under OnDelete it always is.
 */
export function settled(name = 'gw', replicas = 3, store?: FakeCluster['store']): FakeCluster {
  const sts = statefulSet({ name, replicas, currentRevision: `${name}-first`, selector: { app: name }, podLabels: { app: name }, containers: [{ name: 'gw', image: 'gw:1' }] });
  const c = new FakeCluster(sts, Array.from({ length: replicas }, (_, i) => pod(i, { name: `${name}-${i}`, uid: `${name}-uid-${i}`, containers: [{ name: 'gw', image: 'gw:1' }], labels: { app: name } })));
  const first = c.revisionOf([{ name: 'gw', image: 'gw:1' }]);
  c.sts = { ...c.sts!, updateRevision: first };
  c.pods = c.pods.map((p) => ({ ...p, revision: first }));
  if (store) c.store = store;
  else c.services = [service()];
  c.controller = true;
  return c;
}

export async function run(c: FakeCluster, args: string[]) {
  const deps = fakeDeps(c);
  const code = await main(args, deps);
  return { code, out: deps.io.stdout.text, err: deps.io.stderr.text };
}

export async function ok(c: FakeCluster, args: string[]) {
  const r = await run(c, args);
  expect(r.code, r.err).toBe(0);
  return r;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read deep into the record
export const recordOf = (c: FakeCluster): any => (c.sts!.annotations[RECORD] ? decodeRecord(c.sts!.annotations[RECORD]!) : undefined);
/** The upgrade history the walk wrote, oldest first. */
export const historyOf = (c: FakeCluster, name = c.sts!.name) => decodeHistory(c.configMaps.get(historyConfigMapName(name))?.data).entries;

/** A terminal that answers yes, and "stop to soak" between batches: one batch per run. */
const soak: Ui = { ...makeUi({ yes: true }, fakeIo()), choose: async () => 'soak' as never };
export const nextOptions = (name: string) =>
  validateNextOptions({ statefulset: name, 'min-drain': '0s', timeout: '1s', 'force-unlock': false, 'dry-run': false, 'cloud-credentials': 'off', 'require-evidence': false, 'zero-points': 3, 'drain-timeout': '1s', 'force-after-timeout': false, 'evidence-interval': '1s' });
export const oneBatch = (c: FakeCluster, name = c.sts!.name) => runNext(nextOptions(name), c, soak, () => new Date(), async () => ({ off: 'off' }));
