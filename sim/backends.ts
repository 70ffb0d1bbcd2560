// The pods' containers: a real HTTP/1.1 keep-alive server on each pod IP and container port,
// answering with the pod name and image. A deleted pod terminates like a container on SIGTERM:
// it stops accepting, finishes what is in flight, closes idle keep-alive connections, and at the
// end of terminationGracePeriodSeconds drops whatever is left.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { SimPod } from './lb-weights.js';

interface Container {
  pod: SimPod;
  servers: Server[];
  sockets: Set<Socket>;
  terminating: boolean;
}

export interface BackendOptions {
  /** Time each request takes, so that requests are really in flight. */
  responseDelayMs: number;
  /** Time a new container takes to start listening (the application booting). */
  startupDelayMs: number;
}

export const DEFAULT_BACKEND_OPTIONS: BackendOptions = { responseDelayMs: 5, startupDelayMs: 1000 };

export class Backends {
  private readonly containers = new Map<string, Container>(); // pod uid
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: BackendOptions = DEFAULT_BACKEND_OPTIONS) {}

  /** Starts servers for new running pods, terminates those deleted or gone. */
  reconcile(pods: SimPod[]): void {
    const live = new Map(pods.filter((p) => p.ip && !p.deleting).map((p) => [p.uid, p]));
    for (const [uid, c] of this.containers) if (!live.has(uid)) this.terminate(c);
    for (const pod of live.values()) if (!this.containers.has(pod.uid)) this.start(pod);
  }

  /** Whether a pod's container is still running (serving or terminating). */
  running(uid: string): boolean {
    return this.containers.has(uid);
  }

  private start(pod: SimPod): void {
    const c: Container = { pod, servers: [], sockets: new Set(), terminating: false };
    this.containers.set(pod.uid, c);
    for (const port of pod.ports.filter((p) => p.protocol === 'TCP')) {
      const server = createServer({ keepAlive: true }, (req, res) => {
        req.resume();
        const t = setTimeout(() => {
          this.timers.delete(t);
          const body = JSON.stringify({ pod: pod.name, image: pod.image });
          // A terminating container answers what it already accepted, then closes the connection.
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(c.terminating ? { connection: 'close' } : {}) });
          res.end(body);
        }, this.options.responseDelayMs);
        this.timers.add(t);
      });
      server.keepAliveTimeout = 60_000;
      server.on('connection', (s: Socket) => {
        c.sockets.add(s);
        s.once('close', () => c.sockets.delete(s));
      });
      c.servers.push(server);
      const boot = setTimeout(() => {
        this.timers.delete(boot);
        if (!c.terminating) this.listen(server, pod.ip!, port.containerPort, c, 0);
      }, this.options.startupDelayMs);
      this.timers.add(boot);
    }
  }

  /** Binds, retrying briefly: a recycled pod IP may still be held by the previous pod's listener. */
  private listen(server: Server, ip: string, port: number, c: Container, attempt: number): void {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE' && attempt < 50 && !c.terminating) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.listen(server, ip, port, c, attempt + 1);
        }, 100);
        this.timers.add(t);
      }
    });
    server.listen(port, ip);
  }

  private terminate(c: Container): void {
    if (c.terminating) return;
    c.terminating = true;
    for (const s of c.servers) {
      s.close(); // stop accepting; Node also closes the idle keep-alive connections
      s.closeIdleConnections();
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      for (const s of c.sockets) s.destroy(); // SIGKILL at the end of the grace period
      this.containers.delete(c.pod.uid);
    }, c.pod.terminationGracePeriodSeconds * 1000);
    this.timers.add(t);
    const poll = setInterval(() => {
      if (c.sockets.size === 0) {
        clearInterval(poll);
        clearTimeout(t);
        this.timers.delete(t);
        this.containers.delete(c.pod.uid);
      }
    }, 100);
    this.timers.add(poll);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const c of this.containers.values()) {
      for (const s of c.servers) s.close();
      for (const s of c.sockets) s.destroy();
    }
    this.containers.clear();
  }
}
