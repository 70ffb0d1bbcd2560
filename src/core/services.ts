// Which Services send traffic to a StatefulSet's pods, and what the plugin may do about each. Pure.
import { RS_WEIGHT_ANNOTATION, parseRsWeight, RsWeightError } from './rs-weight.js';
import { selectsStatefulSet, type PodSnapshot, type ServiceSnapshot, type StatefulSetSnapshot } from './workload.js';

export const DIRECT_ACCESS_ANNOTATION = 'service.cloud.tencent.com/direct-access';

export interface ServiceClasses {
  /** Direct-access LoadBalancers whose lb-rs-weight the walk sets: their traffic is drained. */
  managed: ServiceSnapshot[];
  /** LoadBalancers without direct access: CLB weights do not act on them (a warning). */
  indirect: ServiceSnapshot[];
  /** Direct-access LoadBalancers left out by --service: deleting behind them would lose their traffic. */
  excluded: ServiceSnapshot[];
}

/** Sorts the LoadBalancer Services that select the StatefulSet's template or any live pod. */
export function classifyServices(all: ServiceSnapshot[], sts: Pick<StatefulSetSnapshot, 'podLabels'>, pods: Pick<PodSnapshot, 'labels'>[], named?: string[]): ServiceClasses {
  const selecting = all.filter((s) => s.type === 'LoadBalancer' && selectsStatefulSet(s, sts, pods));
  const direct = selecting.filter((s) => s.annotations[DIRECT_ACCESS_ANNOTATION] === 'true');
  return {
    managed: named ? direct.filter((s) => named.includes(s.name)) : direct,
    indirect: selecting.filter((s) => s.annotations[DIRECT_ACCESS_ANNOTATION] !== 'true'),
    excluded: named ? direct.filter((s) => !named.includes(s.name)) : [],
  };
}

/** The warning for a LoadBalancer that selects the pods without direct access. */
export const indirectWarning = (s: Pick<ServiceSnapshot, 'name'>) =>
  `service "${s.name}" (LoadBalancer) selects these pods without ${DIRECT_ACCESS_ANNOTATION}: CLB weights do not act on it, so its connections are not drained`;

/** The reason a Service's lb-rs-weight cannot be merged into, or undefined. */
export function malformedWeights(s: ServiceSnapshot): string | undefined {
  const value = s.annotations[RS_WEIGHT_ANNOTATION];
  if (value === undefined) return undefined;
  try {
    parseRsWeight(value);
    return undefined;
  } catch (e) {
    if (e instanceof RsWeightError) return e.message;
    throw e;
  }
}

// Field managers of tools that put objects back as Git (or a chart) says: they revert a drain.
const RECONCILERS = /argo|flux|kustomize|helm|kapp|fleet|gitops|rancher|pulumi|terraform|crossplane/i;

/** Managers of tools that re-apply this Service's annotations (from managedFields). */
export function reconcilingWriters(s: ServiceSnapshot): string[] {
  return [...new Set(Object.values(s.annotationWriters).filter((m) => RECONCILERS.test(m)))];
}
