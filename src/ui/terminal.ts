// The one place that knows about process streams, TTYs, NO_COLOR, prompts and --yes.
import type { Readable, Writable } from 'node:stream';
import { formatDuration } from '../core/duration.js';
import { CancelledError, UsageError } from '../core/errors.js';

export interface Io {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

export const processIo = (): Io => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  red(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string) => s;
export const colourStyle: Style = { bold: sgr(1, 22), dim: sgr(2, 22), green: sgr(32, 39), yellow: sgr(33, 39), red: sgr(31, 39) };
export const plainStyle: Style = { bold: plain, dim: plain, green: plain, yellow: plain, red: plain };

export interface UiFlags {
  color?: boolean;
  /** Answer every question with yes (scripted use); gates such as --min-drain still apply. */
  yes?: boolean;
}

/** Colour only on a terminal, never with a non-empty NO_COLOR or --no-color, never with TERM=dumb. */
export function useColour(stream: { isTTY?: boolean }, env: Io['env'], flags: UiFlags): boolean {
  return flags.color !== false && Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
}

export interface Choice<T extends string> {
  value: T;
  name: string;
}

export interface Progress {
  update(what: string): void;
  done(result: string): void;
}

export interface Ui {
  /** Style for what goes to stdout (tables); decided by whether stdout is a terminal. */
  readonly style: Style;
  /** Style for stderr (notices, progress). */
  readonly errStyle: Style;
  readonly yes: boolean;
  /** Whether a question can be asked: a terminal on stdin and stderr, or --yes to answer it. */
  readonly canAsk: boolean;
  /** Results: stdout, so they can be piped. */
  result(text: string): void;
  /** Clears a terminal before a redraw; nothing when stdout is a file or pipe. */
  clearScreen(): void;
  /** Progress, notices and warnings: stderr. */
  info(text: string): void;
  warn(text: string): void;
  /** A yes/no question whose default is No. */
  confirm(message: string): Promise<boolean>;
  choose<T extends string>(message: string, choices: Choice<T>[], whenYes: T): Promise<T>;
  /** A line that says what is awaited and for how long: rewritten in place on a terminal. */
  progress(what: string): Progress;
  /** Several lines rewritten in place on a terminal; elsewhere `oneLine` is printed for each showing. */
  board(): { show(lines: string[], oneLine: string): void; done(): void };
  /**
   * Resolves when the operator presses a key on the terminal (never with --yes or without a
   * terminal); Ctrl-C rejects, as cancelled. `stop` gives the terminal back.
   */
  keypress(): { pressed: Promise<void>; stop(): void };
}

export const NO_TTY_MESSAGE = 'this step asks for confirmation, but there is no terminal to ask on; run it in a terminal, or pass --yes for scripted use';

export function makeUi(flags: UiFlags, io: Io = processIo()): Ui {
  const style = useColour(io.stdout, io.env, flags) ? colourStyle : plainStyle;
  const errStyle = useColour(io.stderr, io.env, flags) ? colourStyle : plainStyle;
  const interactive = Boolean(io.stdin.isTTY && io.stderr.isTTY);
  const line = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  const prompts = async () => {
    if (!interactive) throw new UsageError(NO_TTY_MESSAGE);
    return import('@inquirer/prompts');
  };
  return {
    style,
    errStyle,
    yes: Boolean(flags.yes),
    canAsk: Boolean(flags.yes) || interactive,
    result: (text) => io.stdout.write(line(text)),
    clearScreen: () => {
      if (io.stdout.isTTY) io.stdout.write('\x1b[H\x1b[2J');
    },
    info: (text) => io.stderr.write(line(text)),
    warn: (text) => io.stderr.write(line(`${errStyle.yellow('warning:')} ${text}`)),
    confirm: async (message) => {
      if (flags.yes) {
        io.stderr.write(line(`${message} yes (--yes)`));
        return true;
      }
      const { confirm } = await prompts();
      return confirm({ message, default: false }, { input: io.stdin, output: io.stderr });
    },
    choose: async (message, choices, whenYes) => {
      if (flags.yes) return whenYes;
      const { select } = await prompts();
      return select({ message, choices }, { input: io.stdin, output: io.stderr });
    },
    progress: (what) => {
      const started = Date.now();
      let current = what;
      let last = '';
      let finished = false;
      const render = () => `${current} (${formatDuration(Date.now() - started)})`;
      // unref: a progress line never keeps the process alive after a failure.
      const timer = io.stderr.isTTY ? setInterval(() => io.stderr.write(`\r\x1b[K${errStyle.dim(render())}`), 1000).unref() : undefined;
      const say = () => {
        if (io.stderr.isTTY) io.stderr.write(`\r\x1b[K${errStyle.dim(render())}`);
        else if (current !== last) io.stderr.write(line(`... ${current}`));
        last = current;
      };
      say();
      return {
        update: (text) => {
          current = text;
          say();
        },
        done: (result) => {
          if (timer) clearInterval(timer);
          if (finished) return;
          finished = true;
          io.stderr.write(io.stderr.isTTY ? `\r\x1b[K${line(result)}` : line(result));
        },
      };
    },
    board: () => {
      let shown = 0;
      return {
        show: (lines, oneLine) => {
          if (!io.stderr.isTTY) return void io.stderr.write(line(oneLine));
          io.stderr.write(`${shown > 0 ? `\x1b[${shown}A` : ''}\r\x1b[J${lines.map(line).join('')}`);
          shown = lines.length;
        },
        done: () => {
          shown = 0;
        },
      };
    },
    keypress: () => {
      const stdin = io.stdin as Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
      if (flags.yes || !interactive || !stdin.setRawMode) return { pressed: new Promise<void>(() => undefined), stop: () => undefined };
      let onData: (d: Buffer) => void = () => undefined;
      const pressed = new Promise<void>((resolve, reject) => {
        onData = (d) => (d.includes(3) ? reject(new CancelledError('interrupted (Ctrl-C)')) : resolve());
      });
      // Ctrl-C may come before anyone awaits it: handled here too, so it is never an unhandled rejection.
      pressed.catch(() => undefined);
      stdin.setRawMode(true);
      stdin.on('data', onData);
      stdin.resume();
      return {
        pressed,
        stop: () => {
          stdin.off('data', onData);
          stdin.setRawMode?.(false);
          stdin.pause();
        },
      };
    },
  };
}
