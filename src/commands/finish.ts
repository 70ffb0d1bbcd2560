import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import type { CloudOpener } from '../cloud/open.js';
import { GateError } from '../core/errors.js';
import { pendingOrdinals, soakSubject } from '../core/upgrade.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { podNames, readUpgrade, type Upgrade } from '../walk/context.js';
import { planRetire, printPlan } from '../walk/plan.js';
import { retireSurge } from '../walk/retire.js';
import { session, type Deps, type GlobalArgs } from './common.js';
import { drainOptions, validateNextOptions, type NextArgs, type NextOptions } from './next.js';
import { underLock } from './walking.js';

export interface FinishArgs extends NextArgs {
  force: boolean;
}

export interface FinishOptions extends NextOptions {
  force: boolean;
}

export async function runFinish(o: FinishOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  const refuseUnfinished = (up: Upgrade) => {
    const soak = up.record.soak;
    if (soak && !up.record.finish && !o.force) {
      const names = soakSubject(up.record, soak);
      throw new GateError(
        soak.failed
          ? `the soak of ${names} failed (${soak.failed.reason}); roll back with: kubectl zerolossupgrade rollback ${o.name}, or decide in a terminal with: kubectl zerolossupgrade next ${o.name} (or pass --force)`
          : `the soak of ${names} is not over; resume it with: kubectl zerolossupgrade next ${o.name} (or pass --force)`,
      );
    }
    const pending = pendingOrdinals(up.record);
    if (pending.length > 0 && !up.record.finish && !o.force) {
      throw new GateError(`pods not yet walked: ${podNames(o.name, pending)}; walk them with: kubectl zerolossupgrade next ${o.name} (or pass --force)`);
    }
  };
  if (o.dryRun) {
    const up = await readUpgrade(cluster, o.name);
    refuseUnfinished(up);
    return printPlan(ui, await planRetire(cluster, up, now()));
  }
  await underLock(o, cluster, ui, now, opener, async (ctx) => {
    const up = await readUpgrade(ctx.cluster, o.name);
    refuseUnfinished(up);
    await retireSurge(ctx, up, 'UpgradeFinished');
  });
}

export const finishCommand = (deps: Deps): CommandModule<GlobalArgs, FinishArgs> => ({
  command: 'finish <statefulset>',
  describe: 'Drain and remove the surge pods, restore the Services, clear the record',
  builder: (y) =>
    drainOptions(y)
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' })
      .option('force', { type: 'boolean', default: false, describe: 'Finish even though some pods are not upgraded' })
      .example('kubectl zerolossupgrade finish nginx', 'After the last batch') as Argv<FinishArgs>,
  handler: async (args: ArgumentsCamelCase<FinishArgs>) => {
    const options = { ...validateNextOptions(args), force: args.force };
    const { ui, cluster } = session(args, deps);
    await runFinish(options, await cluster(), ui, () => new Date(), deps.openCloud);
  },
});
