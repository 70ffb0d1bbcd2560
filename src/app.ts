// Wires the commands into one yargs parser and is the single place where errors become exit codes.
import { openCloud } from './cloud/open.js';
import yargs, { type Argv } from 'yargs';
import { globalOptions, type Deps } from './commands/common.js';
import { abortCommand } from './commands/abort.js';
import { finishCommand } from './commands/finish.js';
import { historyCommand } from './commands/history.js';
import { nextCommand } from './commands/next.js';
import { rollbackCommand } from './commands/rollback.js';
import { startCommand } from './commands/start.js';
import { statusCommand } from './commands/status.js';
import { versionCommand } from './commands/version.js';
import { SilentExit, UsageError, exitCodeOf } from './core/errors.js';
import { processIo } from './ui/terminal.js';
import { VERSION } from './version.js';

export const SCRIPT_NAME = 'kubectl zerolossupgrade';

export function buildCli(deps: Deps): Argv {
  const width = deps.io.stdout.isTTY ? Math.min(110, (deps.io.stdout as { columns?: number }).columns ?? 100) : 100;
  return globalOptions(yargs())
    .scriptName(SCRIPT_NAME)
    .usage(`${SCRIPT_NAME} - upgrade an OnDelete StatefulSet behind a TKE CLB without losing a request\n\nUsage: $0 <command> [flags]`)
    .command(startCommand(deps))
    .command(nextCommand(deps))
    .command(finishCommand(deps))
    .command(abortCommand(deps))
    .command(rollbackCommand(deps))
    .command(statusCommand(deps))
    .command(historyCommand(deps))
    .command(versionCommand(deps))
    .demandCommand(1, `name a command; see '${SCRIPT_NAME} --help'`)
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version(VERSION)
    .wrap(width)
    .exitProcess(false)
    .showHelpOnFail(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
}

/** Runs the CLI; returns the exit code. Help and version text go to stdout, errors one line to stderr. */
export async function main(argv: string[], deps: Deps = realDeps()): Promise<number> {
  let output = '';
  try {
    await buildCli({ ...deps, argv }).parseAsync(argv, {}, (_err, _args, out) => {
      output = out;
    });
    if (output) deps.io.stdout.write(`${output}\n`);
    return 0;
  } catch (e) {
    if (e instanceof SilentExit) return e.exitCode;
    const message = e instanceof Error ? e.message : String(e);
    const hint = e instanceof UsageError ? `\nSee '${SCRIPT_NAME} --help'.` : '';
    deps.io.stderr.write(`error: ${message}${hint}\n`);
    if (argv.includes('--debug') && e instanceof Error && e.stack) deps.io.stderr.write(`${e.stack}\n`);
    return exitCodeOf(e);
  }
}

export function realDeps(): Deps {
  return {
    io: processIo(),
    // Loaded only when a command needs the cluster, so --help and --version never pay for client-node.
    openCluster: async (flags) => (await import('./k8s/cluster.js')).openCluster(flags),
    openCloud,
  };
}
