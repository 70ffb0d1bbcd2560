// Before loading the SDK: is there any sign of credentials, and which region? Cheap checks only,
// so a run without credentials starts as fast as before and never reaches for the network.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CredentialMode } from './types.js';

export const EVIDENCE_HOWTO =
  'to read CLB weights and connections here, set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (or write ~/.tencentcloud/credentials) and, unless the nodes say it, pass --region';

/** Whether a provider of this mode may find credentials; `auto` looks at the environment and files only. */
export function mayHaveCredentials(mode: CredentialMode, env: Record<string, string | undefined>, exists: (path: string) => boolean = existsSync): boolean {
  if (mode === 'off') return false;
  if (mode !== 'auto') return true;
  if (env.TENCENTCLOUD_SECRET_ID && env.TENCENTCLOUD_SECRET_KEY) return true;
  if (exists(join(homedir(), '.tencentcloud', 'credentials')) || exists('/etc/tencentcloud/credentials')) return true;
  return Boolean(env.TKE_ROLE_ARN && env.TKE_WEB_IDENTITY_TOKEN_FILE);
}

// TKE labels nodes with short region codes (failure-domain.beta.kubernetes.io/region=gz); the API
// wants the long name. Codes not listed here need --region.
const SHORT_REGIONS: Record<string, string> = {
  gz: 'ap-guangzhou',
  sh: 'ap-shanghai',
  bj: 'ap-beijing',
  cd: 'ap-chengdu',
  cq: 'ap-chongqing',
  nj: 'ap-nanjing',
  hk: 'ap-hongkong',
  sg: 'ap-singapore',
  th: 'ap-bangkok',
  jkt: 'ap-jakarta',
  kr: 'ap-seoul',
  jp: 'ap-tokyo',
  de: 'eu-frankfurt',
  usw: 'na-siliconvalley',
  use: 'na-ashburn',
  sao: 'sa-saopaulo',
};

export const NODE_REGION_LABELS = ['topology.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/region'];

/** The API region a node's labels name, if they name one. */
export function regionFromNodeLabels(labels: Record<string, string>): string | undefined {
  for (const key of NODE_REGION_LABELS) {
    const v = labels[key];
    if (!v) continue;
    if (/^[a-z]{2,3}-[a-z]+(-[a-z]+)?$/.test(v)) return v;
    if (SHORT_REGIONS[v]) return SHORT_REGIONS[v];
  }
  return undefined;
}
