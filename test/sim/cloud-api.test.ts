// The official SDK, unchanged but for endpoint and protocol, against the fake Tencent Cloud API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tencentcloud from 'tencentcloud-sdk-nodejs';
import { Clb } from '../../sim/clb.js';
import { CloudApi } from '../../sim/cloud-api.js';

const creds = { secretId: 'AKIDtest', secretKey: 'test-key' };

describe('fake Tencent Cloud API through tencentcloud-sdk-nodejs', () => {
  const clb = new Clb({ healthCheckIntervalMs: 200, healthyThreshold: 1, unhealthyThreshold: 1, monitorPeriodMs: 1000 });
  const api = new CloudApi(clb, creds);
  let endpoint: string;
  let lbId: string;
  const client = (c = creds) => {
    const profile = { httpProfile: { protocol: 'http://', endpoint } };
    const credential = { secretId: c.secretId, secretKey: c.secretKey };
    return {
      clb: new tencentcloud.clb.v20180317.Client({ credential, region: 'ap-guangzhou', profile }),
      monitor: new tencentcloud.monitor.v20180724.Client({ credential, region: 'ap-guangzhou', profile }),
    };
  };

  beforeAll(async () => {
    endpoint = await api.listen();
    const lb = clb.ensureLoadBalancer('demo/gw');
    lbId = lb.id;
    await clb.apply(lb.id, [
      { protocol: 'TCP', port: 18080, targets: [{ pod: 'gw-0', uid: 'u0', ip: '127.10.9.1', port: 8080, weight: 0 }, { pod: 'gw-1', uid: 'u1', ip: '127.10.9.2', port: 8080, weight: 10 }] },
      { protocol: 'TCP', port: 18443, targets: [{ pod: 'gw-0', uid: 'u0', ip: '127.10.9.1', port: 8443, weight: 0 }] },
    ]);
  });
  afterAll(async () => {
    await api.close();
    await clb.close();
  });

  it('DescribeLoadBalancers returns the VIP and VPC', async () => {
    const r = await client().clb.DescribeLoadBalancers({ LoadBalancerIds: [lbId] });
    expect(r.TotalCount).toBe(1);
    expect(r.LoadBalancerSet![0]).toMatchObject({ LoadBalancerId: lbId, LoadBalancerVips: [clb.loadBalancers.get(lbId)!.vip], VpcId: 'vpc-sim00001' });
  });

  it('DescribeListeners returns one listener per Service port', async () => {
    const r = await client().clb.DescribeListeners({ LoadBalancerId: lbId });
    expect(r.Listeners!.map((l) => `${l.Protocol}:${l.Port}`)).toEqual(['TCP:18080', 'TCP:18443']);
  });

  it('DescribeTargets filtered by private-ip-address gives that pod\'s weight on every listener', async () => {
    const r = await client().clb.DescribeTargets({ LoadBalancerId: lbId, Filters: [{ Name: 'private-ip-address', Values: ['127.10.9.1'] }] });
    expect(r.Listeners!.map((l) => [l.Port, l.Targets!.map((t) => [t.PrivateIpAddresses![0], t.Port, t.Weight])])).toEqual([
      [18080, [['127.10.9.1', 8080, 0]]],
      [18443, [['127.10.9.1', 8443, 0]]],
    ]);
  });

  it('DescribeTargetHealth reports each target (nothing listens: Dead)', async () => {
    await new Promise((r) => setTimeout(r, 300));
    const r = await client().clb.DescribeTargetHealth({ LoadBalancerIds: [lbId] });
    const targets = r.LoadBalancers![0]!.Listeners![0]!.Rules![0]!.Targets!;
    expect(targets.map((t) => [t.IP, t.Weight, t.HealthStatus, t.HealthStatusDetail])).toEqual([
      ['127.10.9.1', 0, false, 'Dead'],
      ['127.10.9.2', 10, false, 'Dead'],
    ]);
  });

  it('GetMonitorData returns ConNum points per backend for ended periods only, and none when hidden', async () => {
    const vip = clb.loadBalancers.get(lbId)!.vip;
    const req = {
      Namespace: 'QCE/LB_PRIVATE', MetricName: 'ConNum', Period: 1,
      StartTime: new Date(Date.now() - 60_000).toISOString(), EndTime: new Date().toISOString(),
      Instances: [{ Dimensions: [{ Name: 'vip', Value: vip }, { Name: 'vpcId', Value: 'vpc-sim00001' }, { Name: 'lanIp', Value: '127.10.9.1' }, { Name: 'port', Value: '8080' }] }],
    };
    await new Promise((r) => setTimeout(r, 2100));
    const r = await client().monitor.GetMonitorData(req);
    expect(r.Period).toBe(1);
    const dp = r.DataPoints![0]!;
    expect(dp.Timestamps!.length).toBeGreaterThan(0);
    expect(dp.Timestamps!.every((t) => (t + 1) * 1000 <= Date.now())).toBe(true);
    await expect(client().monitor.GetMonitorData({ ...req, Period: 60 })).rejects.toMatchObject({ code: 'InvalidParameterValue' });
    expect(dp.Values!.every((v) => v === 0)).toBe(true);
    api.hideMonitorPoints = () => true;
    const hidden = await client().monitor.GetMonitorData(req);
    api.hideMonitorPoints = undefined;
    expect(hidden.DataPoints![0]!.Timestamps).toEqual([]);
  });

  it('DescribeBaseMetrics offers the period the simulated monitor keeps', async () => {
    const r = await client().monitor.DescribeBaseMetrics({ Namespace: 'QCE/LB_PRIVATE', MetricName: 'ConNum' });
    expect(r.MetricSet!.map((m) => [m.MetricName, m.Periods!.map((p) => p.Period)])).toEqual([['ConNum', ['1']]]);
  });

  it('DescribeListeners reports the listener settings a test gives', async () => {
    api.listenerAttributes = { SessionExpireTime: 30, RescheduleInterval: 10 };
    const r = await client().clb.DescribeListeners({ LoadBalancerId: lbId });
    api.listenerAttributes = {};
    expect(r.Listeners![0]).toMatchObject({ SessionExpireTime: 30, RescheduleInterval: 10, Scheduler: 'WRR' });
  });

  it('errors come back in the documented shape and the SDK throws them with their code', async () => {
    await expect(client().clb.DescribeListeners({ LoadBalancerId: 'lb-nope' })).rejects.toMatchObject({ code: 'InvalidParameter.LBIdNotFound' });
    await expect(client({ secretId: 'AKIDtest', secretKey: 'wrong' }).clb.DescribeLoadBalancers({})).rejects.toMatchObject({ code: 'AuthFailure.SignatureFailure' });
    await expect(client({ secretId: 'AKIDother', secretKey: 'x' }).clb.DescribeLoadBalancers({})).rejects.toMatchObject({ code: 'AuthFailure.SecretIdNotFound' });
    api.injectFault('RequestLimitExceeded', 'Your current request times exceeds the limit.', 1, 'DescribeTargets');
    await expect(client().clb.DescribeTargets({ LoadBalancerId: lbId })).rejects.toMatchObject({ code: 'RequestLimitExceeded' });
    await expect(client().clb.DescribeTargets({ LoadBalancerId: lbId })).resolves.toBeDefined();
  });
});
