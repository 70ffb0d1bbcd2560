// The wiring every command that walks shares: refuse what cannot work before anything changes
// (no terminal to ask on, --require-evidence without credentials), then hold the lock and build
// the walk's context around the lock-guarded cluster.
import type { CloudOpener } from '../cloud/open.js';
import { UsageError } from '../core/errors.js';
import type { Cluster } from '../k8s/types.js';
import { NO_TTY_MESSAGE, type Ui } from '../ui/terminal.js';
import { readUpgrade, type WalkContext } from '../walk/context.js';
import { DrainEvidence } from '../walk/evidence.js';
import { withLock } from '../walk/lock.js';
import type { NextOptions } from './next.js';

export async function underLock(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener, fn: (ctx: WalkContext) => Promise<void>): Promise<void> {
  // Every walking command asks something before its first irreversible step: without a terminal
  // and without --yes it would stop half-way, so it stops here, before the first change.
  if (!ui.canAsk) throw new UsageError(NO_TTY_MESSAGE);
  const who = await cluster.whoAmI();
  const up = await readUpgrade(cluster, o.name);
  const evidence = await DrainEvidence.open(o.evidence, cluster, up.record, up.pods, opener);
  await withLock(cluster, ui, o.name, who, o.forceUnlock, (guarded) =>
    fn({ cluster: guarded, ui, now, who, minDrainMs: o.minDrainMs, timeoutMs: o.timeoutMs, evidence, warned: new Set(), ...(o.soak ? { soak: o.soak } : {}) }),
  );
}

/** A context for a dry run: reads only, no lock, no evidence. */
export async function dryRunContext(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date): Promise<WalkContext> {
  return { cluster, ui, now, who: await cluster.whoAmI(), minDrainMs: o.minDrainMs, timeoutMs: o.timeoutMs, evidence: DrainEvidence.none(o.evidence, 'not read in a dry run'), warned: new Set() };
}
