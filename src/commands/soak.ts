// The soak gate's flags on `next`: --soak, the signals' interval and scope, --on-failure, and the
// metrics analyses (--prometheus, then each --analysis followed by its --max or --min).
import type { Argv } from 'yargs';
import { parseDuration } from '../core/duration.js';
import { UsageError } from '../core/errors.js';
import type { Analysis } from '../core/soak.js';
import { openPrometheus, type Prometheus } from '../prometheus/client.js';
import type { SoakOptions } from '../walk/soak.js';

export interface SoakArgs {
  soak?: string;
  'analysis-interval': string;
  'soak-watch': 'batch' | 'upgraded';
  'on-failure': 'stop' | 'rollback';
  prometheus?: string;
  'prometheus-token-file'?: string;
  'prometheus-user'?: string;
  analysis?: string[];
  max?: number[];
  min?: number[];
}

export function soakFlags<T>(y: Argv<T>) {
  return y
    .option('soak', { type: 'string', describe: 'After each batch is restored, its pods serve real traffic this long, watched, before the next is drained (default: what start --soak recorded)' })
    .option('analysis-interval', { type: 'string', default: '10s', describe: 'How often the soak reads its signals and runs each --analysis' })
    .option('soak-watch', { choices: ['batch', 'upgraded'] as const, default: 'batch' as const, describe: 'Whose restarts, readiness and Events the soak watches: the batch, or every pod on the new revision' })
    .option('on-failure', { choices: ['stop', 'rollback'] as const, default: 'stop' as const, describe: 'With --yes, when a soak fails: stop (exit 3), or walk back at once with the zero-loss rollback' })
    .option('prometheus', { type: 'string', describe: 'Prometheus HTTP API base URL for --analysis (self-hosted or Tencent Managed Service for Prometheus)' })
    .option('prometheus-token-file', { type: 'string', describe: 'File holding the bearer token; with --prometheus-user, the basic-auth password (TMP: the instance token)' })
    .option('prometheus-user', { type: 'string', describe: 'Basic-auth user (TMP: your APPID); the password comes from --prometheus-token-file' })
    .option('analysis', { type: 'string', array: true, describe: 'PROMQL instant query run every --analysis-interval; $PODS, $UPGRADED, $NAMESPACE are put in. Follow each with --max or --min' })
    .option('max', { type: 'number', array: true, describe: 'Every value of the --analysis before it must be at most this' })
    .option('min', { type: 'number', array: true, describe: 'Every value of the --analysis before it must be at least this' });
}

/**
 * Each --analysis with the bound that follows it on the command line (yargs keeps each flag's
 * values, not their order, so the order is read from the arguments themselves).
 */
export function pairAnalyses(argv: readonly string[]): Analysis[] {
  const out: { query: string; bound?: Analysis['bound'] }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    const m = /^--(analysis|max|min)(?:=(.*))?$/s.exec(arg);
    if (!m) continue;
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new UsageError(`--${m[1]} needs a value`);
    if (m[1] === 'analysis') {
      out.push({ query: value });
      continue;
    }
    const last = out[out.length - 1];
    if (!last) throw new UsageError(`--${m[1]} ${value} comes before any --analysis: give each --analysis, then its bound`);
    if (last.bound) throw new UsageError(`--analysis "${last.query}" has two bounds; give one --max or --min after each --analysis`);
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${m[1]} "${value}" is not a number`);
    last.bound = { kind: m[1] as 'max' | 'min', value: n };
  }
  return out.map((a, i) => {
    if (!a.bound) throw new UsageError(`--analysis ${i + 1} ("${a.query}") has no bound: follow it with --max or --min, e.g. --max 0.01`);
    if (a.query.trim() === '') throw new UsageError(`--analysis ${i + 1} is empty`);
    return { query: a.query, bound: a.bound };
  });
}

export function validateSoakOptions(a: SoakArgs, argv: readonly string[]): SoakOptions {
  const analyses = pairAnalyses(argv);
  // What yargs parsed must be what was paired (an alias or a short form this reader missed would differ).
  if (analyses.length !== (a.analysis?.length ?? 0) || analyses.filter((x) => x.bound.kind === 'max').length !== (a.max?.length ?? 0) || analyses.filter((x) => x.bound.kind === 'min').length !== (a.min?.length ?? 0)) {
    throw new UsageError('give each --analysis as --analysis QUERY followed by its --max N or --min N');
  }
  if (analyses.length > 0 && !a.prometheus) throw new UsageError('--analysis needs --prometheus URL: the server that answers the queries');
  if (a.prometheus && analyses.length === 0) throw new UsageError('--prometheus is only used by --analysis; give at least one --analysis QUERY --max N');
  if ((a['prometheus-token-file'] || a['prometheus-user'] !== undefined) && !a.prometheus) throw new UsageError('--prometheus-token-file and --prometheus-user go with --prometheus');
  const intervalMs = parseDuration('analysis-interval', a['analysis-interval']);
  if (intervalMs < 1000) throw new UsageError('--analysis-interval must be at least 1s');
  const durationMs = a.soak === undefined ? undefined : parseDuration('soak', a.soak);
  const prometheus: Prometheus | undefined = a.prometheus ? openPrometheus({ url: a.prometheus, tokenFile: a['prometheus-token-file'], user: a['prometheus-user'], timeoutMs: Math.min(intervalMs, 10_000) }) : undefined;
  return { ...(durationMs === undefined ? {} : { durationMs }), intervalMs, analyses, ...(prometheus ? { prometheus } : {}), watchUpgraded: a['soak-watch'] === 'upgraded', onFailure: a['on-failure'] };
}
