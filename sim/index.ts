// The simulator: TKE's service controller and readiness-gate webhook, the CLB with its data plane,
// the Tencent Cloud API, and the kubelet of the node the workloads' pods run on, beside the local
// control plane. Test and demo infrastructure only: never part of the plugin.
import { KubeConfig } from '@kubernetes/client-node';
import { Backends, DEFAULT_BACKEND_OPTIONS, type BackendOptions } from './backends.js';
import { Clb, DEFAULT_CLB_OPTIONS, type ClbOptions } from './clb.js';
import { CloudApi, type CloudCredentials } from './cloud-api.js';
import { DEFAULT_CONTROLLER_OPTIONS, ServiceController, type ControllerOptions } from './controller.js';
import { Kubelet, toSimPod } from './kubelet.js';
import { ReadinessGateWebhook } from './webhook.js';

export interface SimulatorOptions {
  kubeconfig: string;
  controller?: Partial<ControllerOptions>;
  clb?: Partial<ClbOptions>;
  backends?: Partial<BackendOptions>;
  credentials?: CloudCredentials;
  apiPort?: number;
}

export interface Simulator {
  clb: Clb;
  api: CloudApi;
  backends: Backends;
  controller: ServiceController;
  kubelet: Kubelet;
  webhook: ReadinessGateWebhook;
  /** host:port of the fake Tencent Cloud API. */
  apiEndpoint: string;
  stop(): Promise<void>;
}

export const SIM_CREDENTIALS: CloudCredentials = { secretId: 'AKIDsimulator0000000000000000000', secretKey: 'simulator-secret-key-not-real-000' };

export async function startSimulator(o: SimulatorOptions): Promise<Simulator> {
  const kc = new KubeConfig();
  kc.loadFromFile(o.kubeconfig);
  const clb = new Clb({ ...DEFAULT_CLB_OPTIONS, ...o.clb });
  const backends = new Backends({ ...DEFAULT_BACKEND_OPTIONS, ...o.backends });
  const controller = new ServiceController(kc, clb, { ...DEFAULT_CONTROLLER_OPTIONS, ...o.controller });
  const kubelet = new Kubelet(kc, backends, (pod) => controller.auditDeletion(pod.metadata?.uid ?? '', toSimPod(pod)));
  const webhook = new ReadinessGateWebhook(kc);
  const api = new CloudApi(clb, o.credentials ?? SIM_CREDENTIALS);
  const stop = async () => {
    await controller.stop();
    await kubelet.stop();
    await webhook.stop();
    await api.close();
    await clb.close();
    await backends.close();
  };
  let apiEndpoint: string;
  try {
    apiEndpoint = await api.listen(o.apiPort ?? 0);
    await webhook.start();
    await kubelet.start();
    await controller.start();
  } catch (e) {
    // Whatever started is stopped again (timers, servers, the webhook's registration).
    await stop().catch(() => undefined);
    throw e;
  }
  return {
    clb,
    api,
    backends,
    controller,
    kubelet,
    webhook,
    apiEndpoint,
    stop,
  };
}
