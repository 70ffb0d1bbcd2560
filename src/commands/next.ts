import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { parseDuration } from '../core/duration.js';
import { CREDENTIAL_MODES, type CredentialMode } from '../cloud/types.js';
import type { CloudOpener } from '../cloud/open.js';
import { UsageError } from '../core/errors.js';
import type { Cluster } from '../k8s/types.js';
import type { Ui } from '../ui/terminal.js';
import { walkRemaining } from '../walk/batch.js';
import { readUpgrade } from '../walk/context.js';
import type { EvidenceOptions } from '../walk/evidence.js';
import { planNextBatch, printPlan } from '../walk/plan.js';
import { session, type Deps, type GlobalArgs } from './common.js';
import { soakFlags, validateSoakOptions, type SoakArgs } from './soak.js';
import { walkOptions } from './start.js';
import type { SoakOptions } from '../walk/soak.js';
import { underLock } from './walking.js';

export interface NextArgs extends GlobalArgs, Partial<SoakArgs> {
  statefulset: string;
  yes: boolean;
  'min-drain': string;
  timeout: string;
  'force-unlock': boolean;
  'dry-run': boolean;
  region?: string;
  'cloud-credentials': CredentialMode;
  'cloud-endpoint'?: string;
  'require-evidence': boolean;
  'zero-points': number;
  'drain-timeout': string;
  'force-after-timeout': boolean;
  'evidence-interval': string;
  batches?: number;
}

export interface NextOptions {
  name: string;
  /** Walk at most this many batches in this run (next and rollback). */
  maxBatches: number;
  forceUnlock: boolean;
  dryRun: boolean;
  minDrainMs: number;
  timeoutMs: number;
  evidence: EvidenceOptions;
  /** next only: the soak gate between batches. */
  soak?: SoakOptions;
}

export function validateNextOptions(a: Omit<NextArgs, keyof GlobalArgs | 'yes'>): NextOptions {
  const zeroPoints = a['zero-points'];
  if (!Number.isInteger(zeroPoints) || zeroPoints < 1) {
    throw new UsageError(`--zero-points must be a whole number of 1 or more${Number.isNaN(zeroPoints) ? ', e.g. 3' : `, not "${zeroPoints}"`}`);
  }
  const batches = a.batches;
  if (batches !== undefined && (!Number.isInteger(batches) || batches < 1)) throw new UsageError(`--batches must be a whole number of 1 or more${Number.isNaN(batches) ? ', e.g. 1' : `, not "${batches}"`}`);
  if (a['force-after-timeout'] && !a['require-evidence']) throw new UsageError('--force-after-timeout is the policy of --require-evidence when --drain-timeout passes; pass both');
  return {
    name: a.statefulset,
    maxBatches: batches ?? Infinity,
    forceUnlock: a['force-unlock'],
    dryRun: a['dry-run'],
    minDrainMs: parseDuration('min-drain', a['min-drain']),
    timeoutMs: parseDuration('timeout', a.timeout),
    evidence: {
      credentials: a['cloud-credentials'],
      region: a.region,
      endpoint: a['cloud-endpoint'],
      requireEvidence: a['require-evidence'],
      zeroPoints,
      drainTimeoutMs: parseDuration('drain-timeout', a['drain-timeout']),
      forceAfterTimeout: a['force-after-timeout'],
      intervalMs: parseDuration('evidence-interval', a['evidence-interval']),
    },
  };
}

export async function runNext(o: NextOptions, cluster: Cluster, ui: Ui, now: () => Date, opener: CloudOpener): Promise<void> {
  if (o.soak?.analyses.length && !o.dryRun) {
    // Analyses run during a soak only: refused when there is none to run them in.
    const soakMs = o.soak.durationMs ?? (await readUpgrade(cluster, o.name)).record.soakMs ?? 0;
    if (soakMs <= 0) throw new UsageError('--analysis runs during the soak after each batch; give --soak DURATION (or start the upgrade with --soak)');
  }
  if (o.dryRun) {
    const up = await readUpgrade(cluster, o.name);
    printPlan(ui, await planNextBatch(cluster, up, now(), up.record.rollback ? 0 : (o.soak?.durationMs ?? up.record.soakMs ?? 0)));
    return;
  }
  await underLock(o, cluster, ui, now, opener, (ctx) => walkRemaining(ctx, o.name, o.maxBatches));
}

export function drainOptions<T>(y: Argv<T>) {
  return walkOptions(y)
    .option('min-drain', { type: 'string', default: '30s', describe: 'Confirmation is refused until this long after the drain' })
    .option('yes', { alias: 'y', type: 'boolean', default: false, describe: 'Answer yes (scripted use); --min-drain still applies' })
    .option('region', { type: 'string', describe: 'Tencent Cloud region of the CLB (default: TENCENTCLOUD_REGION, else the nodes\' region label)' })
    .option('cloud-credentials', { choices: CREDENTIAL_MODES, default: 'auto' as CredentialMode, describe: 'Where the drain evidence gets Tencent Cloud credentials: auto = environment, then ~/.tencentcloud/credentials, then TKE OIDC' })
    .option('cloud-endpoint', { type: 'string', describe: 'Tencent Cloud API domain (e.g. internal.tencentcloudapi.com) or a URL for every service' })
    .option('require-evidence', { type: 'boolean', default: false, describe: 'Delete only when the evidence says drained: weight 0 on every listener and --zero-points zero connection points' })
    .option('zero-points', { type: 'number', default: 3, describe: 'Consecutive zero ConNum points (present, after weight 0) that count as drained' })
    .option('drain-timeout', { type: 'string', default: '15m', describe: 'How long one run waits for the evidence before it stops (nothing deleted)' })
    .option('force-after-timeout', { type: 'boolean', default: false, describe: 'With --require-evidence: when --drain-timeout passes with weight 0 but connections not drained, delete anyway' })
    .option('evidence-interval', { type: 'string', default: '10s', describe: 'How often the evidence is read again' })
    .option('batches', { type: 'number', describe: 'Walk at most this many batches, then stop (next, rollback; default: all, asking between them)' });
}

/** The yargs module of a command that walks (next, abort, rollback): same flags, same wiring. */
export function drainCommand(
  deps: Deps,
  verb: string,
  describe: string,
  examples: [string, string][],
  run: (o: NextOptions, cluster: Cluster, ui: Ui, opener: CloudOpener) => Promise<void>,
): CommandModule<GlobalArgs, NextArgs> {
  return {
    command: `${verb} <statefulset>`,
    describe,
    builder: (y) => {
      let b = drainOptions(y).positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' });
      for (const [cmd, what] of examples) b = b.example(cmd, what);
      return b as Argv<NextArgs>;
    },
    handler: async (args: ArgumentsCamelCase<NextArgs>) => {
      const options = validateNextOptions(args);
      const { ui, cluster } = session(args, deps);
      await run(options, await cluster(), ui, deps.openCloud);
    },
  };
}

export const nextCommand = (deps: Deps): CommandModule<GlobalArgs, NextArgs> => ({
  command: 'next <statefulset>',
  describe: 'Drain, confirm, rebuild and restore the next batch of pods, then soak it (resumes where it stopped)',
  builder: (y) =>
    soakFlags(drainOptions(y))
      .positional('statefulset', { type: 'string', demandOption: true, describe: 'Name of the StatefulSet' })
      .example('kubectl zerolossupgrade next nginx', 'Walk the next batch, asking before each step')
      .example('kubectl zerolossupgrade next nginx --yes --min-drain 2m --soak 5m', 'Walk every batch unattended, each drained at least 2 minutes and soaked 5 minutes')
      .example(
        `kubectl zerolossupgrade next gw --yes --soak 10m --on-failure rollback --prometheus http://prometheus:9090 --analysis '(sum(rate(http_requests_total{pod=~"$UPGRADED",code=~"5.."}[1m])) or vector(0)) / sum(rate(http_requests_total{pod=~"$UPGRADED"}[1m]))' --max 0.01`,
        'Soak each batch 10 minutes against an error ratio of at most 1%; walk back by itself if it fails',
      ) as unknown as Argv<NextArgs>,
  handler: async (args: ArgumentsCamelCase<NextArgs>) => {
    const options = { ...validateNextOptions(args), soak: validateSoakOptions(args as unknown as SoakArgs, deps.argv ?? []) };
    const { ui, cluster } = session(args, deps);
    await runNext(options, await cluster(), ui, () => new Date(), deps.openCloud);
  },
});
