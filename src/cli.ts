import { main } from './app.js';

const argv = process.argv.slice(2);
// Dependencies (node-fetch's url.parse) trip Node's deprecation warnings; they say nothing to an
// operator and would break scripts that read stderr. --debug shows them.
if (!argv.includes('--debug')) process.noDeprecation = true;

main(argv).then((code) => {
  process.exitCode = code;
});
