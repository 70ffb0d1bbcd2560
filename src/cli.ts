import { main } from './app.js';

const argv = process.argv.slice(2);
// Dependencies (node-fetch's url.parse) trip Node's deprecation warnings; they say nothing to an
// operator and would break scripts that read stderr. --debug shows them.
if (!argv.includes('--debug')) process.noDeprecation = true;

// Exit as soon as the answer is out: a watch, a socket or a timer left behind must never keep a
// finished (or failed) command running.
// Ctrl-C outside a prompt: say what state the walk is in, instead of vanishing without a word.
process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: nothing more is done. Every step so far is recorded on the StatefulSet (see: kubectl zerolossupgrade status NAME); run the same command again and it continues where it stopped\n');
  process.exit(130);
});

main(argv).then((code) => {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
