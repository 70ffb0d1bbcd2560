// Brings the local control plane up once for the e2e project and tears it down afterwards.
// No skipping: if the cluster cannot be built or started the run fails (use `npm run test:unit`
// for the quick loop without it).
import type { TestProject } from 'vitest/node';
import { cluster, clusterEnv, ensureBinary } from '../support/binary.js';

export default function setup(project: TestProject) {
  // The e2e tests run the shipped artefact.
  ensureBinary();
  const started = Date.now();
  cluster('up');
  process.stderr.write(`e2e: control plane up in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  const env = clusterEnv();
  project.provide('adminKubeconfig', env.KUBECONFIG!);
  project.provide('operatorKubeconfig', env.ZLU_OPERATOR_KUBECONFIG!);
  project.provide('nobodyKubeconfig', env.ZLU_NOBODY_KUBECONFIG!);
  project.provide('clusterBin', cluster('bin').trim());
  project.provide('auditLog', env.ZLU_AUDIT_LOG!);
  project.provide('prometheusUrl', env.ZLU_PROMETHEUS_URL!);
  project.provide('prometheusTargets', env.ZLU_PROMETHEUS_TARGETS!);
  return () => {
    cluster('down');
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminKubeconfig: string;
    operatorKubeconfig: string;
    nobodyKubeconfig: string;
    clusterBin: string;
    /** The API server's audit log of the operator's requests (the scale tests count calls). */
    auditLog: string;
    /** The real Prometheus the cluster script runs, and the folder of its file-based discovery. */
    prometheusUrl: string;
    prometheusTargets: string;
  }
}
