// Opens Tencent Cloud for the drain evidence, or says why it stays off. The SDK is loaded only
// once credentials are likely and a region is known.
import { mayHaveCredentials } from './credentials.js';
import type { Cloud, CloudFlags } from './types.js';

export type CloudOpener = (flags: CloudFlags, regionFromCluster: () => Promise<string | undefined>) => Promise<{ cloud: Cloud } | { off: string }>;

export const openCloud: CloudOpener = async (flags, regionFromCluster) => {
  const env = process.env;
  if (flags.credentials === 'off') return { off: 'switched off (--cloud-credentials off)' };
  if (!mayHaveCredentials(flags.credentials, env)) return { off: 'no Tencent Cloud credentials found' };
  let region = flags.region ?? env.TENCENTCLOUD_REGION;
  try {
    region ??= await regionFromCluster();
  } catch (e) {
    // The nodes are optional reading (the second ClusterRole in docs/rbac.yaml): say which permission is missing.
    if ((e as { status?: number }).status !== 403) throw e;
    return { off: `no region: pass --region or set TENCENTCLOUD_REGION (the nodes' region label is not readable: ${(e as Error).message.split('\n')[0]})` };
  }
  if (!region) return { off: 'no region: pass --region or set TENCENTCLOUD_REGION (the nodes carry no region label the plugin knows)' };
  const { openTencentCloud } = await import('./tencent.js');
  return openTencentCloud({ mode: flags.credentials, region, endpoint: flags.endpoint });
};
