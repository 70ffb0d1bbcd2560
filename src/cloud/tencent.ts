// Tencent Cloud through its official Node.js SDK: credentials from the SDK's own providers, CLB and
// Cloud Monitor reads. Loaded only when credentials are at hand (a lazily compiled SEA asset).
// Nothing here prints or keeps the credentials; errors carry the API's code and message only.
// Default imports of the SDK's CommonJS modules: Node's own ESM loader (tsx, the benchmarks) finds
// no named exports in them; the bundle and vitest read them either way.
import credentials from 'tencentcloud-sdk-nodejs/tencentcloud/common/credential.js';
import type { Credential, DynamicCredential } from 'tencentcloud-sdk-nodejs/tencentcloud/common/interface.js';
import clbClient from 'tencentcloud-sdk-nodejs/tencentcloud/services/clb/v20180317/clb_client.js';
import monitorClient from 'tencentcloud-sdk-nodejs/tencentcloud/services/monitor/v20180724/monitor_client.js';
import type { ConnPoint, ListenerSettings, TargetReading } from '../core/evidence.js';
import { throttle, type Throttle } from './throttle.js';

const { EnvironmentVariableCredential, OIDCRoleArnCredential, ProfileCredential, CvmRoleCredential } = credentials;
const ClbClient = clbClient.Client;
const MonitorClient = monitorClient.Client;
import { CloudApiError, type Cloud, type CredentialMode, type LoadBalancerInfo } from './types.js';

const REQUEST_TIMEOUT_SECONDS = 10;
/** GetMonitorData takes at most 10 instances per request (the stricter documented figure). */
const MONITOR_BATCH = 10;

interface Provider {
  source: string;
  provider: () => DynamicCredential;
}

const PROVIDERS: Record<Exclude<CredentialMode, 'auto' | 'off'>, Provider> = {
  env: { source: 'environment (TENCENTCLOUD_SECRET_ID)', provider: () => new EnvironmentVariableCredential() },
  profile: { source: 'profile file (~/.tencentcloud/credentials)', provider: () => new ProfileCredential() },
  oidc: { source: 'TKE OIDC role (TKE_ROLE_ARN)', provider: () => new OIDCRoleArnCredential() },
  'cvm-role': { source: 'CVM instance role', provider: () => new CvmRoleCredential() },
};

/** The SDK's providers in the order `auto` tries them; cvm-role only when asked (it calls the metadata server). */
function providers(mode: CredentialMode): Provider[] {
  if (mode === 'off') return [];
  return mode === 'auto' ? [PROVIDERS.env, PROVIDERS.profile, PROVIDERS.oidc] : [PROVIDERS[mode]];
}

/** The first provider that yields a secret id and key, or undefined. Errors say which provider failed. */
async function resolveCredential(mode: CredentialMode): Promise<{ source: string; credential: Credential } | { failures: string[] }> {
  const failures: string[] = [];
  for (const p of providers(mode)) {
    try {
      const c = await p.provider().getCredential();
      if (c.secretId && c.secretKey) return { source: p.source, credential: c };
    } catch (e) {
      failures.push(`${p.source}: ${(e as Error).message}`);
    }
  }
  return { failures };
}

function httpProfile(endpoint: string | undefined, service: 'clb' | 'monitor') {
  if (!endpoint) return { reqTimeout: REQUEST_TIMEOUT_SECONDS };
  const url = /^(https?:\/\/)(.+?)\/?$/.exec(endpoint);
  if (url) return { protocol: url[1], endpoint: url[2], reqTimeout: REQUEST_TIMEOUT_SECONDS };
  return { endpoint: `${service}.${endpoint}`, reqTimeout: REQUEST_TIMEOUT_SECONDS };
}

const throttles = new Map<string, Throttle>();
/** One limit per API action, as Tencent Cloud counts them. */
const limits = (action: string) => throttles.get(action) ?? throttles.set(action, throttle(REQUESTS_PER_SECOND, IN_FLIGHT, undefined, 1250)).get(action)!;

/** The stricter documented request rate of each API (20 a second, counted over 1.25 s for the network's jitter); a few in flight at once. */
const REQUESTS_PER_SECOND = 20;
const IN_FLIGHT = 5;

async function call<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await limits(what)(f);
  } catch (e) {
    const err = e as { code?: string; httpCode?: number; message?: string; requestId?: string };
    const code = err.code ?? (err.httpCode ? `HTTP ${err.httpCode}` : 'NetworkError');
    throw new CloudApiError(code, `${what}: ${code}: ${err.message ?? String(e)}${err.requestId ? ` (request ${err.requestId})` : ''}`, err.requestId);
  }
}

export async function openTencentCloud(o: { mode: CredentialMode; region: string; endpoint?: string }): Promise<{ cloud: Cloud } | { off: string }> {
  const found = await resolveCredential(o.mode);
  if ('failures' in found) {
    return { off: found.failures.length ? `no usable credentials (${found.failures.join('; ')})` : 'no Tencent Cloud credentials found' };
  }
  const config = (service: 'clb' | 'monitor') => ({ credential: found.credential, region: o.region, profile: { httpProfile: httpProfile(o.endpoint, service) } });
  const clb = new ClbClient(config('clb'));
  const monitor = new MonitorClient(config('monitor'));
  const periods = new Map<string, number>();

  const cloud: Cloud = {
    region: o.region,
    credentialSource: found.source,

    async loadBalancers(ids) {
      const r = await call('DescribeLoadBalancers', () => clb.DescribeLoadBalancers({ LoadBalancerIds: ids }));
      return (r.LoadBalancerSet ?? []).map(
        (lb): LoadBalancerInfo => ({ id: lb.LoadBalancerId!, type: lb.LoadBalancerType ?? 'INTERNAL', vips: lb.LoadBalancerVips ?? [], vpcId: lb.VpcId || undefined }),
      );
    },

    async listeners(lbId) {
      const r = await call('DescribeListeners', () => clb.DescribeListeners({ LoadBalancerId: lbId }));
      return (r.Listeners ?? []).map(
        (l): ListenerSettings => ({
          lbId,
          protocol: l.Protocol!,
          port: l.Port!,
          scheduler: l.Scheduler,
          sessionExpireTime: l.SessionExpireTime,
          rescheduleInterval: l.RescheduleInterval,
          deregisterTargetRst: l.DeregisterTargetRst,
          attrFlags: l.AttrFlags,
        }),
      );
    },

    async targets(lbId, ips) {
      const [targets, health] = await Promise.all([
        call('DescribeTargets', () => clb.DescribeTargets({ LoadBalancerId: lbId, Filters: [{ Name: 'private-ip-address', Values: ips }] })),
        call('DescribeTargetHealth', () => clb.DescribeTargetHealth({ LoadBalancerIds: [lbId] })),
      ]);
      const healthOf = new Map<string, boolean>();
      for (const lb of health.LoadBalancers ?? []) {
        for (const l of lb.Listeners ?? []) {
          for (const rule of l.Rules ?? []) for (const t of rule.Targets ?? []) healthOf.set(`${l.Protocol}/${l.Port}/${t.IP}:${t.Port}`, Boolean(t.HealthStatus));
        }
      }
      const out: TargetReading[] = [];
      for (const l of targets.Listeners ?? []) {
        const backends = [...(l.Targets ?? []), ...(l.Rules ?? []).flatMap((r) => r.Targets ?? [])];
        for (const b of backends) {
          for (const ip of (b.PrivateIpAddresses ?? []).filter((x) => ips.includes(x))) {
            out.push({ lbId, protocol: l.Protocol!, port: l.Port!, ip, targetPort: b.Port!, weight: b.Weight ?? undefined, healthy: healthOf.get(`${l.Protocol}/${l.Port}/${ip}:${b.Port}`) });
          }
        }
      }
      return out;
    },

    async conNumPeriod(namespace) {
      const known = periods.get(namespace);
      if (known) return known;
      const r = await call('DescribeBaseMetrics', () => monitor.DescribeBaseMetrics({ Namespace: namespace, MetricName: 'ConNum' }));
      const offered = (r.MetricSet ?? []).flatMap((m) => [...(m.Periods ?? []).map((p) => Number(p.Period)), ...(m.Period ?? []).map(Number)]).filter((p) => p > 0);
      if (offered.length === 0) throw new CloudApiError('ResourceNotFound', `DescribeBaseMetrics: ${namespace} offers no ConNum metric`);
      const smallest = Math.min(...offered);
      periods.set(namespace, smallest);
      return smallest;
    },

    async conNum(queries, from, to) {
      const out: ConnPoint[][] = queries.map(() => []);
      // One request takes one namespace and one period.
      const groups = new Map<string, number[]>();
      queries.forEach((q, i) => groups.set(`${q.namespace} ${q.periodSeconds}`, [...(groups.get(`${q.namespace} ${q.periodSeconds}`) ?? []), i]));
      const chunks = [...groups.values()].flatMap((indexes) => Array.from({ length: Math.ceil(indexes.length / MONITOR_BATCH) }, (_, k) => indexes.slice(k * MONITOR_BATCH, (k + 1) * MONITOR_BATCH)));
      // In parallel, within the API's rate: a batch of 100 pods is a few seconds of requests, not a minute.
      await Promise.all(
        chunks.map(async (chunk) => {
          const { namespace, periodSeconds } = queries[chunk[0]!]!;
          const r = await call('GetMonitorData', () =>
            monitor.GetMonitorData({
              Namespace: namespace,
              MetricName: 'ConNum',
              Period: periodSeconds,
              StartTime: from.toISOString(),
              EndTime: to.toISOString(),
              SpecifyStatistics: 2,
              Instances: chunk.map((i) => ({ Dimensions: Object.entries(queries[i]!.dimensions).map(([Name, Value]) => ({ Name, Value })) })),
            }),
          );
          for (const i of chunk) {
            const dims = queries[i]!.dimensions;
            const dp = (r.DataPoints ?? []).find((d) => (d.Dimensions ?? []).every((x) => dims[x.Name!] === x.Value));
            const values = dp?.MaxValues?.length ? dp.MaxValues : (dp?.Values ?? []);
            // A point without a value is missing, not zero.
            out[i] = (dp?.Timestamps ?? []).flatMap((t, n) => (typeof values[n] === 'number' ? [{ at: Number(t) * 1000, value: values[n] }] : []));
          }
        }),
      );
      return out;
    },
  };
  return { cloud };
}
