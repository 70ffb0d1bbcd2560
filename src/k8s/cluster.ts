// The only code that calls the Kubernetes API. Commands get a Cluster and never see client-node.
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { PodSnapshot, StatefulSetSnapshot } from '../core/workload.js';
import { connect, translateApiError, type ApiAction, type Connection } from './client.js';
import { selectorString, toPodSnapshots, toStatefulSetSnapshot } from './convert.js';
import type { ConnectionFlags } from './kubeconfig.js';
import type { Cluster } from './types.js';

export class KubeCluster implements Cluster {
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;

  constructor(private readonly conn: Connection) {
    this.apps = conn.api(AppsV1Api);
    this.core = conn.api(CoreV1Api);
  }

  get namespace(): string {
    return this.conn.namespace;
  }

  private async call<T>(action: Omit<ApiAction, 'server'>, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw translateApiError(e, { ...action, server: this.conn.server });
    }
  }

  async readStatefulSetWithPods(name: string): Promise<{ sts: StatefulSetSnapshot; pods: PodSnapshot[] }> {
    const namespace = this.namespace;
    const raw = await this.call({ verb: 'get', resource: 'statefulsets', name, namespace }, () =>
      this.apps.readNamespacedStatefulSet({ name, namespace }),
    );
    const sts = toStatefulSetSnapshot(raw);
    // One list call with the StatefulSet's selector, whatever the replica count.
    const list = await this.call({ verb: 'list', resource: 'pods', namespace }, () =>
      this.core.listNamespacedPod({ namespace, labelSelector: selectorString(raw.spec?.selector) }),
    );
    return { sts, pods: toPodSnapshots(sts, list.items) };
  }
}

export function openCluster(flags: ConnectionFlags): Cluster {
  return new KubeCluster(connect(flags));
}
