// The pods' containers: a real HTTP/1.1 keep-alive server on each pod IP and container port,
// answering short requests with the pod name and image, and long-lived streams on /stream. Each
// counts its requests by status code on /metrics, for Prometheus; an image whose tag ends in `-bad`
// is a release with a hidden bug: every 20th short request answers 500 while every health check
// (a TCP connect) passes. The
// simulated kubelet starts one per pod and sends it SIGTERM when the pod is deleted; how the
// application takes SIGTERM is the workload's (seed failure scenarios 1 and 2):
//   graceful  stops accepting, finishes requests in flight (answering `Connection: close`), closes
//             idle keep-alive connections, keeps streams until their clients end them; exits when
//             nothing is left, or is killed at the end of the grace period
//   abrupt    closes everything at once and exits
//   ignore    carries on serving (and accepting) until killed at the end of the grace period
import { renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SimPod } from './lb-weights.js';

export type Termination = 'graceful' | 'abrupt' | 'ignore';
export const TERMINATIONS: readonly Termination[] = ['graceful', 'abrupt', 'ignore'];

interface Container {
  pod: SimPod;
  servers: Server[];
  /** The application has booted (start-up delay over): a container without ports is ready then. */
  booted: boolean;
  bound: number;
  sockets: Set<Socket>;
  /** Requests answered, by status code (what /metrics exposes). */
  answered: Map<number, number>;
  terminating: boolean;
  timers: Set<NodeJS.Timeout>;
  onExit?: () => void;
}

export interface BackendOptions {
  /** Time each short request takes, so that requests are really in flight. */
  responseDelayMs: number;
  /** Time a new container takes to start listening (the application booting). */
  startupDelayMs: number;
  /** How often a stream writes to its client. */
  streamTickMs: number;
  /** Where to write the listening containers as Prometheus file-based discovery targets (none: not written). */
  targetsFile?: string;
}

export const DEFAULT_BACKEND_OPTIONS: BackendOptions = { responseDelayMs: 5, startupDelayMs: 1000, streamTickMs: 250 };

/** A release with a hidden bug (see above): the share of its short requests that answer 500 is 1 in this. */
export const BAD_IMAGE_ERROR_EVERY = 20;
export const isBadImage = (image: string) => image.endsWith('-bad');

export class Backends {
  private readonly containers = new Map<string, Container>(); // pod uid

  constructor(private readonly options: BackendOptions = DEFAULT_BACKEND_OPTIONS) {}

  /** Starts the container of a pod that has an IP; it listens after the start-up delay. */
  start(pod: SimPod): void {
    if (this.containers.has(pod.uid) || !pod.ip) return;
    const c: Container = { pod, servers: [], booted: false, bound: 0, sockets: new Set(), answered: new Map(), terminating: false, timers: new Set() };
    this.containers.set(pod.uid, c);
    const ports = pod.ports.filter((p) => p.protocol === 'TCP');
    for (let i = 0; i < ports.length; i++) {
      const server = createServer({ keepAlive: true }, (req, res) => this.serve(c, req, res));
      server.keepAliveTimeout = 60_000;
      server.on('connection', (s: Socket) => {
        c.sockets.add(s);
        s.once('close', () => {
          c.sockets.delete(s);
          if (c.terminating && c.sockets.size === 0 && this.graceful(c)) this.exit(c);
        });
      });
      c.servers.push(server);
    }
    this.after(c, this.options.startupDelayMs, () => {
      c.booted = true;
      for (const [i, server] of c.servers.entries()) this.listen(server, pod.ip!, ports[i]!.containerPort, c, 0);
    });
  }

  /** Whether the pod's container is up and listening on every port (what a TCP readiness probe sees). */
  listening(uid: string): boolean {
    const c = this.containers.get(uid);
    return !!c && c.booted && c.bound === c.servers.length && (!c.terminating || c.pod.termination === 'ignore');
  }

  /** Whether the pod's container is still running (serving or terminating). */
  running(uid: string): boolean {
    return this.containers.has(uid);
  }

  /** SIGTERM, then SIGKILL after `graceSeconds`; `onExit` runs once the process is gone. */
  terminate(uid: string, graceSeconds: number, onExit: () => void): void {
    const c = this.containers.get(uid);
    if (!c) return onExit();
    if (c.terminating) return;
    c.terminating = true;
    c.onExit = onExit;
    this.after(c, graceSeconds * 1000, () => this.exit(c));
    const mode = c.pod.termination;
    if (mode === 'ignore') return;
    for (const s of c.servers) {
      s.close(); // stop accepting
      s.closeIdleConnections();
    }
    if (mode === 'abrupt') return this.exit(c);
    if (c.sockets.size === 0) this.exit(c);
  }

  private graceful(c: Container): boolean {
    return c.pod.termination === 'graceful';
  }

  private serve(c: Container, req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    if (req.url === '/metrics') {
      const lines = ['# TYPE sim_http_requests_total counter', ...[...c.answered].map(([code, n]) => `sim_http_requests_total{code="${code}"} ${n}`)];
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`${lines.join('\n')}\n`);
      return;
    }
    if (req.url === '/stream') {
      this.count(c, 200);
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      res.write(`${JSON.stringify({ pod: c.pod.name })}\n`);
      const tick = setInterval(() => res.write('.\n'), this.options.streamTickMs);
      c.timers.add(tick);
      res.once('close', () => {
        clearInterval(tick);
        c.timers.delete(tick);
      });
      return;
    }
    this.after(c, this.options.responseDelayMs, () => {
      const body = JSON.stringify({ pod: c.pod.name, image: c.pod.image });
      // A terminating graceful container answers what it already accepted, then closes the connection.
      const closing = c.terminating && this.graceful(c);
      const served = [...c.answered.values()].reduce((a, b) => a + b, 0);
      const status = isBadImage(c.pod.image) && served % BAD_IMAGE_ERROR_EVERY === BAD_IMAGE_ERROR_EVERY - 1 ? 500 : 200;
      this.count(c, status);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(closing ? { connection: 'close' } : {}) });
      res.end(body);
    });
  }

  private count(c: Container, status: number): void {
    c.answered.set(status, (c.answered.get(status) ?? 0) + 1);
  }

  /** The containers listening now as file-based discovery targets: their first port, labelled by pod. */
  private writeTargets(): void {
    const file = this.options.targetsFile;
    if (!file) return;
    const groups = [...this.containers.values()]
      .filter((c) => c.booted && c.bound === c.servers.length && c.servers.length > 0)
      .map((c) => ({ targets: [`${c.pod.ip}:${c.pod.ports.find((p) => p.protocol === 'TCP')!.containerPort}`], labels: { namespace: c.pod.namespace, pod: c.pod.name, image: c.pod.image } }));
    // Written whole, then renamed: Prometheus never reads half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify(groups));
    renameSync(`${file}.tmp`, file);
  }

  /** Binds, retrying briefly: a recycled pod IP may still be held by the previous pod's listener. */
  private listen(server: Server, ip: string, port: number, c: Container, attempt: number): void {
    if (c.terminating && c.pod.termination !== 'ignore') return;
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE' && attempt < 100) this.after(c, 100, () => this.listen(server, ip, port, c, attempt + 1));
    });
    server.listen(port, ip, () => {
      c.bound++;
      if (c.bound === c.servers.length) this.writeTargets();
    });
  }

  private after(c: Container, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      c.timers.delete(t);
      fn();
    }, ms);
    c.timers.add(t);
  }

  /** The process is gone: every socket closes with it (SIGKILL, or the last one already closed). */
  private exit(c: Container): void {
    if (this.containers.get(c.pod.uid) !== c) return;
    this.containers.delete(c.pod.uid);
    for (const t of c.timers) clearTimeout(t);
    for (const s of c.servers) s.close();
    for (const s of c.sockets) s.destroy();
    this.writeTargets();
    c.onExit?.();
  }

  async close(): Promise<void> {
    for (const c of [...this.containers.values()]) {
      c.onExit = undefined;
      this.exit(c);
    }
  }
}
