// The plugin's Tencent Cloud layer, through the official SDK, against the simulator's fake API.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mayHaveCredentials, regionFromNodeLabels } from '../../src/cloud/credentials.js';
import { openTencentCloud } from '../../src/cloud/tencent.js';
import { CloudApiError, type Cloud } from '../../src/cloud/types.js';
import { Clb } from '../../sim/clb.js';
import { CloudApi } from '../../sim/cloud-api.js';

const creds = { secretId: 'AKIDunit0000000000000000000000000', secretKey: 'unit-secret-key-never-printed-00' };
const saved = { ...process.env };

function setEnv(vars: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

describe('openTencentCloud against the fake API', () => {
  const clb = new Clb({ healthCheckIntervalMs: 200, healthyThreshold: 1, unhealthyThreshold: 1, monitorPeriodMs: 1000 });
  const api = new CloudApi(clb, creds);
  let endpoint: string;
  let lbId: string;
  const ips = Array.from({ length: 12 }, (_, i) => `127.10.8.${i + 1}`);

  beforeAll(async () => {
    endpoint = `http://${await api.listen()}`;
    const lb = clb.ensureLoadBalancer('demo/gw');
    lbId = lb.id;
    await clb.apply(lb.id, [{ protocol: 'TCP', port: 18080, targets: ips.map((ip, i) => ({ pod: `gw-${i}`, uid: `u${i}`, ip, port: 8080, weight: i === 0 ? 0 : 10 })) }]);
  });
  afterEach(() => {
    // Assigning process.env would detach it from the real environment (os.homedir reads that).
    setEnv(Object.fromEntries(['HOME', 'TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY'].map((k) => [k, saved[k]])));
  });
  afterAll(async () => {
    await api.close();
    await clb.close();
  });

  const open = async (mode: 'auto' | 'env' | 'profile' = 'auto') => {
    const r = await openTencentCloud({ mode, region: 'ap-guangzhou', endpoint });
    if (!('cloud' in r)) throw new Error(r.off);
    return r.cloud;
  };

  it('takes credentials from the environment and names only their source', async () => {
    setEnv({ TENCENTCLOUD_SECRET_ID: creds.secretId, TENCENTCLOUD_SECRET_KEY: creds.secretKey });
    const cloud = await open();
    expect(cloud.credentialSource).toBe('environment (TENCENTCLOUD_SECRET_ID)');
    expect(JSON.stringify(cloud)).not.toContain(creds.secretKey);
    expect(await cloud.loadBalancers([lbId])).toEqual([{ id: lbId, type: 'INTERNAL', vips: [clb.loadBalancers.get(lbId)!.vip], vpcId: 'vpc-sim00001' }]);
  });

  it('takes them from the profile file when the environment has none', async () => {
    const home = mkdtempSync(join(tmpdir(), 'zlu-home-'));
    mkdirSync(join(home, '.tencentcloud'));
    writeFileSync(join(home, '.tencentcloud', 'credentials'), `[default]\nsecret_id = ${creds.secretId}\nsecret_key = ${creds.secretKey}\n`);
    setEnv({ HOME: home, TENCENTCLOUD_SECRET_ID: undefined, TENCENTCLOUD_SECRET_KEY: undefined });
    expect(mayHaveCredentials('auto', process.env)).toBe(true);
    const cloud = await open();
    expect(cloud.credentialSource).toBe('profile file (~/.tencentcloud/credentials)');
    expect((await cloud.listeners(lbId)).map((l) => `${l.protocol}/${l.port} ${l.scheduler}`)).toEqual(['TCP/18080 WRR']);
  });

  it('is off, saying so, when no provider has credentials', async () => {
    setEnv({ HOME: mkdtempSync(join(tmpdir(), 'zlu-home-')), TENCENTCLOUD_SECRET_ID: undefined, TENCENTCLOUD_SECRET_KEY: undefined });
    expect(mayHaveCredentials('auto', process.env, () => false)).toBe(false);
    expect(await openTencentCloud({ mode: 'env', region: 'ap-guangzhou', endpoint })).toEqual({ off: 'no Tencent Cloud credentials found' });
  });

  it('reads each pod IP\'s weight and health per listener', async () => {
    setEnv({ TENCENTCLOUD_SECRET_ID: creds.secretId, TENCENTCLOUD_SECRET_KEY: creds.secretKey });
    const t = await (await open()).targets(lbId, [ips[0]!, ips[1]!]);
    expect(t.map((x) => [x.ip, x.port, x.targetPort, x.weight, x.healthy])).toEqual([
      [ips[0], 18080, 8080, 0, false],
      [ips[1], 18080, 8080, 10, false],
    ]);
  });

  it('finds the smallest ConNum period and reads points for more backends than one request takes', async () => {
    setEnv({ TENCENTCLOUD_SECRET_ID: creds.secretId, TENCENTCLOUD_SECRET_KEY: creds.secretKey });
    const cloud: Cloud = await open();
    const period = await cloud.conNumPeriod('QCE/LB_PRIVATE');
    expect(period).toBe(1);
    await new Promise((r) => setTimeout(r, 2200));
    const vip = clb.loadBalancers.get(lbId)!.vip;
    const queries = ips.map((ip) => ({ namespace: 'QCE/LB_PRIVATE', periodSeconds: period, dimensions: { vip, vpcId: 'vpc-sim00001', loadBalancerPort: '18080', protocol: 'TCP', lanIp: ip, port: '8080' } }));
    const points = await cloud.conNum(queries, new Date(Date.now() - 10_000), new Date());
    expect(points).toHaveLength(12); // the fake API refuses more than 10 instances per request
    expect(points.every((p) => p.length > 0 && p.every((x) => x.value === 0 && x.at % 1000 === 0))).toBe(true);
    const calls = api.calls.filter((c) => c === 'GetMonitorData').length;
    expect(calls).toBe(2);
  });

  it('reads a batch of 100 pods on 3 listeners (30 GetMonitorData requests) in parallel within the API\'s 20 requests a second', async () => {
    setEnv({ TENCENTCLOUD_SECRET_ID: creds.secretId, TENCENTCLOUD_SECRET_KEY: creds.secretKey });
    const cloud: Cloud = await open();
    const vip = clb.loadBalancers.get(lbId)!.vip;
    const queries = Array.from({ length: 300 }, (_, i) => ({ namespace: 'QCE/LB_PRIVATE', periodSeconds: 1, dimensions: { vip, vpcId: 'vpc-sim00001', loadBalancerPort: '18080', protocol: 'TCP', lanIp: ips[i % ips.length]!, port: '8080' } }));
    const before = api.calls.length;
    const points = await cloud.conNum(queries, new Date(Date.now() - 10_000), new Date());
    expect(points).toHaveLength(300);
    expect(points.every((p) => p.length > 0)).toBe(true);
    // Unthrottled, 30 requests at once would be refused past the 20th (RequestLimitExceeded).
    expect(api.calls.slice(before).filter((c) => c === 'GetMonitorData')).toHaveLength(30);
  });

  it('turns API errors into one line with the code, never the secret', async () => {
    setEnv({ TENCENTCLOUD_SECRET_ID: creds.secretId, TENCENTCLOUD_SECRET_KEY: 'wrong-key' });
    const e = await (await open()).loadBalancers([lbId]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CloudApiError);
    expect((e as CloudApiError).code).toBe('AuthFailure.SignatureFailure');
    expect((e as Error).message).toMatch(/^DescribeLoadBalancers: AuthFailure\.SignatureFailure: .* \(request [0-9a-f-]+\)$/);
    expect((e as Error).message).not.toContain('wrong-key');
    setEnv({ TENCENTCLOUD_SECRET_KEY: creds.secretKey });
    api.injectFault('RequestLimitExceeded', 'Your current request times exceeds the limit.', 1, 'DescribeTargets');
    await expect((await open()).targets(lbId, [ips[0]!])).rejects.toThrow(/DescribeTargets: RequestLimitExceeded/);
  });

  it('reports an unreachable endpoint as a network error', async () => {
    setEnv({ TENCENTCLOUD_SECRET_ID: creds.secretId, TENCENTCLOUD_SECRET_KEY: creds.secretKey });
    const r = await openTencentCloud({ mode: 'env', region: 'ap-guangzhou', endpoint: 'http://127.0.0.1:9' });
    if (!('cloud' in r)) throw new Error(r.off);
    await expect(r.cloud.loadBalancers([lbId])).rejects.toMatchObject({ code: 'NetworkError' });
  });
});

describe('regionFromNodeLabels', () => {
  it('maps TKE short codes and passes API names through', () => {
    expect(regionFromNodeLabels({ 'failure-domain.beta.kubernetes.io/region': 'gz' })).toBe('ap-guangzhou');
    expect(regionFromNodeLabels({ 'topology.kubernetes.io/region': 'sg' })).toBe('ap-singapore');
    expect(regionFromNodeLabels({ 'topology.kubernetes.io/region': 'ap-shanghai' })).toBe('ap-shanghai');
    expect(regionFromNodeLabels({ 'topology.kubernetes.io/region': 'xx' })).toBeUndefined();
    expect(regionFromNodeLabels({})).toBeUndefined();
  });
});

describe('mayHaveCredentials', () => {
  it('looks at the environment and the profile files in auto mode, and believes an explicit mode', () => {
    expect(mayHaveCredentials('auto', { TENCENTCLOUD_SECRET_ID: 'a', TENCENTCLOUD_SECRET_KEY: 'b' }, () => false)).toBe(true);
    expect(mayHaveCredentials('auto', { TENCENTCLOUD_SECRET_ID: 'a' }, () => false)).toBe(false);
    expect(mayHaveCredentials('auto', {}, (p) => p === '/etc/tencentcloud/credentials')).toBe(true);
    expect(mayHaveCredentials('auto', { TKE_ROLE_ARN: 'r', TKE_WEB_IDENTITY_TOKEN_FILE: '/t' }, () => false)).toBe(true);
    expect(mayHaveCredentials('cvm-role', {}, () => false)).toBe(true);
    expect(mayHaveCredentials('off', { TENCENTCLOUD_SECRET_ID: 'a', TENCENTCLOUD_SECRET_KEY: 'b' })).toBe(false);
  });
});
