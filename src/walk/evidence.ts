// The drain evidence of one command run: opens Tencent Cloud when credentials are at hand (or says
// why not), reads what the CLB, Cloud Monitor and the service controller say about the pods of a
// batch, and turns it into rows to show and verdicts to decide on. Reads only: it never changes
// the CLB (the TKE controller owns it) or the cluster.
import { regionFromNodeLabels } from '../cloud/credentials.js';
import { openCloud, type CloudOpener } from '../cloud/open.js';
import type { Cloud, CloudFlags, ConnQuery, LoadBalancerInfo } from '../cloud/types.js';
import { formatDuration } from '../core/duration.js';
import { ConfigError } from '../core/errors.js';
import {
  listenerName,
  listenerWarnings,
  podVerdict,
  sparkline,
  weightIsZero,
  type ConnSeries,
  type EvidenceRow,
  type EvidenceSummary,
  type EvidenceView,
  type ListenerRef,
  type Readings,
  type TargetReading,
} from '../core/evidence.js';
import type { UpgradeRecord } from '../core/upgrade.js';
import type { PodSnapshot } from '../core/workload.js';
import type { Cluster } from '../k8s/types.js';

export const LOADBALANCE_ID_ANNOTATION = 'service.kubernetes.io/loadbalance-id';
/** The readiness gate TKE's webhook injects: True once the CLB has bound the pod and it passes health checks. */
export const CLB_READINESS_GATE = 'cloud.tencent.com/load-balancer-backendgroup-ready';
/** How many monitor periods of history to read (for the trend and the zero-point run). */
const HISTORY_PERIODS = 12;

export interface EvidenceOptions extends CloudFlags {
  /** Proceed only on evidence: no confirmation on a verdict other than drained. */
  requireEvidence: boolean;
  zeroPoints: number;
  drainTimeoutMs: number;
  forceAfterTimeout: boolean;
  intervalMs: number;
}

const errorText = (e: unknown) => (e as Error).message ?? String(e);
const firstLine = (e: unknown) => errorText(e).split('\n')[0]!;

/** The service controller's Events on the recorded Services since the drain, one line each; its Warnings apart. */
export async function serviceControllerEvents(cluster: Cluster, record: UpgradeRecord, since: Date): Promise<{ events: string[]; warnings: string[] }> {
  const events: string[] = [];
  const warnings: string[] = [];
  for (const svc of record.services) {
    for (const e of await cluster.serviceEvents(svc.name, since)) {
      events.push(`service ${svc.name}: ${e.at} ${e.type} ${e.reason}: ${e.message}`);
      if (e.type === 'Warning') warnings.push(`${e.reason}: ${e.message}`);
    }
  }
  return { events, warnings };
}

function gateOf(pod: PodSnapshot | undefined): string {
  const gate = pod?.readinessGates.find((g) => g.type === CLB_READINESS_GATE);
  return gate ? (gate.ok ? 'True' : 'False') : 'not injected';
}

export class DrainEvidence {
  /** When weight 0 was first seen on every listener, per pod: connection points count from then. */
  private readonly zeroSince = new Map<string, number>();
  private readonly lbInfo = new Map<string, LoadBalancerInfo>();
  private controllerVersion?: string;

  private constructor(
    readonly options: EvidenceOptions,
    readonly cloud: Cloud | undefined,
    /** Why there is no evidence, when there is none. */
    readonly off: string | undefined,
  ) {}

  /**
   * Opens the cloud for this run. With --require-evidence, refuses (before anything changes) when
   * the evidence is off or the credentials are refused: an unattended walk must not start blind.
   */
  static async open(o: EvidenceOptions, cluster: Cluster, record: UpgradeRecord | undefined, pods: PodSnapshot[], opener: CloudOpener = openCloud): Promise<DrainEvidence> {
    const regionFromCluster = async () => {
      const node = pods.find((p) => p.node)?.node;
      return node ? regionFromNodeLabels(await cluster.nodeLabels(node)) : undefined;
    };
    const opened = await opener(o, regionFromCluster);
    const ev = 'cloud' in opened ? new DrainEvidence(o, opened.cloud, undefined) : new DrainEvidence(o, undefined, opened.off);
    if (o.requireEvidence) {
      if (!ev.cloud) throw new ConfigError(`--require-evidence: the drain evidence is off: ${ev.off}; nothing was changed`);
      try {
        // Before an upgrade is recorded (an undo about to start) no CLB is known yet: a read of
        // Cloud Monitor tests the credentials instead.
        if (record) await ev.loadBalancers(await ev.serviceListeners(cluster, record).then((ls) => ls.flatMap((l) => (l.lbId ? [l.lbId] : []))));
        else await ev.cloud.conNumPeriod('QCE/LB_PRIVATE');
      } catch (e) {
        throw new ConfigError(`--require-evidence: Tencent Cloud refused the first read: ${errorText(e)}; nothing was changed`);
      }
    }
    return ev;
  }

  /** No evidence for this run (a dry run reads nothing from the cloud). */
  static none(o: EvidenceOptions, why: string): DrainEvidence {
    return new DrainEvidence(o, undefined, why);
  }

  private async loadBalancers(ids: string[]): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.lbInfo.has(id));
    if (missing.length === 0 || !this.cloud) return;
    for (const lb of await this.cloud.loadBalancers(missing)) this.lbInfo.set(lb.id, lb);
  }

  /** Every listener of every recorded Service, with the CLB id the Service carries now. */
  private async serviceListeners(cluster: Cluster, record: UpgradeRecord): Promise<ListenerRef[]> {
    const out: ListenerRef[] = [];
    for (const svc of record.services) {
      // A Service deleted since it was recorded has no listeners left to read (discovery drops it).
      const service = await cluster.readService(svc.name).catch((e: unknown) => {
        if ((e as { kind?: string }).kind === 'services') return undefined;
        throw e;
      });
      if (!service) continue;
      const lbId = service.annotations[LOADBALANCE_ID_ANNOTATION];
      for (const p of svc.ports) out.push({ service: svc.name, lbId, protocol: p.proto, port: p.port });
    }
    return out;
  }

  /** Listener settings that change what weight 0 means, as warnings; a read error is a warning too. */
  async listenerWarnings(cluster: Cluster, record: UpgradeRecord): Promise<string[]> {
    if (!this.cloud) return [];
    const listeners = await this.serviceListeners(cluster, record);
    const warnings: string[] = [];
    for (const lbId of new Set(listeners.flatMap((l) => (l.lbId ? [l.lbId] : [])))) {
      try {
        for (const l of await this.cloud.listeners(lbId)) {
          if (listeners.some((x) => x.lbId === lbId && x.protocol === l.protocol && x.port === l.port)) warnings.push(...listenerWarnings(l));
        }
      } catch (e) {
        warnings.push(`could not read the listener settings of ${lbId}: ${errorText(e)}`);
      }
    }
    return warnings;
  }

  private async version(cluster: Cluster): Promise<string> {
    this.controllerVersion ??= await cluster.serviceControllerVersion().then(
      (v) => v ?? 'unknown (kube-system/tke-service-controller-config not found)',
      (e: unknown) => {
        // Optional (the second ClusterRole in docs/rbac.yaml): not readable is "unknown", saying which permission.
        if ((e as { status?: number }).status === 403) return `unknown (${firstLine(e)})`;
        throw e;
      },
    );
    return this.controllerVersion;
  }

  private async readTargets(lbIds: string[], ips: string[]): Promise<Readings<TargetReading[]>> {
    if (!this.cloud) return { error: `evidence is off: ${this.off}` };
    try {
      await this.loadBalancers(lbIds);
      // Every CLB at once (each is its own DescribeTargets), in the order of the listeners.
      const per = await Promise.all(lbIds.map((id) => this.cloud!.targets(id, ips)));
      return { ok: per.flat() };
    } catch (e) {
      return { error: errorText(e) };
    }
  }

  /** ConNum of every backend the targets name, at the smallest period, far enough back for the run of zeros. */
  private async readConnections(targets: TargetReading[], since: number, now: number): Promise<{ series: Readings<ConnSeries[]>; periodSeconds?: number }> {
    let periodSeconds: number | undefined;
    try {
      const queries: ConnQuery[] = [];
      for (const t of targets) {
        const lb = this.lbInfo.get(t.lbId);
        if (!lb) throw new Error(`CLB ${t.lbId} not found by DescribeLoadBalancers`);
        const namespace = lb.type === 'OPEN' ? 'QCE/LB_PUBLIC' : 'QCE/LB_PRIVATE';
        periodSeconds = await this.cloud!.conNumPeriod(namespace);
        // The backend-port view: the CLB instance, the listener, then the backend IP and port.
        const dimensions: Record<string, string> = { vip: lb.vips[0] ?? '' };
        if (namespace === 'QCE/LB_PRIVATE' && lb.vpcId) dimensions.vpcId = lb.vpcId;
        Object.assign(dimensions, { loadBalancerPort: String(t.port), protocol: t.protocol, lanIp: t.ip, port: String(t.targetPort) });
        queries.push({ namespace, periodSeconds, dimensions });
      }
      const periodMs = (periodSeconds ?? 60) * 1000;
      const from = new Date(Math.max(now - 120 * periodMs, Math.min(now - HISTORY_PERIODS * periodMs, since - periodMs)));
      const points = queries.length ? await this.cloud!.conNum(queries, from, new Date(now)) : [];
      return { series: { ok: targets.map((t, i) => ({ lbId: t.lbId, protocol: t.protocol, port: t.port, ip: t.ip, targetPort: t.targetPort, points: points[i] ?? [] })) }, periodSeconds };
    } catch (e) {
      return { series: { error: errorText(e) }, periodSeconds };
    }
  }

  /**
   * Reads the evidence for these ordinals, drained at `drainedAt`. With `connections` false, only
   * weights and health, no verdicts (for pods just back in service).
   */
  async read(cluster: Cluster, record: UpgradeRecord, pods: PodSnapshot[], ordinals: number[], drainedAt: Date, now: number, connections = true): Promise<EvidenceView> {
    const listeners = await this.serviceListeners(cluster, record);
    const { events, warnings } = await serviceControllerEvents(cluster, record, drainedAt);
    const members = ordinals.map((o) => ({ name: `${record.statefulSet}-${o}`, pod: pods.find((p) => p.ordinal === o) }));
    const targets = await this.readTargets(
      [...new Set(listeners.flatMap((l) => (l.lbId ? [l.lbId] : [])))],
      members.flatMap((m) => (m.pod?.ip ? [m.pod.ip] : [])),
    );

    // Weight 0 seen now starts (or keeps) each pod's count of connection points; anything else resets it.
    for (const name of this.zeroSince.keys()) if (!members.some((m) => m.name === name)) this.zeroSince.delete(name);
    for (const m of members) {
      if (!weightIsZero({ listeners, targets, ip: m.pod?.ip })) this.zeroSince.delete(m.name);
      else if (!this.zeroSince.has(m.name)) this.zeroSince.set(m.name, now);
    }

    let series: Readings<ConnSeries[]> = { ok: [] };
    let periodSeconds: number | undefined;
    if (connections) {
      if ('error' in targets) series = { error: targets.error };
      else ({ series, periodSeconds } = await this.readConnections(targets.ok, Math.min(drainedAt.getTime(), ...this.zeroSince.values()), now));
    }

    const periodMs = (periodSeconds ?? 60) * 1000;
    const rules = { zeroPoints: this.options.zeroPoints, periodMs, now };
    const rows: EvidenceRow[] = [];
    const verdicts: EvidenceView['verdicts'] = [];
    for (const m of members) {
      const ip = m.pod?.ip;
      const podSeries: Readings<ConnSeries[]> = 'error' in series ? series : { ok: series.ok.filter((s) => s.ip === ip) };
      if (connections) {
        const verdict = podVerdict({ pod: m.name, ip, listeners, targets, connections: podSeries, zeroWeightSince: this.zeroSince.get(m.name), controllerWarnings: warnings }, rules);
        verdicts.push({ pod: m.name, ip, gate: gateOf(m.pod), verdict });
      }
      for (const l of listeners) {
        const reading = 'ok' in targets ? targets.ok.find((t) => t.lbId === l.lbId && t.protocol === l.protocol && t.port === l.port && t.ip === ip) : undefined;
        const s = 'ok' in podSeries ? podSeries.ok.find((x) => x.lbId === l.lbId && x.protocol === l.protocol && x.port === l.port) : undefined;
        const last = s ? [...s.points].sort((a, b) => a.at - b.at).slice(-3) : [];
        rows.push({
          pod: m.name,
          listener: `${l.service} ${listenerName(l)}`,
          weight: 'error' in targets ? 'unknown' : reading ? (reading.weight ?? 'unknown') : 'not registered',
          healthy: reading?.healthy,
          connections: !connections ? '' : 'error' in podSeries ? 'unknown' : last.length ? last.map((p) => p.value).join(' ') : 'no data',
          trend: s ? sparkline(s.points, periodMs) : '',
        });
      }
    }
    return { at: now, periodSeconds, rows, verdicts, controllerVersion: await this.version(cluster), events };
  }

  /** What the record and the Event keep of a view. */
  summary(view: EvidenceView): EvidenceSummary {
    return {
      verdicts: view.verdicts.map((v) => ({ pod: v.pod, state: v.verdict.state, reasons: v.verdict.reasons })),
      zeroPoints: this.options.zeroPoints,
      periodSeconds: view.periodSeconds ?? 0,
    };
  }

  describeOff(): string {
    return `drain evidence: off (${this.off})`;
  }

  describeOn(): string {
    const o = this.options;
    return `drain evidence: Tencent Cloud ${this.cloud!.region}, credentials from the ${this.cloud!.credentialSource}; drained = weight 0 on every listener and ${o.zeroPoints} zero ConNum points in a row (--zero-points); --drain-timeout ${formatDuration(o.drainTimeoutMs)}`;
  }
}

export const allDrained = (view: EvidenceView) => view.verdicts.every((v) => v.verdict.state === 'drained');
