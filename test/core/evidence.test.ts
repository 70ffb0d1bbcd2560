import { describe, expect, it } from 'vitest';
import {
  combine,
  connectionFindings,
  listenerWarnings,
  podVerdict,
  sparkline,
  trailingZeroRun,
  weightFindings,
  weightIsZero,
  type ConnSeries,
  type PodEvidence,
  type TargetReading,
} from '../../src/core/evidence.js';

const P = 60_000;
const listeners = [
  { service: 'gw', lbId: 'lb-1', protocol: 'TCP', port: 80 },
  { service: 'gw', lbId: 'lb-1', protocol: 'TCP', port: 443 },
];
const target = (port: number, weight: number, ip = '10.0.0.5'): TargetReading => ({ lbId: 'lb-1', protocol: 'TCP', port, ip, targetPort: port + 8000, weight, healthy: true });
const series = (port: number, values: (number | null)[], start = 0, ip = '10.0.0.5'): ConnSeries => ({
  lbId: 'lb-1',
  protocol: 'TCP',
  port,
  ip,
  targetPort: port + 8000,
  points: values.flatMap((v, i) => (v === null ? [] : [{ at: start + i * P, value: v }])),
});
const rules = (now: number, zeroPoints = 3) => ({ zeroPoints, periodMs: P, now });

function evidence(over: Partial<PodEvidence> = {}): PodEvidence {
  return {
    pod: 'gw-0',
    ip: '10.0.0.5',
    listeners,
    targets: { ok: [target(80, 0), target(443, 0), target(80, 10, '10.0.0.6')] },
    connections: { ok: [series(80, [5, 0, 0, 0]), series(443, [0, 0, 0, 0])] },
    zeroWeightSince: 0,
    controllerWarnings: [],
    ...over,
  };
}

describe('weightFindings', () => {
  it('is drained only when every listener reads weight 0 for the pod IP', () => {
    expect(combine(weightFindings(evidence()))).toEqual({ state: 'drained', reasons: [] });
    expect(weightIsZero(evidence())).toBe(true);
  });

  it('says not yet, naming the listener and weight, while any listener still gives weight', () => {
    const e = evidence({ targets: { ok: [target(80, 0), target(443, 10)] } });
    expect(combine(weightFindings(e))).toEqual({ state: 'not-yet', reasons: ['weight 10 on lb-1 TCP/443'] });
    expect(weightIsZero(e)).toBe(false);
  });

  it('is unknown when a listener has no target for the pod, the CLB is missing, the pod has no IP, or the API failed', () => {
    expect(combine(weightFindings(evidence({ targets: { ok: [target(80, 0)] } }))).reasons).toEqual(['10.0.0.5 is not registered on lb-1 TCP/443']);
    expect(combine(weightFindings(evidence({ listeners: [{ service: 'gw', protocol: 'TCP', port: 80 }] }))).reasons).toEqual(['service gw has no CLB id yet']);
    expect(combine(weightFindings(evidence({ ip: undefined }))).state).toBe('unknown');
    expect(combine(weightFindings(evidence({ targets: { error: 'AuthFailure.SecretIdNotFound' } })))).toEqual({
      state: 'unknown',
      reasons: ['CLB targets unreadable: AuthFailure.SecretIdNotFound'],
    });
  });

  it('reads a backend the API gave no Weight for as unknown, never as 0', () => {
    const e = evidence({ targets: { ok: [target(80, 0), { ...target(443, 0), weight: undefined }] } });
    expect(combine(weightFindings(e))).toEqual({ state: 'unknown', reasons: ['the CLB gave no weight for 10.0.0.5 on lb-1 TCP/443'] });
    expect(weightIsZero(e)).toBe(false);
  });

  it('lets a not-yet listener win over an unknown one', () => {
    const e = evidence({ targets: { ok: [target(80, 3)] } });
    expect(combine(weightFindings(e))).toEqual({ state: 'not-yet', reasons: ['weight 3 on lb-1 TCP/80'] });
  });
});

describe('trailingZeroRun', () => {
  it('counts zeros at the end that are one period apart', () => {
    expect(trailingZeroRun(series(80, [4, 0, 0, 0]).points, P)).toBe(3);
    expect(trailingZeroRun(series(80, [0, 0, 1]).points, P)).toBe(0);
    expect(trailingZeroRun([], P)).toBe(0);
  });

  it('stops at a missing point: a gap is not a zero', () => {
    expect(trailingZeroRun(series(80, [0, 0, null, 0, 0]).points, P)).toBe(2);
  });

  it('does not depend on the order the API returned the points in', () => {
    expect(trailingZeroRun([...series(80, [3, 0, 0]).points].reverse(), P)).toBe(2);
  });
});

describe('connectionFindings', () => {
  const now = 5 * P;

  it('is drained with N present zero points after weight 0 was seen', () => {
    expect(combine(connectionFindings(evidence(), rules(now)))).toEqual({ state: 'drained', reasons: [] });
  });

  it('counts only points that started after weight 0 was seen', () => {
    const v = combine(connectionFindings(evidence({ zeroWeightSince: 2 * P }), rules(now)));
    expect(v).toEqual({ state: 'not-yet', reasons: ['2 of 3 zero points since weight 0 on lb-1 TCP/80 -> 10.0.0.5:8080', '2 of 3 zero points since weight 0 on lb-1 TCP/443 -> 10.0.0.5:8443'] });
  });

  it('does not count at all before weight 0 is seen', () => {
    expect(combine(connectionFindings(evidence({ zeroWeightSince: undefined }), rules(now))).state).toBe('not-yet');
  });

  it('says not yet with the count while the last point has connections', () => {
    const v = combine(connectionFindings(evidence({ connections: { ok: [series(80, [9, 4, 2])] } }), rules(now)));
    expect(v).toEqual({ state: 'not-yet', reasons: ['2 connections on lb-1 TCP/80 -> 10.0.0.5:8080 at 00:02:00'] });
  });

  it('reads missing points as unknown, never as zero', () => {
    expect(combine(connectionFindings(evidence({ connections: { ok: [series(80, [])] } }), rules(now)))).toEqual({
      state: 'unknown',
      reasons: ['no ConNum data for lb-1 TCP/80 -> 10.0.0.5:8080'],
    });
    expect(combine(connectionFindings(evidence({ connections: { ok: [] } }), rules(now))).state).toBe('unknown');
  });

  it('reads a series that stopped long ago as unknown', () => {
    const v = combine(connectionFindings(evidence({ connections: { ok: [series(80, [0, 0, 0, 0])] } }), rules(20 * P)));
    expect(v).toEqual({ state: 'unknown', reasons: ['no ConNum data for lb-1 TCP/80 -> 10.0.0.5:8080 since 00:03:00'] });
  });

  it('carries an API error as the reason', () => {
    expect(combine(connectionFindings(evidence({ connections: { error: 'RequestLimitExceeded: too many requests' } }), rules(now)))).toEqual({
      state: 'unknown',
      reasons: ['Cloud Monitor unreadable: RequestLimitExceeded: too many requests'],
    });
  });

  it('takes the configured number of points', () => {
    expect(combine(connectionFindings(evidence(), rules(now, 4))).state).toBe('not-yet');
    expect(combine(connectionFindings(evidence(), rules(now, 1))).state).toBe('drained');
  });
});

describe('podVerdict', () => {
  const now = 5 * P;

  it('is drained when weights and connections both are', () => {
    expect(podVerdict(evidence(), rules(now))).toEqual({ state: 'drained', reasons: [] });
  });

  it('is not yet when weight is not 0 even if connections are unknown', () => {
    const v = podVerdict(evidence({ targets: { ok: [target(80, 10), target(443, 0)] }, connections: { error: 'InternalError' } }), rules(now));
    expect(v).toEqual({ state: 'not-yet', reasons: ['weight 10 on lb-1 TCP/80'] });
  });

  it('is unknown when weights are 0 but connections cannot be read', () => {
    expect(podVerdict(evidence({ connections: { ok: [series(80, [])] } }), rules(now)).state).toBe('unknown');
  });

  it('adds the service controller warnings to a verdict that is not drained, not to a drained one', () => {
    const warn = ['SyncLoadBalancerFailed: quota exceeded'];
    expect(podVerdict(evidence({ controllerWarnings: warn }), rules(now)).reasons).toEqual([]);
    expect(podVerdict(evidence({ controllerWarnings: warn, targets: { ok: [target(80, 10), target(443, 0)] } }), rules(now)).reasons).toEqual([
      'weight 10 on lb-1 TCP/80',
      'service controller: SyncLoadBalancerFailed: quota exceeded',
    ]);
  });
});

describe('sparkline', () => {
  it('draws one bar per period scaled to the maximum, a gap as a space', () => {
    expect(sparkline(series(80, [8, 4, null, 0]).points, P)).toBe('█▅ ▁');
    expect(sparkline(series(80, [0, 0]).points, P)).toBe('▁▁');
    expect(sparkline([], P)).toBe('');
  });

  it('shows only the last points', () => {
    expect(sparkline(series(80, [9, 9, 9, 0, 0]).points, P, 2)).toBe('▁▁');
  });
});

describe('listenerWarnings', () => {
  const base = { lbId: 'lb-1', protocol: 'TCP', port: 80 };

  it('says nothing for a plain WRR listener', () => {
    expect(listenerWarnings({ ...base, scheduler: 'WRR', sessionExpireTime: 0, rescheduleInterval: 0, deregisterTargetRst: false, attrFlags: [] })).toEqual([]);
  });

  it('warns about session persistence, IP hash, rescheduling and reset on deregistration', () => {
    const w = listenerWarnings({ ...base, scheduler: 'IP_HASH', sessionExpireTime: 30, rescheduleInterval: 10, deregisterTargetRst: true });
    expect(w).toHaveLength(4);
    expect(w[0]).toContain('session persistence is on (30s)');
    expect(w[2]).toContain('CUTS long connections');
    expect(listenerWarnings({ ...base, attrFlags: ['RescheduleTargetZeroWeight'] })[0]).toContain('rescheduling is configured');
  });
});
