// A fake Tencent Cloud API on loopback that the official SDK (tencentcloud-sdk-nodejs) talks to
// unchanged with `httpProfile: { protocol: 'http://', endpoint: '127.0.0.1:PORT' }`. It checks the
// TC3-HMAC-SHA256 signature, serves the CLB and Cloud Monitor calls the plugin reads, and answers
// errors in the documented {"Response":{"Error":{Code,Message},RequestId}} shape.
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Clb, LoadBalancer, Listener } from './clb.js';

export interface CloudCredentials {
  secretId: string;
  secretKey: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Fault {
  action?: string;
  code: string;
  message: string;
  remaining: number;
}

type Params = Record<string, unknown>;
type Dimension = { Name: string; Value: string };

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const hmac = (key: string | Buffer, s: string) => createHmac('sha256', key).update(s).digest();

/** Verifies a TC3-HMAC-SHA256 Authorization header as the SDK computes it. */
export function verifyTc3(req: IncomingMessage, body: Buffer, creds: CloudCredentials): void {
  const auth = String(req.headers.authorization ?? '');
  const m = /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([^/]+)\/tc3_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw new ApiError('AuthFailure.SignatureFailure', 'The Authorization header is missing or malformed.');
  const [, secretId, date, service, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string];
  if (secretId !== creds.secretId) throw new ApiError('AuthFailure.SecretIdNotFound', 'The SecretId is not found, please ensure that your SecretId is correct.');
  const timestamp = String(req.headers['x-tc-timestamp'] ?? '');
  const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
  const headerValue = (h: string) => (h === 'host' ? host : String(req.headers[h] ?? ''));
  const canonicalHeaders = signedHeaders.split(';').map((h) => `${h}:${headerValue(h)}\n`).join('');
  const canonical = ['POST', '/', '', canonicalHeaders, signedHeaders, sha256(body)].join('\n');
  const toSign = ['TC3-HMAC-SHA256', timestamp, `${date}/${service}/tc3_request`, sha256(canonical)].join('\n');
  const key = hmac(hmac(hmac(`TC3${creds.secretKey}`, date), service), 'tc3_request');
  const expected = hmac(key, toSign).toString('hex');
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    throw new ApiError('AuthFailure.SignatureFailure', 'The provided credentials could not be validated. Please check your signature is correct.');
  }
}

export class CloudApi {
  private server?: Server;
  private readonly faults: Fault[] = [];
  /** Calls received, by action, for tests. */
  readonly calls: string[] = [];
  /** When set, GetMonitorData returns no points for backends this predicate matches. */
  hideMonitorPoints?: (lanIp: string, port: number) => boolean;
  /** Listener attributes DescribeListeners reports, over the defaults (session persistence, rescheduling...). */
  listenerAttributes: Params = {};
  /** How long each answer takes, as the network and the API do in the cloud (0: at once). */
  latencyMs = 0;
  /** Tencent Cloud's documented default limit, per action: more requests in one second are refused. */
  requestsPerSecond = 20;
  private readonly recent = new Map<string, number[]>();

  constructor(
    private readonly clb: Clb,
    readonly credentials: CloudCredentials,
  ) {}

  /** The next `count` calls (of `action`, or any) fail with this error code. */
  injectFault(code: string, message: string, count = 1, action?: string): void {
    this.faults.push({ action, code, message, remaining: count });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const requestId = randomUUID();
        const action = String(req.headers['x-tc-action'] ?? '');
        let response: Params;
        try {
          this.calls.push(action);
          const body = Buffer.concat(chunks);
          verifyTc3(req, body, this.credentials);
          const now = Date.now();
          const recent = (this.recent.get(action) ?? []).filter((t) => t > now - 1000);
          this.recent.set(action, [...recent, now]);
          if (recent.length >= this.requestsPerSecond) throw new ApiError('RequestLimitExceeded', `${action}: more than ${this.requestsPerSecond} requests a second`);
          const fault = this.faults.find((f) => f.remaining > 0 && (!f.action || f.action === action));
          if (fault) {
            fault.remaining--;
            throw new ApiError(fault.code, fault.message);
          }
          response = this.handle(action, String(req.headers['x-tc-version'] ?? ''), JSON.parse(body.toString() || '{}'));
        } catch (e) {
          const err = e instanceof ApiError ? e : new ApiError('InternalError', (e as Error).message);
          response = { Error: { Code: err.code, Message: err.message } };
        }
        const answer = () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ Response: { ...response, RequestId: requestId } }));
        };
        if (this.latencyMs > 0) setTimeout(answer, this.latencyMs);
        else answer();
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, host, r));
    const addr = this.server.address() as { port: number };
    return `${host}:${addr.port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private handle(action: string, version: string, p: Params): Params {
    const clbCall = version === '2018-03-17';
    if (clbCall && action === 'DescribeLoadBalancers') return this.describeLoadBalancers(p);
    if (clbCall && action === 'DescribeListeners') return this.describeListeners(p);
    if (clbCall && action === 'DescribeTargets') return this.describeTargets(p);
    if (clbCall && action === 'DescribeTargetHealth') return this.describeTargetHealth(p);
    if (version === '2018-07-24' && action === 'GetMonitorData') return this.getMonitorData(p);
    if (version === '2018-07-24' && action === 'DescribeBaseMetrics') return this.describeBaseMetrics(p);
    throw new ApiError('InvalidAction', `The action ${action} (version ${version}) is not supported by the simulator.`);
  }

  private lb(id: unknown): LoadBalancer {
    const lb = typeof id === 'string' ? this.clb.loadBalancers.get(id) : undefined;
    if (!lb) throw new ApiError('InvalidParameter.LBIdNotFound', `LoadBalancer ${String(id)} not found.`);
    return lb;
  }

  private listeners(lb: LoadBalancer, p: Params): Listener[] {
    const ids = p.ListenerIds as string[] | undefined;
    return lb.listeners.filter(
      (l) => (!ids?.length || ids.includes(l.id)) && (!p.Protocol || l.protocol === p.Protocol) && (p.Port === undefined || l.port === p.Port),
    );
  }

  private describeLoadBalancers(p: Params): Params {
    const ids = p.LoadBalancerIds as string[] | undefined;
    if (ids && ids.length > 20) throw new ApiError('InvalidParameterValue.Length', 'LoadBalancerIds accepts at most 20 ids.');
    const set = [...this.clb.loadBalancers.values()].filter((lb) => !ids?.length || ids.includes(lb.id));
    return {
      TotalCount: set.length,
      LoadBalancerSet: set.map((lb) => ({
        LoadBalancerId: lb.id,
        LoadBalancerName: lb.name,
        LoadBalancerType: 'INTERNAL',
        Forward: 1,
        Status: 1,
        LoadBalancerVips: [lb.vip],
        VpcId: lb.vpcId,
        NumericalVpcId: lb.numericalVpcId,
        AddressIPVersion: 'ipv4',
      })),
    };
  }

  private describeListeners(p: Params): Params {
    const lb = this.lb(p.LoadBalancerId);
    const ls = this.listeners(lb, p);
    return {
      TotalCount: ls.length,
      Listeners: ls.map((l) => ({
        ListenerId: l.id,
        ListenerName: `TCP-${l.port}`,
        Protocol: l.protocol,
        Port: l.port,
        Scheduler: 'WRR',
        SessionExpireTime: 0,
        SessionType: 'NORMAL',
        HealthCheck: { HealthSwitch: 1, TimeOut: 2, IntervalTime: Math.round(this.clb.options.healthCheckIntervalMs / 1000), HealthNum: this.clb.options.healthyThreshold, UnHealthNum: this.clb.options.unhealthyThreshold },
        DeregisterTargetRst: false,
        AttrFlags: [],
        RescheduleInterval: 0,
        ...this.listenerAttributes,
      })),
    };
  }

  private describeTargets(p: Params): Params {
    const lb = this.lb(p.LoadBalancerId);
    const filters = (p.Filters as { Name: string; Values: string[] }[] | undefined) ?? [];
    const ips = filters.find((f) => f.Name === 'private-ip-address')?.Values;
    return {
      Listeners: this.listeners(lb, p).map((l) => ({
        ListenerId: l.id,
        Protocol: l.protocol,
        Port: l.port,
        Targets: l.targets
          .filter((t) => !ips || ips.includes(t.ip))
          .map((t) => ({ Type: 'ENI', InstanceId: '', Port: t.port, Weight: t.weight, PrivateIpAddresses: [t.ip], RegisteredTime: t.registeredTime, EniId: '' })),
        Rules: null,
      })),
    };
  }

  private describeTargetHealth(p: Params): Params {
    const ids = (p.LoadBalancerIds as string[] | undefined) ?? [];
    if (ids.length === 0) throw new ApiError('MissingParameter', 'The request is missing a required parameter `LoadBalancerIds`.');
    return {
      LoadBalancers: ids.map((id) => {
        const lb = this.lb(id);
        return {
          LoadBalancerId: lb.id,
          LoadBalancerName: lb.name,
          Listeners: this.listeners(lb, p).map((l) => ({
            ListenerId: l.id,
            ListenerName: `TCP-${l.port}`,
            Protocol: l.protocol,
            Port: l.port,
            Rules: [
              {
                LocationId: '',
                Domain: '',
                Url: '',
                Targets: l.targets.map((t) => {
                  const healthy = this.clb.isHealthy(lb.id, l.id, t);
                  return { IP: t.ip, Port: t.port, Weight: t.weight, TargetId: '', HealthStatus: healthy, HealthStatusDetail: healthy ? 'Alive' : 'Dead' };
                }),
              },
            ],
          })),
        };
      }),
    };
  }

  /** ConNum's period: 60 s in the cloud; the simulator's own, shorter one when tests compress time. */
  private get periodSeconds(): number {
    return Math.max(1, Math.round(this.clb.options.monitorPeriodMs / 1000));
  }

  private describeBaseMetrics(p: Params): Params {
    if (p.Namespace !== 'QCE/LB_PRIVATE' && p.Namespace !== 'QCE/LB_PUBLIC') throw new ApiError('InvalidParameterValue', `Namespace ${String(p.Namespace)} is not supported by the simulator.`);
    const metric = {
      Namespace: p.Namespace,
      MetricName: 'ConNum',
      Unit: 'Count',
      UnitCname: '个',
      Period: [this.periodSeconds],
      Periods: [{ Period: String(this.periodSeconds), StatType: ['max', 'avg', 'min'] }],
      Meaning: { Zh: 'LB 到后端的连接数', En: 'Connections from the CLB to the backend' },
      Dimensions: [{ Dimensions: ['vip', 'vpcId', 'loadBalancerPort', 'protocol', 'lanIp', 'port'] }],
      MetricCName: '后端连接数',
    };
    return { MetricSet: !p.MetricName || p.MetricName === 'ConNum' ? [metric] : [] };
  }

  private getMonitorData(p: Params): Params {
    if (p.Namespace !== 'QCE/LB_PRIVATE' && p.Namespace !== 'QCE/LB_PUBLIC') {
      throw new ApiError('InvalidParameterValue', `Namespace ${String(p.Namespace)} is not supported by the simulator.`);
    }
    if (p.MetricName !== 'ConNum') throw new ApiError('InvalidParameterValue', `MetricName ${String(p.MetricName)} is not supported by the simulator.`);
    const period = (p.Period as number | undefined) ?? 300;
    if (period !== this.periodSeconds) throw new ApiError('InvalidParameterValue', `Period ${period} is not supported for ConNum at the backend port view; use ${this.periodSeconds}.`);
    const instances = (p.Instances as { Dimensions: Dimension[] }[] | undefined) ?? [];
    if (instances.length === 0 || instances.length > 10) throw new ApiError('InvalidParameterValue', 'Instances must hold 1 to 10 instances.');
    const to = p.EndTime ? Date.parse(String(p.EndTime)) : Date.now();
    const from = p.StartTime ? Date.parse(String(p.StartTime)) : to - 3600_000;
    return {
      Period: period,
      MetricName: 'ConNum',
      StartTime: new Date(from).toISOString(),
      EndTime: new Date(to).toISOString(),
      Msg: '',
      DataPoints: instances.map(({ Dimensions }) => {
        const dim = (n: string) => Dimensions.find((d) => d.Name === n)?.Value;
        const lanIp = dim('lanIp');
        const port = Number(dim('port'));
        const lb = [...this.clb.loadBalancers.values()].find((l) => l.id === dim('loadBalancerId') || l.vip === dim('vip'));
        if (!lb || !lanIp || !port) {
          throw new ApiError('InvalidParameterValue', 'Each instance needs vip (or loadBalancerId), lanIp and port dimensions.');
        }
        const points = this.hideMonitorPoints?.(lanIp, port) ? [] : this.clb.conNumPoints(lb.id, lanIp, port, from, to);
        return {
          Dimensions,
          Timestamps: points.map((x) => Math.floor(x.start / 1000)),
          Values: points.map((x) => x.avg),
          MaxValues: points.map((x) => x.max),
          MinValues: points.map((x) => x.min),
        };
      }),
    };
  }
}
