// Scale benchmark: the walk, `status` and the record at 10, 100 and 1,000 replicas on kwok's nodes,
// batches of 10% of the replicas, --min-drain 1s. API calls are counted in the API server's audit
// log (the operator's own requests); a batch's overhead is its wall time less what it was told to
// wait (--min-drain) and its watches for pods the controller brings back. `kubectl get
// statefulset,pods` over the same pods is the baseline of `status`, in the same invocation.
// Prints a table and, as the last line,
// {"sizes":[{"replicas","callsPerBatch","overheadSecondsPerBatch","statusMs","statusCalls","recordBytes",...}],"callsRatio1000to10":...}
//   npm run bench:scale   (BENCH_SCALE_SIZES=10,100 for fewer)
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { join } from 'node:path';
import { openTencentCloud } from '../src/cloud/tencent.js';
import { Clb } from '../sim/clb.js';
import { CloudApi } from '../sim/cloud-api.js';
import { AuditLog, tally, type AuditedCall } from '../test/support/audit.js';
import { benchCluster, binary, cluster, runProgram as run } from '../test/support/binary.js';

const RECORD = 'zerolossupgrade.io/upgrade';
/** Batches walked and timed per size (the first is not counted: it warms the caches). */
const BATCHES = 3;
const STATUS_RUNS = 5;
const EVIDENCE_LATENCY_MS = 50;

interface Size {
  replicas: number;
  batch: number;
  callsPerBatch: number;
  /** Calls of a batch besides its evictions (one per pod: the API has no bulk eviction). */
  callsPerBatchBesidesEvictions: number;
  overheadSecondsPerBatch: number;
  secondsPerBatch: number;
  statusMs: number;
  statusCalls: number;
  kubectlGetMs: number;
  recordBytes: number;
  calls: Record<string, number>;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * The drain evidence of a batch of 100 pods on two listeners through the official SDK against the
 * simulated Tencent Cloud API (loopback, enforcing the documented 20 requests a second, each answer
 * EVIDENCE_LATENCY_MS late): the plugin's parallel read, and the same requests one at a time.
 */
async function evidenceRead(): Promise<{ parallelMs: number; sequentialMs: number; requests: number }> {
  const credentials = { secretId: 'AKIDbenchscale000000000000000000', secretKey: 'bench-scale-key-not-a-secret-000' };
  const clb = new Clb({ healthCheckIntervalMs: 60_000, healthyThreshold: 1, unhealthyThreshold: 1, monitorPeriodMs: 1000 });
  const api = new CloudApi(clb, credentials);
  // Each answer 50 ms late: a request to the Tencent Cloud API from inside its region, roughly.
  api.latencyMs = EVIDENCE_LATENCY_MS;
  try {
    const endpoint = `http://${await api.listen()}`;
    const lb = clb.ensureLoadBalancer('bench/gw');
    const targets = Array.from({ length: 100 }, (_, i) => ({ pod: `gw-${i}`, uid: `u${i}`, ip: `127.10.9.${i + 1}`, port: 8080, weight: 0 }));
    await clb.apply(lb.id, [80, 443].map((port) => ({ protocol: 'TCP', port, targets })));
    process.env.TENCENTCLOUD_SECRET_ID = credentials.secretId;
    process.env.TENCENTCLOUD_SECRET_KEY = credentials.secretKey;
    const opened = await openTencentCloud({ mode: 'env', region: 'ap-guangzhou', endpoint });
    if (!('cloud' in opened)) throw new Error(opened.off);
    const cloud = opened.cloud;
    const info = (await cloud.loadBalancers([lb.id]))[0]!;
    const queries = [80, 443].flatMap((port) => targets.map((t) => ({ namespace: 'QCE/LB_PRIVATE', periodSeconds: 1, dimensions: { vip: info.vips[0]!, vpcId: info.vpcId ?? '', loadBalancerPort: String(port), protocol: 'TCP', lanIp: t.ip, port: '8080' } })));
    const from = new Date(Date.now() - 60_000);
    const before = api.calls.length;
    let t = performance.now();
    await Promise.all([cloud.targets(lb.id, targets.map((x) => x.ip)), cloud.conNum(queries, from, new Date())]);
    const parallelMs = performance.now() - t;
    const requests = api.calls.length - before;
    await new Promise((r) => setTimeout(r, 1500)); // the rate window empties
    t = performance.now();
    await cloud.targets(lb.id, targets.map((x) => x.ip));
    for (let k = 0; k < queries.length; k += 10) await cloud.conNum(queries.slice(k, k + 10), from, new Date());
    return { parallelMs: Math.round(parallelMs), sequentialMs: Math.round(performance.now() - t), requests };
  } finally {
    await api.close();
    await clb.close();
  }
}

async function main() {
  const evidence = await evidenceRead();
  process.stderr.write(`bench:scale: evidence of 100 pods on 2 listeners (${EVIDENCE_LATENCY_MS} ms an answer): ${evidence.parallelMs} ms in parallel, ${evidence.sequentialMs} ms one request at a time (${evidence.requests} requests)\n`);
  const { env, kc, release } = benchCluster();
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const audit = new AuditLog(env.ZLU_AUDIT_LOG!);
  const operator = { PATH: process.env.PATH, HOME: process.env.HOME, KUBECONFIG: env.ZLU_OPERATOR_KUBECONFIG };
  const kubectl = join(cluster('bin').trim(), 'kubectl');
  const sizes = (process.env.BENCH_SCALE_SIZES ?? '10,100,1000').split(',').map(Number);
  const results: Size[] = [];
  const namespaces: string[] = [];
  try {
    for (const replicas of sizes) {
      const ns = `bench-scale-${replicas}-${Date.now().toString(36)}`;
      namespaces.push(ns);
      const batch = Math.max(1, Math.round(replicas / 10));
      await core.createNamespace({ body: { metadata: { name: ns } } });
      await core.createNamespacedService({
        namespace: ns,
        body: { metadata: { name: 'gw', annotations: { 'service.cloud.tencent.com/direct-access': 'true' } }, spec: { type: 'LoadBalancer', selector: { app: 'gw' }, ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP' }] } },
      });
      await apps.createNamespacedStatefulSet({
        namespace: ns,
        body: {
          metadata: { name: 'gw' },
          spec: {
            replicas, podManagementPolicy: 'Parallel', serviceName: 'gw', selector: { matchLabels: { app: 'gw' } }, updateStrategy: { type: 'OnDelete' },
            template: { metadata: { labels: { app: 'gw' } }, spec: { nodeSelector: { type: 'kwok' }, containers: [{ name: 'app', image: 'gw:1', ports: [{ containerPort: 80 }] }], terminationGracePeriodSeconds: 5 } },
          },
        },
      });
      for (const deadline = Date.now() + 600_000; ; ) {
        const s = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: ns });
        if (s.status?.readyReplicas === replicas && s.status.observedGeneration === s.metadata?.generation) break;
        if (Date.now() > deadline) throw new Error(`${replicas} replicas not Ready in 10 minutes`);
        await new Promise((r) => setTimeout(r, 1000));
      }
      const plugin = async (args: string[]) => {
        const r = await run(binary, [...args, '-n', ns], operator);
        if (r.code !== 0 && r.code !== 4) throw new Error(`${args.join(' ')} (exit ${r.code}): ${r.stderr}`);
        return r;
      };
      await plugin(['start', 'gw', '--image', 'app=gw:2', '--batch', String(batch), '--timeout', '10m']);
      const batches: { calls: AuditedCall[]; ms: number }[] = [];
      let recordBytes = 0;
      for (let i = 0; i < BATCHES; i++) {
        const mark = audit.mark();
        const r = await plugin(['next', 'gw', '--yes', '--min-drain', '1s', '--timeout', '10m', '--cloud-credentials', 'off', '--batches', '1']);
        batches.push({ calls: audit.callsSince(mark, ns), ms: r.ms });
        const sts = await apps.readNamespacedStatefulSet({ name: 'gw', namespace: ns });
        recordBytes = Math.max(recordBytes, Buffer.byteLength(sts.metadata?.annotations?.[RECORD] ?? ''));
      }
      const counted = batches.slice(1);
      const watchMs = (calls: AuditedCall[]) => calls.filter((c) => c.verb === 'watch').reduce((n, c) => n + (c.completedAt - c.receivedAt), 0);
      const statusRuns: { ms: number; calls: number }[] = [];
      const kubectlRuns: number[] = [];
      for (let i = 0; i < STATUS_RUNS; i++) {
        const mark = audit.mark();
        const s = await plugin(['status', 'gw']);
        statusRuns.push({ ms: s.ms, calls: audit.callsSince(mark, ns).length });
        kubectlRuns.push((await run(kubectl, ['--kubeconfig', env.ZLU_OPERATOR_KUBECONFIG!, 'get', 'statefulset,pods', '-n', ns], operator)).ms);
      }
      const size: Size = {
        replicas,
        batch,
        callsPerBatch: median(counted.map((b) => b.calls.length)),
        callsPerBatchBesidesEvictions: median(counted.map((b) => b.calls.filter((c) => c.resource !== 'pods/eviction').length)),
        overheadSecondsPerBatch: Number((median(counted.map((b) => b.ms - 1000 - watchMs(b.calls))) / 1000).toFixed(2)),
        secondsPerBatch: Number((median(counted.map((b) => b.ms)) / 1000).toFixed(2)),
        statusMs: Math.round(median(statusRuns.map((s) => s.ms))),
        statusCalls: median(statusRuns.map((s) => s.calls)),
        kubectlGetMs: Math.round(median(kubectlRuns)),
        recordBytes,
        calls: tally(counted[counted.length - 1]!.calls),
      };
      results.push(size);
      process.stderr.write(`bench:scale: ${replicas} replicas, batch ${batch}: ${size.callsPerBatch} calls/batch (${size.callsPerBatchBesidesEvictions} besides evictions), overhead ${size.overheadSecondsPerBatch}s of ${size.secondsPerBatch}s; status ${size.statusMs} ms, ${size.statusCalls} calls (kubectl get ${size.kubectlGetMs} ms); record ${recordBytes} B\n`);
      process.stderr.write(`  ${JSON.stringify(size.calls)}\n`);
      await core.deleteNamespace({ name: ns });
    }
  } finally {
    for (const ns of namespaces) await core.deleteNamespace({ name: ns }).catch(() => undefined);
    release();
  }
  const at = (n: number) => results.find((r) => r.replicas === n);
  const ratio = (f: (s: Size) => number) => (at(1000) && at(10) ? Number((f(at(1000)!) / f(at(10)!)).toFixed(2)) : null);
  console.log('| replicas | batch | calls/batch | besides evictions | overhead s/batch | s/batch | status ms | status calls | kubectl get ms | record bytes |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of results) console.log(`| ${s.replicas} | ${s.batch} | ${s.callsPerBatch} | ${s.callsPerBatchBesidesEvictions} | ${s.overheadSecondsPerBatch} | ${s.secondsPerBatch} | ${s.statusMs} | ${s.statusCalls} | ${s.kubectlGetMs} | ${s.recordBytes} |`);
  console.log(`\nevidence of 100 pods on 2 listeners, ${EVIDENCE_LATENCY_MS} ms an answer: ${evidence.parallelMs} ms in parallel vs ${evidence.sequentialMs} ms one request at a time (${evidence.requests} requests; ratio ${(evidence.parallelMs / evidence.sequentialMs).toFixed(2)})`);
  console.log(JSON.stringify({ sizes: results.map(({ calls: _, ...s }) => s), evidence, callsRatio1000to10: ratio((s) => s.callsPerBatch), callsBesidesEvictionsRatio1000to10: ratio((s) => s.callsPerBatchBesidesEvictions), statusCallsRatio1000to10: ratio((s) => s.statusCalls) }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
