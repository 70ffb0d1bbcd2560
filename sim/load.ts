// Load generator: a constant request rate over keep-alive connections plus a few long-lived ones,
// each connection living a finite time as real clients and CLB idle timeouts impose. Counts every
// request: refused, reset, timed out or 5xx is a failure; a connection the server closes while
// idle, or the client closes at the end of its life, is not. Bounded in time and count.
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  host: string;
  port: number;
  /** Requests per second over the short-lived connections, all together. */
  rate: number;
  connections: number;
  connectionLifetimeMs: number;
  longLived: number;
  longLivedLifetimeMs: number;
  longLivedIntervalMs: number;
  durationMs: number;
  maxRequests: number;
  requestTimeoutMs: number;
}

export const DEFAULT_LOAD: Omit<LoadOptions, 'host' | 'port'> = {
  rate: 100,
  connections: 10,
  connectionLifetimeMs: 4000,
  longLived: 2,
  longLivedLifetimeMs: 12_000,
  longLivedIntervalMs: 250,
  durationMs: 60_000,
  maxRequests: 1_000_000,
  requestTimeoutMs: 3000,
};

export type FailureKind = 'refused' | 'reset' | 'timeout' | 'status';

export interface LoadReport {
  sent: number;
  succeeded: number;
  failed: number;
  failures: Partial<Record<FailureKind, number>>;
  byPod: Record<string, number>;
  /** The first few failures, for diagnosis. */
  samples: string[];
}

type Outcome = { ok: true; pod: string; close: boolean } | { ok: false; kind: FailureKind; detail: string };

/** One client connection speaking just enough HTTP/1.1 for our backends. */
class Connection {
  private buf = Buffer.alloc(0);
  private waiting?: (o: Outcome) => void;
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.({ ok: false, kind: 'reset', detail: 'connection closed before the response' });
      this.waiting = undefined;
    });
  }

  static open(host: string, port: number, timeoutMs: number): Promise<Connection | Outcome> {
    return new Promise((resolve) => {
      const s = connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        resolve({ ok: false, kind: 'timeout', detail: 'connect timed out' });
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(new Connection(s));
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve({ ok: false, kind: e.code === 'ECONNREFUSED' ? 'refused' : 'reset', detail: e.code ?? e.message });
      });
    });
  }

  request(timeoutMs: number): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ ok: false, kind: 'reset', detail: 'connection closed before the request' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        this.socket.destroy();
        resolve({ ok: false, kind: 'timeout', detail: 'no response in time' });
      }, timeoutMs);
      this.waiting = (o) => {
        clearTimeout(timer);
        resolve(o);
      };
      this.socket.write('GET / HTTP/1.1\r\nHost: sim\r\n\r\n');
    });
  }

  private parse(): void {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0 || !this.waiting) return;
    const head = this.buf.subarray(0, end).toString();
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + length) return;
    const body = this.buf.subarray(end + 4, end + 4 + length).toString();
    this.buf = this.buf.subarray(end + 4 + length);
    const status = Number(head.split(' ')[1]);
    const w = this.waiting;
    this.waiting = undefined;
    if (status >= 500) w({ ok: false, kind: 'status', detail: `HTTP ${status}` });
    else {
      let pod = '?';
      try {
        pod = JSON.parse(body).pod;
      } catch {
        /* counted as success all the same */
      }
      w({ ok: true, pod, close: /connection:\s*close/i.test(head) });
    }
  }

  close(): void {
    this.socket.end();
    this.closed = true;
  }
}

export interface LoadRun {
  done: Promise<LoadReport>;
  stop(): void;
  report(): LoadReport;
}

export function runLoad(o: LoadOptions): LoadRun {
  const report: LoadReport = { sent: 0, succeeded: 0, failed: 0, failures: {}, byPod: {}, samples: [] };
  let stopped = false;
  const started = Date.now();
  const running = () => !stopped && Date.now() - started < o.durationMs && report.sent < o.maxRequests;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const fail = (kind: FailureKind, detail: string) => {
    report.failed++;
    report.failures[kind] = (report.failures[kind] ?? 0) + 1;
    if (report.samples.length < 20) report.samples.push(`${new Date().toISOString()} ${kind}: ${detail}`);
  };

  async function worker(lifetimeMs: number, intervalMs: number, offsetMs: number) {
    await sleep(offsetMs);
    while (running()) {
      const conn = await Connection.open(o.host, o.port, o.requestTimeoutMs);
      if (!(conn instanceof Connection)) {
        report.sent++;
        if (!conn.ok) fail(conn.kind, conn.detail);
        await sleep(intervalMs);
        continue;
      }
      const born = Date.now();
      // The first request goes out as soon as the connection is up, as a client would send it.
      for (let first = true; running() && Date.now() - born < lifetimeMs; first = false) {
        if (!first) {
          await sleep(intervalMs);
          if (conn.closed) break; // the server closed it while idle: reconnect, nothing lost
          if (!running()) break;
        }
        report.sent++;
        const r = await conn.request(o.requestTimeoutMs);
        if (!r.ok) {
          fail(r.kind, r.detail);
          break;
        }
        report.succeeded++;
        report.byPod[r.pod] = (report.byPod[r.pod] ?? 0) + 1;
        if (r.close) break;
      }
      conn.close();
      await sleep(intervalMs);
    }
  }

  const interval = (o.connections * 1000) / o.rate;
  const workers = [
    ...Array.from({ length: o.connections }, (_, i) => worker(o.connectionLifetimeMs, interval, (i * interval) / o.connections)),
    ...Array.from({ length: o.longLived }, (_, i) => worker(o.longLivedLifetimeMs, o.longLivedIntervalMs, i * 37)),
  ];
  const done = Promise.all(workers).then(() => report);
  return {
    done,
    stop: () => {
      stopped = true;
    },
    report: () => report,
  };
}
