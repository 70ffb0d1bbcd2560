// The one place that talks to Prometheus: instant queries over its HTTP API (GET /api/v1/query),
// as self-hosted servers and Tencent Managed Service for Prometheus both serve it. Whatever goes
// wrong comes back as an answer of kind "error" with a message that never carries the credentials.
import { readFileSync } from 'node:fs';
import type { QueryAnswer } from '../core/soak.js';
import { UsageError } from '../core/errors.js';

export interface PrometheusOptions {
  url: string;
  /** A file holding the bearer token; with `user`, the password of basic auth (TMP: APPID and token). */
  tokenFile?: string;
  user?: string;
  timeoutMs: number;
}

export interface Prometheus {
  /** The server as shown to people: the URL without query or credentials. */
  readonly shown: string;
  query(promql: string, at: Date): Promise<QueryAnswer>;
}

/** Checks the options and reads the token once; refuses what would leak or cannot work. */
export function openPrometheus(o: PrometheusOptions, fetcher: typeof fetch = fetch): Prometheus {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new UsageError(`--prometheus "${o.url}" is not a URL; give one such as http://prometheus.monitoring:9090`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--prometheus takes an http or https URL, not ${url.protocol}`);
  if (url.username || url.password) {
    throw new UsageError('--prometheus must not carry credentials in the URL (they would show in process lists and records): use --prometheus-user and --prometheus-token-file');
  }
  if (o.user !== undefined && !o.tokenFile) throw new UsageError('--prometheus-user needs --prometheus-token-file: its password (for TMP, the instance token)');
  let token: string | undefined;
  if (o.tokenFile) {
    try {
      token = readFileSync(o.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new UsageError(`--prometheus-token-file: cannot read ${o.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!token) throw new UsageError(`--prometheus-token-file: ${o.tokenFile} is empty`);
    // A header value cannot hold them, and the error saying so would quote the token.
    if (/[\s\x00-\x1f\x7f]/.test(token)) throw new UsageError(`--prometheus-token-file: ${o.tokenFile} must hold the token alone, on one line, without spaces`);
  }
  if (o.user !== undefined && (o.user === '' || /[:\s\x00-\x1f\x7f]/.test(o.user))) throw new UsageError('--prometheus-user must be one word without ":" (for TMP, your APPID)');
  const authorization = token === undefined ? undefined : o.user !== undefined ? `Basic ${Buffer.from(`${o.user}:${token}`).toString('base64')}` : `Bearer ${token}`;
  const base = url.href.replace(/\/+$/, '');
  const shown = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  return {
    shown,
    async query(promql, at) {
      const params = new URLSearchParams({ query: promql, time: (at.getTime() / 1000).toFixed(3) });
      let res: Response;
      try {
        res = await fetcher(`${base}/api/v1/query?${params}`, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(o.timeoutMs) });
      } catch (e) {
        // Only the error's code or name: a message may quote the request, and so the credentials.
        const timedOut = (e as Error).name === 'TimeoutError';
        const why = timedOut ? `no answer within ${o.timeoutMs} ms` : ((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name);
        return { kind: 'error', message: `${shown} did not answer (${why})` };
      }
      const text = await res.text().catch(() => '');
      let body: { status?: string; error?: string; data?: { resultType?: string; result?: unknown } } = {};
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: a proxy or a login page; the status says enough.
      }
      if (res.status === 401 || res.status === 403) return { kind: 'error', message: `${shown} refused the credentials (HTTP ${res.status})` };
      if (!res.ok || body.status !== 'success') return { kind: 'error', message: redact(`HTTP ${res.status}${body.error ? `: ${String(body.error).slice(0, 300)}` : ''}`, token) };
      return answerOf(body.data);
    },
  };
}

/** What a server says back, with the token taken out should it echo it. */
const redact = (text: string, token: string | undefined) => (token ? text.split(token).join('***') : text);

/** The `data` of a successful query as numbers (Prometheus sends values as strings: "NaN", "+Inf", "-Inf" included). */
export function answerOf(data: { resultType?: string; result?: unknown } | undefined): QueryAnswer {
  const number = (s: string) => (s === '+Inf' ? Infinity : s === '-Inf' ? -Infinity : Number(s));
  const value = (v: unknown) => (Array.isArray(v) && typeof v[1] === 'string' ? number(v[1]) : Number.NaN);
  if (data?.resultType === 'vector' && Array.isArray(data.result)) {
    return { kind: 'vector', samples: (data.result as { metric?: Record<string, string>; value?: unknown }[]).map((r) => ({ labels: r.metric ?? {}, value: value(r.value) })) };
  }
  if (data?.resultType === 'scalar') return { kind: 'scalar', value: value(data.result) };
  return { kind: 'error', message: `the query returned a ${data?.resultType ?? 'malformed'} result; an analysis needs an instant vector or a scalar` };
}
