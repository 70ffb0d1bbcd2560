// Which cluster, user and namespace a command talks to, by kubectl's rules:
// --kubeconfig names one file; otherwise KUBECONFIG lists files merged first-wins
// (missing files skipped); otherwise ~/.kube/config. --context picks a context, else current-context.
// The namespace is -n, else the context's, else "default".
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, resolve, sep } from 'node:path';
import { parse } from 'yaml';
import { ConfigError } from '../core/errors.js';

export interface ConnectionFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  requestTimeoutMs: number;
}

type Named = { name?: string; [k: string]: unknown };
export interface KubeconfigDoc {
  clusters?: Named[];
  users?: Named[];
  contexts?: Named[];
  'current-context'?: string;
  [k: string]: unknown;
}

export interface LoadedKubeconfig {
  /** The merged document, every relative file path made absolute, ready for client-node. */
  doc: KubeconfigDoc;
  context: string;
  namespace: string;
  server: string;
  files: string[];
}

export function kubeconfigPaths(flags: Pick<ConnectionFlags, 'kubeconfig'>, env: NodeJS.ProcessEnv, home = homedir()): { paths: string[]; explicit: boolean } {
  if (flags.kubeconfig) return { paths: [flags.kubeconfig], explicit: true };
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '');
  if (list.length > 0) return { paths: [...new Set(list)], explicit: false };
  return { paths: [resolve(home, '.kube', 'config')], explicit: false };
}

/** Resolves the paths a kubeconfig holds against the folder of the file it came from, as client-go does. */
function absolutise(doc: KubeconfigDoc, dir: string): KubeconfigDoc {
  const abs = (p: unknown) => (typeof p === 'string' && p !== '' && !isAbsolute(p) ? resolve(dir, p) : p);
  const fix = (obj: Record<string, unknown> | undefined, keys: string[]) => {
    if (!obj) return obj;
    const out = { ...obj };
    for (const k of keys) if (k in out) out[k] = abs(out[k]);
    return out;
  };
  return {
    ...doc,
    clusters: doc.clusters?.map((c) => ({ ...c, cluster: fix(c.cluster as Record<string, unknown>, ['certificate-authority']) })),
    users: doc.users?.map((u) => {
      const user = fix(u.user as Record<string, unknown>, ['client-certificate', 'client-key', 'tokenFile']);
      const exec = user?.exec as Record<string, unknown> | undefined;
      if (exec && typeof exec.command === 'string' && exec.command.includes(sep)) {
        user!.exec = { ...exec, command: abs(exec.command) };
      }
      return { ...u, user };
    }),
  };
}

/** Merges kubeconfig documents the way kubectl does: the first file to define a name or current-context wins. */
export function mergeKubeconfigs(files: { path: string; doc: KubeconfigDoc }[]): KubeconfigDoc {
  const merged: Required<Pick<KubeconfigDoc, 'clusters' | 'users' | 'contexts'>> & KubeconfigDoc = { clusters: [], users: [], contexts: [] };
  for (const { path, doc } of files) {
    const abs = absolutise(doc, dirname(path));
    for (const key of ['clusters', 'users', 'contexts'] as const) {
      for (const entry of abs[key] ?? []) {
        if (entry?.name && !merged[key].some((e) => e.name === entry.name)) merged[key].push(entry);
      }
    }
    if (!merged['current-context'] && abs['current-context']) merged['current-context'] = abs['current-context'];
  }
  return merged;
}

/** Picks the context, cluster and namespace the flags ask for, with kubectl's messages when they do not exist. */
export function resolveTarget(doc: KubeconfigDoc, flags: Pick<ConnectionFlags, 'context' | 'namespace'>): Omit<LoadedKubeconfig, 'doc' | 'files'> {
  const context = flags.context || doc['current-context'];
  if (!context) throw new ConfigError('current-context is not set in the kubeconfig; pass --context or run: kubectl config use-context NAME');
  const ctx = doc.contexts?.find((c) => c.name === context)?.context as { cluster?: string; user?: string; namespace?: string } | undefined;
  if (!ctx) throw new ConfigError(`context "${context}" does not exist in the kubeconfig`);
  const cluster = doc.clusters?.find((c) => c.name === ctx.cluster)?.cluster as { server?: string } | undefined;
  if (!cluster?.server) throw new ConfigError(`cluster "${ctx.cluster ?? ''}" of context "${context}" is missing from the kubeconfig or has no server`);
  if (ctx.user && !doc.users?.some((u) => u.name === ctx.user)) {
    throw new ConfigError(`user "${ctx.user}" of context "${context}" is missing from the kubeconfig`);
  }
  return { context, namespace: flags.namespace || ctx.namespace || 'default', server: cluster.server };
}

export function loadKubeconfig(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): LoadedKubeconfig {
  const { paths, explicit } = kubeconfigPaths(flags, env);
  const files: { path: string; doc: KubeconfigDoc }[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      // kubectl skips missing files in a KUBECONFIG list but not one named by --kubeconfig.
      if (!explicit && (e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new ConfigError(`cannot read kubeconfig ${path}: ${(e as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (e) {
      throw new ConfigError(`kubeconfig ${path} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`kubeconfig ${path} is not a kubeconfig document`);
      files.push({ path: resolve(path), doc: doc as KubeconfigDoc });
    }
  }
  if (files.length === 0) {
    throw new ConfigError(`no kubeconfig found (looked at ${paths.join(', ')}); set KUBECONFIG or pass --kubeconfig`);
  }
  const doc = mergeKubeconfigs(files);
  return { doc, files: files.map((f) => f.path), ...resolveTarget(doc, flags) };
}
