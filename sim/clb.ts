// The simulated CLB: load balancers, listeners and targets as the Tencent Cloud API reports them,
// a weighted L4 proxy per listener on a loopback VIP, health checks, and per-backend connection
// counts for Cloud Monitor. Weights change only when the service controller applies a change, one
// listener at a time. Health is per listener and per registered target: a new pod on a recycled IP
// starts unhealthy, and turns healthy after `healthyThreshold` passing checks in a row (HealthNum).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { DesiredListener } from './lb-weights.js';

export interface Target {
  pod: string;
  /** The pod's uid: a registration, not an address (a recycled IP is a new target). */
  uid: string;
  ip: string;
  port: number;
  weight: number;
  registeredTime: string;
}

export interface Listener {
  id: string;
  protocol: string;
  port: number;
  targets: Target[];
}

export interface LoadBalancer {
  id: string;
  name: string;
  vip: string;
  vpcId: string;
  numericalVpcId: number;
  service: string;
  listeners: Listener[];
}

export interface ClbOptions {
  /** How often each target is probed: healthy after `healthyThreshold` passes in a row, unhealthy after `unhealthyThreshold` failures in a row. */
  healthCheckIntervalMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** Length of one Cloud Monitor period (60 s in the cloud; shorter in tests). */
  monitorPeriodMs: number;
}

export const DEFAULT_CLB_OPTIONS: ClbOptions = { healthCheckIntervalMs: 1000, healthyThreshold: 3, unhealthyThreshold: 3, monitorPeriodMs: 60_000 };

interface Health {
  ip: string;
  port: number;
  healthy: boolean;
  passes: number;
  failures: number;
}

interface ConnBucket {
  start: number;
  sum: number;
  samples: number;
  max: number;
  min: number;
  /** The count at the last sample. */
  last: number;
}

const hex = (n: number) => randomBytes(n).toString('hex').slice(0, n * 2);
const backendKey = (ip: string, port: number) => `${ip}:${port}`;
const healthKey = (lbId: string, listenerId: string, t: Pick<Target, 'uid' | 'ip' | 'port'>) => `${lbId}/${listenerId}|${t.uid}|${backendKey(t.ip, t.port)}`;

export class Clb extends EventEmitter {
  readonly loadBalancers = new Map<string, LoadBalancer>();
  private readonly proxies = new Map<string, Server>(); // `${lb}/${listener}`
  private readonly health = new Map<string, Health>(); // healthKey
  private readonly active = new Map<string, number>(); // `${lb}|${ip}:${port}` -> open proxied connections
  private readonly monitor = new Map<string, ConnBucket[]>();
  private readonly sockets = new Set<Socket>();
  private readonly timers: NodeJS.Timeout[] = [];
  private nextVip = 1;
  /** When the sampler last ran: a gap in a series without a run in between is a stall, not a missing target. */
  private lastSampleAt = 0;
  private rr = new Map<string, number>();

  constructor(readonly options: ClbOptions = DEFAULT_CLB_OPTIONS) {
    super();
    this.timers.push(setInterval(() => void this.healthCheck(), options.healthCheckIntervalMs));
    this.timers.push(setInterval(() => this.sample(), Math.max(100, Math.min(1000, options.monitorPeriodMs / 10))));
  }

  /** Creates (or adopts, after a restart) the load balancer of a Service. */
  ensureLoadBalancer(service: string, id?: string): LoadBalancer {
    for (const lb of this.loadBalancers.values()) if (lb.service === service) return lb;
    const lb: LoadBalancer = {
      id: id ?? `lb-${hex(4)}`,
      name: service,
      vip: `127.20.${Math.floor(this.nextVip / 250)}.${(this.nextVip % 250) + 1}`,
      vpcId: 'vpc-sim00001',
      numericalVpcId: 4242,
      service,
      listeners: [],
    };
    this.nextVip++;
    this.loadBalancers.set(lb.id, lb);
    return lb;
  }

  /** Applies a whole sync at once: exactly these listeners (tests and the first sync). */
  async apply(lbId: string, desired: DesiredListener[]): Promise<void> {
    const lb = this.loadBalancers.get(lbId);
    if (!lb) return;
    for (const l of [...lb.listeners]) if (!desired.some((d) => d.protocol === l.protocol && d.port === l.port)) this.dropListener(lbId, l.protocol, l.port);
    for (const d of desired) await this.applyListener(lbId, d);
  }

  /** Applies one listener's targets and weights, creating the listener if it is new. */
  async applyListener(lbId: string, d: DesiredListener): Promise<void> {
    const lb = this.loadBalancers.get(lbId);
    if (!lb) return;
    const now = new Date().toISOString();
    const old = lb.listeners.find((l) => l.protocol === d.protocol && l.port === d.port);
    const listener: Listener = {
      id: old?.id ?? `lbl-${hex(4)}`,
      protocol: d.protocol,
      port: d.port,
      targets: d.targets.map((t) => {
        const prev = old?.targets.find((o) => o.uid === t.uid && o.ip === t.ip && o.port === t.port);
        return { pod: t.pod, uid: t.uid, ip: t.ip, port: t.port, weight: t.weight, registeredTime: prev?.registeredTime ?? now };
      }),
    };
    lb.listeners = old ? lb.listeners.map((l) => (l === old ? listener : l)) : [...lb.listeners, listener].sort((a, b) => a.port - b.port);
    const keys = new Set(listener.targets.map((t) => healthKey(lb.id, listener.id, t)));
    for (const key of [...this.health.keys()]) if (key.startsWith(`${lb.id}/${listener.id}|`) && !keys.has(key)) this.health.delete(key);
    for (const t of listener.targets) {
      const key = healthKey(lb.id, listener.id, t);
      if (!this.health.has(key)) this.health.set(key, { ip: t.ip, port: t.port, healthy: false, passes: 0, failures: 0 });
    }
    await this.ensureProxy(lb, listener);
    this.emit('applied', lb.id);
  }

  dropListener(lbId: string, protocol: string, port: number): void {
    const lb = this.loadBalancers.get(lbId);
    const l = lb?.listeners.find((x) => x.protocol === protocol && x.port === port);
    if (!lb || !l) return;
    this.closeProxy(`${lb.id}/${l.id}`);
    for (const key of [...this.health.keys()]) if (key.startsWith(`${lb.id}/${l.id}|`)) this.health.delete(key);
    lb.listeners = lb.listeners.filter((x) => x !== l);
  }

  remove(lbId: string): void {
    const lb = this.loadBalancers.get(lbId);
    if (!lb) return;
    for (const l of [...lb.listeners]) this.dropListener(lbId, l.protocol, l.port);
    this.loadBalancers.delete(lbId);
  }

  /** What the listener's health check says of a target now (false until it has passed enough checks). */
  isHealthy(lbId: string, listenerId: string, t: Pick<Target, 'uid' | 'ip' | 'port'>): boolean {
    return this.health.get(healthKey(lbId, listenerId, t))?.healthy ?? false;
  }

  /** Open LB-to-backend connections right now. */
  connections(lbId: string, ip: string, port: number): number {
    return this.active.get(`${lbId}|${backendKey(ip, port)}`) ?? 0;
  }

  /** Cloud Monitor ConNum points for one backend: only periods that have ended are reported. */
  conNumPoints(lbId: string, ip: string, port: number, fromMs: number, toMs: number): { start: number; avg: number; max: number; min: number }[] {
    const period = this.options.monitorPeriodMs;
    return (this.monitor.get(`${lbId}|${backendKey(ip, port)}`) ?? [])
      .filter((b) => b.start >= fromMs - period && b.start <= toMs && b.start + period <= Date.now() && b.samples > 0)
      .map((b) => ({ start: b.start, avg: Math.round((b.sum / b.samples) * 100) / 100, max: b.max, min: b.min }));
  }

  private sample(): void {
    const previous = this.lastSampleAt;
    this.lastSampleAt = Date.now();
    const period = this.options.monitorPeriodMs;
    const start = Math.floor(Date.now() / period) * period;
    for (const lb of this.loadBalancers.values()) {
      for (const l of lb.listeners) {
        for (const t of l.targets) {
          const key = `${lb.id}|${backendKey(t.ip, t.port)}`;
          const value = this.active.get(key) ?? 0;
          const series = this.monitor.get(key) ?? [];
          let bucket = series.at(-1);
          if (!bucket || bucket.start !== start) {
            // Periods the sampler missed while the event loop was busy (a stall of up to 3 periods)
            // had the count it last saw: nothing changed it meanwhile. A longer gap is a target that
            // was not registered (a recycled IP): no points, as in Cloud Monitor.
            const stalled = bucket && start - bucket.start <= 4 * period && previous < bucket.start + period;
            for (let missed = (bucket?.start ?? start) + period; stalled && missed < start; missed += period) {
              const last = bucket!.last;
              bucket = { start: missed, sum: last, samples: 1, max: last, min: last, last };
              series.push(bucket);
            }
            bucket = { start, sum: 0, samples: 0, max: value, min: value, last: value };
            series.push(bucket);
            while (series.length > 120) series.shift();
          }
          bucket.last = value;
          bucket.sum += value;
          bucket.samples++;
          bucket.max = Math.max(bucket.max, value);
          bucket.min = Math.min(bucket.min, value);
          this.monitor.set(key, series);
        }
      }
    }
  }

  private async healthCheck(): Promise<void> {
    let changed = false;
    await Promise.all(
      [...this.health.entries()].map(async ([key, h]) => {
        const ok = await new Promise<boolean>((resolve) => {
          const s = createConnection({ host: h.ip, port: h.port });
          s.setTimeout(500, () => s.destroy());
          s.once('connect', () => {
            s.destroy();
            resolve(true);
          });
          s.once('error', () => resolve(false));
          s.once('close', () => resolve(false));
        });
        if (this.health.get(key) !== h) return;
        if (ok) {
          h.failures = 0;
          h.passes++;
          if (!h.healthy && h.passes >= this.options.healthyThreshold) [h.healthy, changed] = [true, true];
        } else {
          h.passes = 0;
          h.failures++;
          if (h.healthy && h.failures >= this.options.unhealthyThreshold) [h.healthy, changed] = [false, true];
        }
      }),
    );
    if (changed) this.emit('health');
  }

  /** Smooth weighted round robin over targets with weight > 0 that pass health checks. */
  private pick(lbId: string, listener: Listener): Target | undefined {
    const candidates = listener.targets.filter((t) => t.weight > 0 && this.isHealthy(lbId, listener.id, t));
    const total = candidates.reduce((s, t) => s + t.weight, 0);
    if (total === 0) return undefined;
    const key = `${lbId}/${listener.id}`;
    const n = (this.rr.get(key) ?? 0) + 1;
    this.rr.set(key, n);
    let slot = n % total;
    for (const t of candidates) {
      if (slot < t.weight) return t;
      slot -= t.weight;
    }
    return candidates[0];
  }

  private async ensureProxy(lb: LoadBalancer, listener: Listener): Promise<void> {
    const key = `${lb.id}/${listener.id}`;
    if (this.proxies.has(key)) return;
    const server = createServer((client) => {
      this.sockets.add(client);
      client.once('close', () => this.sockets.delete(client));
      // Connections already open stay where they are; a new one goes by the weights of now.
      const current = lb.listeners.find((l) => l.id === listener.id);
      const target = current && this.pick(lb.id, current);
      if (!target) {
        client.destroy();
        return;
      }
      const activeKey = `${lb.id}|${backendKey(target.ip, target.port)}`;
      this.active.set(activeKey, (this.active.get(activeKey) ?? 0) + 1);
      const upstream = createConnection({ host: target.ip, port: target.port });
      this.sockets.add(upstream);
      let counted = true;
      const done = () => {
        if (counted) {
          counted = false;
          this.active.set(activeKey, (this.active.get(activeKey) ?? 1) - 1);
        }
      };
      upstream.once('close', () => {
        this.sockets.delete(upstream);
        done();
        client.destroy();
      });
      client.once('close', () => {
        done();
        upstream.destroy();
      });
      upstream.on('error', () => client.resetAndDestroy());
      client.on('error', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.proxies.set(key, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listener.port, lb.vip, () => resolve());
    });
  }

  private closeProxy(key: string): void {
    this.proxies.get(key)?.close();
    this.proxies.delete(key);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const key of [...this.proxies.keys()]) this.closeProxy(key);
    for (const s of this.sockets) s.destroy();
  }
}
