// The simulator: TKE's service controller, the CLB with its data plane, and the Tencent Cloud API,
// beside the local control plane. Test and demo infrastructure only: never part of the plugin.
import { KubeConfig } from '@kubernetes/client-node';
import { Backends, DEFAULT_BACKEND_OPTIONS, type BackendOptions } from './backends.js';
import { Clb, DEFAULT_CLB_OPTIONS, type ClbOptions } from './clb.js';
import { CloudApi, type CloudCredentials } from './cloud-api.js';
import { DEFAULT_CONTROLLER_OPTIONS, ServiceController, type ControllerOptions } from './controller.js';

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
  const controller = new ServiceController(kc, clb, backends, { ...DEFAULT_CONTROLLER_OPTIONS, ...o.controller });
  const api = new CloudApi(clb, o.credentials ?? SIM_CREDENTIALS);
  const apiEndpoint = await api.listen(o.apiPort ?? 0);
  await controller.start();
  return {
    clb,
    api,
    backends,
    controller,
    apiEndpoint,
    stop: async () => {
      await controller.stop();
      await api.close();
      await clb.close();
      await backends.close();
    },
  };
}
