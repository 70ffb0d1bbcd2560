// The narrow view of the cluster that commands use. Type-only: importing it loads no client code.
import type { PodSnapshot, StatefulSetSnapshot } from '../core/workload.js';

export interface Cluster {
  readonly namespace: string;
  readStatefulSetWithPods(name: string): Promise<{ sts: StatefulSetSnapshot; pods: PodSnapshot[] }>;
}
