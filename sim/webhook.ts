// TKE's readiness-gate webhook: a real MutatingWebhook the apiserver calls over TLS on loopback.
// A pod created while a direct-access LoadBalancer Service of its namespace selects it gets the
// readiness gate `cloud.tencent.com/load-balancer-backendgroup-ready`; the service controller sets
// the condition True once the CLB has bound the pod and it passes the health checks. Only pods of
// the simulated node are sent here (objectSelector), so the rest of the cluster does not depend on
// the simulator being up.
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { READINESS_GATE, isDirectAccessLb, selects } from './controller.js';
import { SIM_KUBELET_LABEL, SIM_KUBELET_VALUE } from './kubelet.js';

const CONFIGURATION = 'zlu-sim-tke-readiness-gate';

/** A throwaway CA-less self-signed certificate for 127.0.0.1 (openssl, as scripts/e2e-cluster.sh uses). */
function selfSigned(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'zlu-webhook-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=zlu-sim-webhook', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The JSON patch that adds the gate to a pod selected by a direct-access LB Service, or none. */
export function readinessGatePatch(pod: V1Pod, services: V1Service[]): object[] {
  const labels = pod.metadata?.labels ?? {};
  const wanted = services.some((s) => isDirectAccessLb(s) && selects(s, labels));
  const gates = pod.spec?.readinessGates;
  if (!wanted || gates?.some((g) => g.conditionType === READINESS_GATE)) return [];
  return gates ? [{ op: 'add', path: '/spec/readinessGates/-', value: { conditionType: READINESS_GATE } }] : [{ op: 'add', path: '/spec/readinessGates', value: [{ conditionType: READINESS_GATE }] }];
}

export class ReadinessGateWebhook {
  private server?: Server;
  private registered = false;
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  /** Pods the webhook has mutated, by namespace/name (for tests). */
  readonly injected = new Set<string>();

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.admission = kc.makeApiClient(AdmissionregistrationV1Api);
  }

  async start(): Promise<void> {
    const { key, cert } = selfSigned();
    const server = createServer({ key, cert }, (req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        void this.review(body).then(
          (answer) => {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(answer));
          },
          (e) => {
            res.writeHead(500);
            res.end(String(e));
          },
        );
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as { port: number }).port;
    const body = {
      metadata: { name: CONFIGURATION },
      webhooks: [
        {
          name: 'readiness-gate.sim.zerolossupgrade.io',
          clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(cert).toString('base64') },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'], scope: 'Namespaced' }],
          objectSelector: { matchLabels: { [SIM_KUBELET_LABEL]: SIM_KUBELET_VALUE } },
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          timeoutSeconds: 5,
        },
      ],
    };
    // One simulator at a time: a configuration left by one that crashed is taken over.
    await this.admission.deleteMutatingWebhookConfiguration({ name: CONFIGURATION }).catch(() => undefined);
    await this.admission.createMutatingWebhookConfiguration({ body });
    this.registered = true;
  }

  private async review(text: string): Promise<object> {
    const review = JSON.parse(text) as { request: { uid: string; namespace: string; object: V1Pod } };
    const { uid, namespace, object: pod } = review.request;
    const services = (await this.core.listNamespacedService({ namespace })).items;
    const patch = readinessGatePatch(pod, services);
    if (patch.length > 0) this.injected.add(`${namespace}/${pod.metadata?.name ?? pod.metadata?.generateName}`);
    return {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid, allowed: true, ...(patch.length > 0 ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}) },
    };
  }

  async stop(): Promise<void> {
    // Only a registration this webhook made: a start that failed earlier leaves another's alone.
    if (this.registered) await this.admission.deleteMutatingWebhookConfiguration({ name: CONFIGURATION }).catch(() => undefined);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
