// What every command gets: the global flags kubectl users expect, and the dependencies
// (terminal, cluster) that tests replace.
import type { Argv } from 'yargs';
import type { CloudOpener } from '../cloud/open.js';
import { parseDuration } from '../core/duration.js';
import type { ConnectionFlags } from '../k8s/kubeconfig.js';
import type { Cluster } from '../k8s/types.js';
import { makeUi, type Io, type Ui } from '../ui/terminal.js';

export interface GlobalArgs {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  'request-timeout': string;
  color: boolean;
  debug: boolean;
}

export interface Deps {
  io: Io;
  /** Opens the cluster named by the kubeconfig flags; the real one loads client-node on first use. */
  openCluster(flags: ConnectionFlags): Promise<Cluster>;
  /** Opens Tencent Cloud for the drain evidence, or says why not; tests pass their own. */
  openCloud: CloudOpener;
  /** The arguments as given, where their order means something (each --analysis and its bound). */
  argv?: readonly string[];
}

export function globalOptions<T>(y: Argv<T>): Argv<T & GlobalArgs> {
  return y
    .option('kubeconfig', { type: 'string', describe: 'Path to the kubeconfig file to use', global: true })
    .option('context', { type: 'string', describe: 'The name of the kubeconfig context to use', global: true })
    .option('namespace', { alias: 'n', type: 'string', describe: 'The namespace of the StatefulSet (default: the context\'s)', global: true })
    .option('request-timeout', { type: 'string', default: '0', describe: 'How long to wait for a single API request (e.g. 30s, 1m); 0 waits forever', global: true })
    .option('color', { type: 'boolean', default: true, describe: 'Colour on a terminal; --no-color (or NO_COLOR) turns it off', global: true })
    .option('debug', { type: 'boolean', default: false, describe: 'Print stack traces of errors', global: true, hidden: true }) as Argv<T & GlobalArgs>;
}

export function connectionFlags(args: GlobalArgs): ConnectionFlags {
  return {
    kubeconfig: args.kubeconfig,
    context: args.context,
    namespace: args.namespace,
    requestTimeoutMs: parseDuration('request-timeout', args['request-timeout']),
  };
}

/** The terminal and a lazily opened cluster for one command run. */
export function session(args: GlobalArgs & { yes?: boolean }, deps: Deps): { ui: Ui; cluster: () => Promise<Cluster> } {
  const flags = connectionFlags(args); // validates --request-timeout before anything else happens
  return { ui: makeUi({ color: args.color, yes: args.yes }, deps.io), cluster: () => deps.openCluster(flags) };
}
