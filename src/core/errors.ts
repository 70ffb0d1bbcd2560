// Every failure the user sees is one of these; `main` turns them into one line and an exit code.
// Deep code only throws.

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad arguments or flags, or a prompt that cannot be shown. Exit 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A safety gate refused to go on (wrong phase, pod not ready, weight not 0). Exit 3. */
export class GateError extends CliError {
  constructor(message: string) {
    super(message, 3);
  }
}

/** The operator said no or pressed Ctrl-C. Exit 130. */
export class CancelledError extends CliError {
  constructor(message = 'cancelled') {
    super(message, 130);
  }
}

/** A result that is an exit code and nothing else to say (status reporting an upgrade in progress). */
export class SilentExit extends CliError {
  constructor(exitCode: number) {
    super('', exitCode);
  }
}

/** An object the command needs does not exist. */
export class NotFoundError extends CliError {
  constructor(
    readonly kind: string,
    readonly objectName: string,
    readonly namespace?: string,
  ) {
    super(`${kind} "${objectName}" not found${namespace ? ` in namespace "${namespace}"` : ''}`, 1);
  }
}

/** The kubeconfig or a flag that points into it is wrong. */
export class ConfigError extends CliError {
  constructor(message: string) {
    super(message, 1);
  }
}

export function exitCodeOf(error: unknown): number {
  // By shape, not class: the Kubernetes client is a separate bundle with its own copy of these classes.
  if (error instanceof Error && typeof (error as { exitCode?: unknown }).exitCode === 'number') return (error as CliError).exitCode;
  if (error instanceof Error && error.name === 'ExitPromptError') return 130;
  return 1;
}
