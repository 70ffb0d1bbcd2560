// Builds authenticated API clients from the resolved kubeconfig, and turns client-node failures
// into errors that say what was refused and why.
import { ApiException, KubeConfig, ServerConfiguration, createConfiguration, type ApiType } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { CliError, NotFoundError } from '../core/errors.js';
import { loadKubeconfig, type ConnectionFlags } from './kubeconfig.js';

export interface Connection {
  kc: KubeConfig;
  namespace: string;
  context: string;
  server: string;
  requestTimeoutMs: number;
  api<T extends ApiType>(type: new (config: ReturnType<typeof createConfiguration>) => T): T;
}

export const USER_AGENT = 'kubectl-zerolossupgrade';

export function connect(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const loaded = loadKubeconfig(flags, env);
  const kc = new KubeConfig();
  kc.loadFromString(stringify(loaded.doc));
  kc.setCurrentContext(loaded.context);
  const api = <T extends ApiType>(type: new (config: ReturnType<typeof createConfiguration>) => T): T =>
    new type(
      createConfiguration({
        baseServer: new ServerConfiguration(loaded.server, {}),
        authMethods: { default: kc },
        promiseMiddleware: [
          {
            pre: async (ctx) => {
              ctx.setHeaderParam('User-Agent', USER_AGENT);
              if (flags.requestTimeoutMs > 0) ctx.setSignal(AbortSignal.timeout(flags.requestTimeoutMs));
              return ctx;
            },
            post: async (ctx) => ctx,
          },
        ],
      }),
    );
  return { kc, namespace: loaded.namespace, context: loaded.context, server: loaded.server, requestTimeoutMs: flags.requestTimeoutMs, api };
}

export interface ApiAction {
  verb: string;
  resource: string;
  name?: string;
  namespace?: string;
  server?: string;
}

function statusMessage(body: unknown): string | undefined {
  try {
    const status = typeof body === 'string' ? JSON.parse(body) : body;
    return typeof status?.message === 'string' ? status.message : undefined;
  } catch {
    return typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 300) : undefined;
  }
}

export class ApiError extends CliError {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message, 1);
  }
}

/** The error a user should see for a failed API call: what was attempted, and what to do about it. */
export function translateApiError(error: unknown, action: ApiAction): Error {
  const what = `${action.verb} ${action.resource}${action.name ? ` "${action.name}"` : ''}${action.namespace ? ` in namespace "${action.namespace}"` : ''}`;
  if (error instanceof ApiException) {
    const code = error.code;
    const detail = statusMessage(error.body);
    if (code === 404 && action.name) return new NotFoundError(action.resource, action.name, action.namespace);
    if (code === 401) return new ApiError(`unauthorized: the API server rejected the credentials of the current context while trying to ${what}; log in again or check the kubeconfig`, code);
    if (code === 403) return new ApiError(`forbidden: you may not ${what}; ask for the "${action.verb}" permission on "${action.resource}" (see docs/rbac.yaml)${detail ? `\n  server said: ${detail}` : ''}`, code);
    if (code === 409) return new ApiError(`conflict while trying to ${what}: ${detail ?? 'the object changed meanwhile'}`, code);
    return new ApiError(`cannot ${what}: HTTP ${code}${detail ? `: ${detail}` : ''}`, code);
  }
  const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException; type?: string };
  if (err?.name === 'AbortError' || err?.name === 'TimeoutError' || err?.type === 'aborted') {
    return new ApiError(`timed out trying to ${what} (--request-timeout)`);
  }
  const code = err?.code ?? err?.cause?.code;
  if (code && /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|EAI_AGAIN|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO)/.test(code)) {
    return new ApiError(
      `cannot reach the API server${action.server ? ` at ${action.server}` : ''} to ${what}: ${code}; check the network and the kubeconfig's server address, ` +
        'then run the same command again: it resumes where it stopped',
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

const NETWORK_CODES = /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|EAI_AGAIN|EPIPE|ENETUNREACH)$/;

/** A failure worth trying again: the network, or the API server saying it is busy or unavailable. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ApiException) return [429, 500, 502, 503, 504].includes(error.code);
  const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  return NETWORK_CODES.test(err?.code ?? err?.cause?.code ?? '');
}

export const RETRY_DELAYS_MS = [500, 1000, 2000, 4000];

/**
 * Runs an API call, retrying transient failures with growing pauses. Every call the plugin makes is
 * safe to repeat: reads, conditional patches (resourceVersion) and deletes with a uid precondition.
 */
export async function withRetry<T>(fn: () => Promise<T>, delays = RETRY_DELAYS_MS, sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (attempt >= delays.length || !isTransient(e)) throw e;
      await sleep(delays[attempt]!);
    }
  }
}
