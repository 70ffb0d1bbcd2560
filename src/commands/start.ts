import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { parseDuration } from '../core/duration.js';
import { UsageError } from '../core/errors.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { withLock } from '../walk/lock.js';
import { DEFAULT_CLB_BACKEND_QUOTA, startUpgrade, type StartPlan } from '../walk/start.js';
import { session, type Deps, type GlobalArgs } from './common.js';

export interface StartArgs extends GlobalArgs {
  statefulset: string;
  image?: string[];
  batch: number;
  surge?: number;
  service?: string[];
  force: boolean;
  'keep-zero-weights': boolean;
  timeout: string;
  'force-unlock': boolean;
  'dry-run': boolean;
  'clb-backend-quota': number;
  soak?: string;
}

export interface StartOptions extends StartPlan {
  forceUnlock: boolean;
}

// A container image reference: [registry[:port]/]path[:tag][@digest], lower-case path components.
const IMAGE_REF = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export function validateStartOptions(a: Pick<StartArgs, 'statefulset' | 'image' | 'batch' | 'surge' | 'service' | 'force' | 'timeout'> & { 'force-unlock'?: boolean; 'dry-run'?: boolean; 'keep-zero-weights'?: boolean; 'clb-backend-quota'?: number; soak?: string }): StartOptions {
  const images = (a.image ?? []).map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--image "${pair}": use CONTAINER=IMAGE, e.g. --image nginx=nginx:1.25.4`);
    const image = pair.slice(eq + 1);
    if (!IMAGE_REF.test(image)) throw new UsageError(`--image "${pair}": "${image}" is not a valid image reference`);
    return { name: pair.slice(0, eq), image };
  });
  if (new Set(images.map((i) => i.name)).size !== images.length) throw new UsageError('--image names a container twice');
  return { name: a.statefulset, images, ...walkChoices(a), keepZeroWeights: a['keep-zero-weights'] ?? false, timeoutMs: parseDuration('timeout', a.timeout), forceUnlock: a['force-unlock'] ?? false, dryRun: a['dry-run'] ?? false, ...(a.soak !== undefined ? { soakMs: parseDuration('soak', a.soak) } : {}) };
}

/** How a new walk goes, for `start` and for `rollback` of a finished upgrade alike. */
export function walkChoices(a: Pick<StartArgs, 'batch' | 'surge' | 'service' | 'force'> & { 'clb-backend-quota'?: number }): Pick<StartOptions, 'batch' | 'surge' | 'services' | 'force' | 'clbBackendQuota'> {
  if (!Number.isInteger(a.batch) || a.batch < 1) throw new UsageError(`--batch must be a whole number of at least 1 (got ${a.batch})`);
  const surge = a.surge ?? a.batch;
  if (!Number.isInteger(surge) || surge < 0) throw new UsageError(`--surge must be a whole number of at least 0 (got ${a.surge})`);
  const quota = a['clb-backend-quota'] ?? DEFAULT_CLB_BACKEND_QUOTA;
  if (!Number.isInteger(quota) || quota < 1) throw new UsageError(`--clb-backend-quota must be a whole number of at least 1 (got ${a['clb-backend-quota']})`);
  return { batch: a.batch, surge, services: a.service ?? [], force: a.force, clbBackendQuota: quota };
}

export async function runStart(o: StartOptions, cluster: Cluster, ui: Ui, now = () => new Date()): Promise<void> {
  const who = await cluster.whoAmI();
  if (o.dryRun) return startUpgrade(o, cluster, ui, now, who); // reads only: no lock
  await withLock(cluster, ui, o.name, who, o.forceUnlock, (guarded) => startUpgrade(o, guarded, ui, now, who));
}

export function walkOptions<T>(y: Argv<T>) {
  return y
    .option('timeout', { type: 'string', default: '5m', describe: 'How long to wait for pods to become Ready' })
    .option('force-unlock', { type: 'boolean', default: false, describe: "Take the StatefulSet's operator lock from another session (only if it is gone)" })
    .option('dry-run', { type: 'boolean', default: false, describe: 'Print the exact patches and deletions, in order, and change nothing' });
}

export const startCommand = (deps: Deps): CommandModule<GlobalArgs, StartArgs> => ({
  command: 'start <statefulset>',
  describe: 'Set the new image, add surge pods and record the upgrade (changes nothing if a check fails)',
  builder: (y) =>
    walkOptions(y)
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet (updateStrategy OnDelete)' })
      .option('image', { type: 'string', array: true, describe: 'CONTAINER=IMAGE; repeat for several containers. Without it, adopt a template already changed (e.g. by helm)' })
      .option('batch', { type: 'number', default: 1, describe: 'Pods drained and rebuilt together' })
      .option('surge', { type: 'number', describe: 'Extra replicas during the upgrade (default: --batch)' })
      .option('service', { type: 'string', array: true, describe: 'The LoadBalancer Service(s) to drain through (default: all that select the pods)' })
      .option('force', { type: 'boolean', default: false, describe: 'Start even though an HPA scales the StatefulSet' })
      .option('keep-zero-weights', { type: 'boolean', default: false, describe: 'Start although a Service gives some of its pods weight 0 already (those stay 0 afterwards)' })
      .option('clb-backend-quota', { type: 'number', default: DEFAULT_CLB_BACKEND_QUOTA, describe: 'Backends one CLB takes: start warns when replicas + surge exceed it (raise it for an account with a higher quota)' })
      .option('soak', { type: 'string', describe: 'Recorded for the walk: each batch soaks this long after its restore unless next --soak says otherwise' })
      .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Do not ask (scripted use)' })
      .example('kubectl zerolossupgrade start nginx --image nginx=nginx:1.25.4', 'One pod at a time, one surge pod')
      .example('kubectl zerolossupgrade start gateway -n prod --image gw=registry/gw:2.1 --batch 3', 'Three pods per batch, three surge pods') as Argv<StartArgs>,
  handler: async (args: ArgumentsCamelCase<StartArgs>) => {
    const options = validateStartOptions(args);
    const { ui, cluster } = session(args, deps);
    await runStart(options, await cluster(), ui);
  },
});
