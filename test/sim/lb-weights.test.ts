import { describe, expect, it } from 'vitest';
import { DEFAULT_CONTROLLER_OPTIONS, syncDelay } from '../../sim/controller.js';
import { seeded } from '../../sim/random.js';
import { desiredListeners, parseWeightConfig, type ServicePortSpec, type SimPod } from '../../sim/lb-weights.js';

const pod = (sts: string, ordinal: number, extra: Partial<SimPod> = {}): SimPod => ({
  name: `${sts}-${ordinal}`, namespace: 'd', uid: `${sts}-${ordinal}-uid`, ip: `127.10.0.${ordinal + 1}`,
  labels: { app: 'x' }, statefulSet: sts, ordinal, deleting: false,
  ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'admin', containerPort: 9090, protocol: 'TCP' }],
  image: 'nginx:1', terminationGracePeriodSeconds: 30, termination: 'graceful', ...extra,
});
const http: ServicePortSpec = { protocol: 'TCP', port: 80, targetPort: 8080 };
const admin: ServicePortSpec = { protocol: 'TCP', port: 8081, targetPort: 'admin' };
const weights = (ls: ReturnType<typeof desiredListeners>) => ls.map((l) => `${l.protocol}:${l.port} ${l.targets.map((t) => `${t.pod}@${t.port}=${t.weight}`).join(' ')}`);

describe('desiredListeners (the TKE controller reading lb-rs-weight)', () => {
  const pods = [pod('gw', 0), pod('gw', 1), pod('gw', 2)];

  it.each([
    ['no annotation: every pod weight 10', undefined, ['TCP:80 gw-0@8080=10 gw-1@8080=10 gw-2@8080=10']],
    [
      'listed ordinals get their weight, others defaultWeight',
      '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[0,2]}]}]}]}',
      ['TCP:80 gw-0@8080=0 gw-1@8080=10 gw-2@8080=0'],
    ],
    [
      'defaultWeight absent means 10',
      '{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]}]}',
      ['TCP:80 gw-0@8080=10 gw-1@8080=0 gw-2@8080=10'],
    ],
    [
      'defaultWeight applies to unlisted pods',
      '{"defaultWeight":50,"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]}]}',
      ['TCP:80 gw-0@8080=50 gw-1@8080=0 gw-2@8080=50'],
    ],
    [
      'a group for another port does not touch this one',
      '{"defaultWeight":10,"groups":[{"key":{"proto":"TCP","port":443},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[0]}]}]}]}',
      ['TCP:80 gw-0@8080=10 gw-1@8080=10 gw-2@8080=10'],
    ],
    [
      'proto is matched without regard to case',
      '{"groups":[{"key":{"proto":"tcp","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[0]}]}]}]}',
      ['TCP:80 gw-0@8080=0 gw-1@8080=10 gw-2@8080=10'],
    ],
    [
      'another StatefulSet\'s entry does not touch these pods',
      '{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"other","weights":[{"weight":0,"podIndexes":[0,1,2]}]}]}]}',
      ['TCP:80 gw-0@8080=10 gw-1@8080=10 gw-2@8080=10'],
    ],
  ])('%s', (_, annotation, expected) => {
    expect(weights(desiredListeners([http], pods, annotation))).toEqual(expected);
  });

  it('multi-port: one listener per Service port, named targetPort resolved per pod, groups per port', () => {
    const a = '{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[0]}]}]},{"key":{"proto":"TCP","port":8081},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]}]}]}';
    expect(weights(desiredListeners([http, admin], pods, a))).toEqual([
      'TCP:80 gw-0@8080=0 gw-1@8080=10 gw-2@8080=10',
      'TCP:8081 gw-0@9090=10 gw-1@9090=0 gw-2@9090=10',
    ]);
  });

  it('several StatefulSets in one annotation, each by its own ordinals', () => {
    const a = '{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":[1]}]},{"name":"edge","weights":[{"weight":0,"podIndexes":[0]},{"weight":30,"podIndexes":[1]}]}]}]}';
    const mixed = [pod('gw', 0), pod('gw', 1), pod('edge', 0, { ip: '127.10.1.1' }), pod('edge', 1, { ip: '127.10.1.2' })];
    expect(weights(desiredListeners([http], mixed, a))).toEqual(['TCP:80 edge-0@8080=0 edge-1@8080=30 gw-0@8080=10 gw-1@8080=0']);
  });

  it('a terminating pod gets weight 0 whatever the annotation says; pods without an IP are not targets', () => {
    const ls = desiredListeners([http], [pod('gw', 0, { deleting: true }), pod('gw', 1, { ip: undefined }), pod('gw', 2)], undefined);
    expect(weights(ls)).toEqual(['TCP:80 gw-0@8080=0 gw-2@8080=10']);
  });
});

describe('parseWeightConfig refuses what the controller would reject', () => {
  it.each([
    ['{', /not valid JSON/],
    ['[]', /must be a JSON object/],
    ['{"defaultWeight":101}', /defaultWeight must be an integer from 0 to 100/],
    ['{"defaultWeight":"10"}', /defaultWeight/],
    ['{"groups":{}}', /groups must be an array/],
    ['{"groups":[{"key":{"proto":"TCP"}}]}', /groups\[0\]\.key needs proto/],
    ['{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":-1,"podIndexes":[0]}]}]}]}', /weights\[0\]\.weight/],
    ['{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"name":"gw","weights":[{"weight":0,"podIndexes":["0"]}]}]}]}', /podIndexes must be an array of ordinals/],
    ['{"groups":[{"key":{"proto":"TCP","port":80},"statefulSets":[{"weights":[]}]}]}', /name must be a non-empty string/],
  ])('%s', (text, message) => {
    expect(() => parseWeightConfig(text)).toThrow(message);
  });
});

describe('the service controller\'s sync delays', () => {
  const o = { ...DEFAULT_CONTROLLER_OPTIONS, propagationDelayMs: 2000, jitterMs: 500, slowSyncRate: 0.1, slowSyncMs: [16_000, 40_000] as [number, number] };
  const draw = (seed: number, n: number) => {
    const random = seeded(seed);
    return Array.from({ length: n }, () => syncDelay(random, o));
  };

  it('are mostly the usual delay with jitter, with a long tail well above a 15 s drain', () => {
    const delays = draw(7, 2000);
    const usual = delays.filter((d) => d >= 1500 && d <= 2500);
    const slow = delays.filter((d) => d >= 16_000 && d <= 40_000);
    expect(usual.length + slow.length).toBe(2000);
    expect(slow.length).toBeGreaterThan(140);
    expect(slow.length).toBeLessThan(260);
  });

  it('come from the seed: the same seed, the same delays; another seed, others', () => {
    expect(draw(3, 50)).toEqual(draw(3, 50));
    expect(draw(3, 50)).not.toEqual(draw(4, 50));
  });

  it('are never slow when the slow rate is 0', () => {
    const random = seeded(1);
    const delays = Array.from({ length: 500 }, () => syncDelay(random, { ...o, slowSyncRate: 0 }));
    expect(Math.max(...delays)).toBeLessThanOrEqual(2500);
  });
});
