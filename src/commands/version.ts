import type { CommandModule } from 'yargs';
import { makeUi } from '../ui/terminal.js';
import { VERSION } from '../version.js';
import type { Deps, GlobalArgs } from './common.js';

export function versionText(): string {
  return `kubectl-zerolossupgrade ${VERSION} (node ${process.version}, ${process.platform}/${process.arch})`;
}

export const versionCommand = (deps: Deps): CommandModule<GlobalArgs, GlobalArgs> => ({
  command: 'version',
  describe: 'Print the plugin version',
  handler: (args) => {
    makeUi({ color: args.color }, deps.io).result(versionText());
  },
});
