// The one place that knows about process streams, TTYs, NO_COLOR and --yes.
import type { Readable, Writable } from 'node:stream';

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
}

/** Colour only on a terminal, never with a non-empty NO_COLOR or --no-color, never with TERM=dumb. */
export function useColour(stream: { isTTY?: boolean }, env: Io['env'], flags: UiFlags): boolean {
  return flags.color !== false && Boolean(stream.isTTY) && !env.NO_COLOR && env.TERM !== 'dumb';
}

export interface Ui {
  /** Style for what goes to stdout (tables); decided by whether stdout is a terminal. */
  readonly style: Style;
  /** Results: stdout, so they can be piped. */
  result(text: string): void;
  /** Progress, notices and warnings: stderr. */
  info(text: string): void;
  warn(text: string): void;
}

export function makeUi(flags: UiFlags, io: Io = processIo()): Ui {
  const style = useColour(io.stdout, io.env, flags) ? colourStyle : plainStyle;
  const errStyle = useColour(io.stderr, io.env, flags) ? colourStyle : plainStyle;
  const line = (s: string) => (s.endsWith('\n') ? s : `${s}\n`);
  return {
    style,
    result: (text) => io.stdout.write(line(text)),
    info: (text) => io.stderr.write(line(text)),
    warn: (text) => io.stderr.write(line(`${errStyle.yellow('warning:')} ${text}`)),
  };
}
