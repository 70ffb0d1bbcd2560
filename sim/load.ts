// Load as users make it, on every target (each listener of each Service) at the same shape:
//  - short requests: `rate` requests/s over `connections` keep-alive connections, each connection
//    living `connectionLifetimeMs` as real clients and CLB idle timeouts impose;
//  - long-lived streams: `streams` clients, each holding one `GET /stream` open for a lifetime
//    drawn (seeded) from `streamLifetimeMs`, ending it itself, then opening the next after a gap.
// Every request and stream is accounted for. A request is a failure when its connect is refused,
// its connection closes or resets before the response, it times out, or it answers >= 500; a
// connection the server closes while idle, or after a `connection: close` response, is not. A
// stream the server or the network ends before the client does, or that goes silent longer than
// `streamStallMs`, is cut. Bounded in time and count, and loopback only.
import { connect, isIPv4, Socket } from 'node:net';
import { seeded } from './random.js';

export interface LoadTarget {
  host: string;
  port: number;
}

export interface LoadOptions {
  /** Every target gets the whole shape below (rate, connections and streams are per target). */
  targets: LoadTarget[];
  /** Short requests per second per target, over all its connections together. */
  rate: number;
  /** Keep-alive connections per target carrying the short requests. */
  connections: number;
  connectionLifetimeMs: number;
  /** Concurrent stream clients per target. */
  streams: number;
  /** [min, max]: each stream's lifetime is drawn uniformly from it (seeded). */
  streamLifetimeMs: [number, number];
  /** A stream that receives nothing for longer than this is cut. */
  streamStallMs: number;
  /** For a connect plus a response (or a stream's response head). */
  requestTimeoutMs: number;
  durationMs: number;
  /** The run ends when this many requests have been sent (failed stream opens count as requests). */
  maxRequests: number;
  /** No more streams are opened than this; the run ends when this many have ended. */
  maxStreams: number;
  seed: number;
}

/** Options for runLoad: targets, and any of the rest (the others come from DEFAULT_LOAD). */
export type LoadInput = Pick<LoadOptions, 'targets'> & Partial<Omit<LoadOptions, 'targets'>>;

export const DEFAULT_LOAD: Omit<LoadOptions, 'targets'> = {
  rate: 50,
  connections: 10,
  connectionLifetimeMs: 1000,
  streams: 2,
  streamLifetimeMs: [20_000, 60_000],
  streamStallMs: 3000,
  requestTimeoutMs: 3000,
  durationMs: 600_000,
  maxRequests: 1_000_000,
  maxStreams: 10_000,
  seed: 1,
};

export type FailureKind = 'refused' | 'reset' | 'timeout' | 'status';

export interface LoadReport {
  /** Requests sent, including connects that failed and stream opens that failed. */
  sent: number;
  succeeded: number;
  failed: number;
  failures: Partial<Record<FailureKind, number>>;
  /** Streams opened (response head received with status < 500). */
  streams: number;
  /** Streams the client ended itself: at the end of their lifetime or of the run. */
  completed: number;
  /** Streams ended by the server or the network first, or stalled. */
  cut: number;
  /** Short requests succeeded, per pod. */
  byPod: Record<string, number>;
  /** The first few failures and cuts, for diagnosis. */
  samples: string[];
}

export interface LoadRun {
  done: Promise<LoadReport>;
  stop(): void;
  /** A snapshot; mid-run, `sent` and `streams` include what is still in flight. */
  report(): LoadReport;
}

const SAMPLES = 20;
const REQUEST = 'GET / HTTP/1.1\r\nHost: sim\r\n\r\n';
const STREAM_REQUEST = 'GET /stream HTTP/1.1\r\nHost: sim\r\n\r\n';

// ---------------------------------------------------------------------------------------------
// Seeded draws (pure)

/** The seed of one stream client (target index, client index), so its draws do not depend on timing. */
export function clientSeed(seed: number, target: number, client: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [target, client]) h = Math.imul(h ^ (v + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

/** A draw of integers uniform in [min, max] from a seeded PRNG. */
export function uniformDraw(seed: number, [min, max]: [number, number]): () => number {
  const next = seeded(seed);
  return () => Math.floor(min + next() * (max - min + 1));
}

/** The first `n` stream lifetimes of one stream client: the same seed gives the same sequence. */
export function streamLifetimes(seed: number, range: [number, number], n: number, target = 0, client = 0): number[] {
  const draw = uniformDraw(clientSeed(seed, target, client), range);
  return Array.from({ length: n }, draw);
}

const STREAM_GAP_MS: [number, number] = [200, 500];

// ---------------------------------------------------------------------------------------------
// Validation

function isLoopback(host: string): boolean {
  return isIPv4(host) && host.split('.')[0] === '127';
}

function validate(o: LoadOptions): void {
  if (!Array.isArray(o.targets) || o.targets.length === 0) throw new Error('load: no targets');
  for (const t of o.targets) {
    if (!isLoopback(t.host)) throw new Error(`load: target host ${t.host} is not a loopback address (127.0.0.0/8)`);
    if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) throw new Error(`load: target port ${t.port} is not a port`);
  }
  const counts = ['connections', 'streams'] as const;
  for (const k of counts) if (!Number.isInteger(o[k]) || o[k] < 0) throw new Error(`load: ${k} must be a whole number >= 0`);
  if (o.connections > 0 && !(o.rate > 0)) throw new Error('load: rate must be > 0 when connections > 0');
  const positive = ['connectionLifetimeMs', 'streamStallMs', 'requestTimeoutMs', 'durationMs', 'maxRequests', 'maxStreams'] as const;
  for (const k of positive) if (!(o[k] > 0) || !Number.isFinite(o[k])) throw new Error(`load: ${k} must be finite and > 0`);
  const [min, max] = o.streamLifetimeMs;
  if (!(min > 0) || !(max >= min) || !Number.isFinite(max)) throw new Error('load: streamLifetimeMs must be [min, max] with 0 < min <= max');
  if (!Number.isFinite(o.seed)) throw new Error('load: seed must be a number');
}

// ---------------------------------------------------------------------------------------------
// Sockets

type Failure = { ok: false; kind: FailureKind; detail: string };
type Outcome = { ok: true; pod: string; close: boolean } | Failure;

function connectFailure(e: NodeJS.ErrnoException): Failure {
  return { ok: false, kind: e.code === 'ECONNREFUSED' ? 'refused' : 'reset', detail: `connect: ${e.code ?? e.message}` };
}

/** Connects, or says why not within timeoutMs. */
function open(t: LoadTarget, timeoutMs: number): Promise<Socket | Failure> {
  return new Promise((resolve) => {
    const s = connect({ host: t.host, port: t.port });
    s.on('error', () => undefined); // every error also closes the socket, which is what is handled
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, kind: 'timeout', detail: 'connect timed out' });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(connectFailure(e));
    });
  });
}

/** Ends our side, and lets the socket go once the server has closed too (or after a while). */
function endSocket(s: Socket): void {
  if (s.destroyed) return;
  s.end();
  const t = setTimeout(() => s.destroy(), 1000);
  s.once('close', () => clearTimeout(t));
}

interface Head {
  status: number;
  head: string;
  rest: Buffer;
}

function parseHead(buf: Buffer): Head | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = buf.subarray(0, end).toString('latin1');
  return { status: Number(head.split(' ')[1]), head, rest: buf.subarray(end + 4) };
}

/** One short-request keep-alive connection speaking just enough HTTP/1.1 for our backends. */
class Connection {
  private buf: Buffer = Buffer.alloc(0);
  private waiting?: (o: Outcome) => void;
  private lastError = '';
  /** The server ended or closed it (or we did): no request goes out on it any more. */
  closed = false;

  constructor(private readonly socket: Socket) {
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.lastError = e.code ?? e.message;
    });
    const gone = (how: string) => () => {
      this.closed = true;
      const w = this.waiting;
      this.waiting = undefined;
      w?.({ ok: false, kind: 'reset', detail: `connection ${how} before the response${this.lastError ? ` (${this.lastError})` : ''}` });
    };
    socket.on('end', gone('ended by the server'));
    socket.on('close', gone('closed'));
  }

  request(timeoutMs: number): Promise<Outcome> {
    if (this.closed) return Promise.resolve({ ok: false, kind: 'reset', detail: 'connection closed before the request' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        this.closed = true;
        this.socket.destroy();
        resolve({ ok: false, kind: 'timeout', detail: `no response in ${timeoutMs}ms` });
      }, timeoutMs);
      this.waiting = (o) => {
        clearTimeout(timer);
        resolve(o);
      };
      this.socket.write(REQUEST);
    });
  }

  private parse(): void {
    if (!this.waiting) return;
    const h = parseHead(this.buf);
    if (!h) return;
    const length = Number(/^content-length:\s*(\d+)/im.exec(h.head)?.[1] ?? 0);
    if (h.rest.length < length) return;
    const body = h.rest.subarray(0, length).toString();
    this.buf = h.rest.subarray(length);
    const w = this.waiting;
    this.waiting = undefined;
    if (!(h.status > 0)) return w({ ok: false, kind: 'status', detail: 'not an HTTP response' });
    if (h.status >= 500) return w({ ok: false, kind: 'status', detail: `HTTP ${h.status}` });
    let pod = '?';
    try {
      pod = String(JSON.parse(body).pod ?? '?');
    } catch {
      /* counted as a success all the same */
    }
    w({ ok: true, pod, close: /^connection:\s*close/im.test(h.head) });
  }

  close(): void {
    this.closed = true;
    endSocket(this.socket);
  }
}

type StreamEnd = { cut: false } | { cut: true; detail: string };

/** One open `GET /stream`: the head has arrived; runs until the client or the other side ends it. */
class Stream {
  pod = '?';
  readonly openedAt = Date.now();
  private text = '';
  private chunked: boolean;
  private length?: number;
  private received = 0;
  private buf: Buffer;
  private finish?: (e: StreamEnd) => void;
  private ended?: StreamEnd;
  private lastError = '';
  private lastData = Date.now();

  constructor(
    private readonly socket: Socket,
    head: Head,
  ) {
    this.chunked = /^transfer-encoding:\s*chunked/im.test(head.head);
    const cl = /^content-length:\s*(\d+)/im.exec(head.head)?.[1];
    if (!this.chunked && cl !== undefined) this.length = Number(cl);
    this.buf = Buffer.alloc(0);
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.lastError = e.code ?? e.message;
    });
    socket.on('end', () => this.end({ cut: true, detail: 'ended by the server' }));
    socket.on('close', () => this.end({ cut: true, detail: `closed${this.lastError ? ` (${this.lastError})` : ''}` }));
    if (head.rest.length) this.data(head.rest);
  }

  /** Starts reading: the opener hands the socket over in the same tick it stops listening. */
  listen(): void {
    this.socket.on('data', (d: Buffer) => this.data(d));
  }

  private data(d: Buffer): void {
    this.lastData = Date.now();
    if (this.ended) return;
    if (!this.chunked) {
      this.received += d.length;
      this.body(d);
      if (this.length !== undefined && this.received >= this.length) this.end({ cut: true, detail: 'response ended by the server' });
      return;
    }
    this.buf = Buffer.concat([this.buf, d]);
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return;
      const size = parseInt(this.buf.subarray(0, eol).toString('latin1').split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size)) return this.end({ cut: true, detail: 'bad chunk' });
      if (size === 0) return this.end({ cut: true, detail: 'response ended by the server' });
      if (this.buf.length < eol + 2 + size + 2) return;
      this.body(this.buf.subarray(eol + 2, eol + 2 + size));
      this.buf = this.buf.subarray(eol + 2 + size + 2);
    }
  }

  private body(d: Buffer): void {
    if (this.pod !== '?' || this.text.length > 4096) return;
    this.text += d.toString();
    const nl = this.text.indexOf('\n');
    if (nl < 0) return;
    try {
      this.pod = String(JSON.parse(this.text.slice(0, nl)).pod ?? '?');
    } catch {
      this.pod = '(unparsable)';
    }
  }

  private end(e: StreamEnd): void {
    if (this.ended) return;
    this.ended = e;
    if (e.cut) this.socket.destroy();
    else endSocket(this.socket);
    this.finish?.(e);
  }

  /** Until the lifetime is over or the run ends (completed), or the stream is cut first. */
  run(lifetimeMs: number, onRunEnd: (fn: () => void) => () => void, stallMs: number): Promise<StreamEnd> {
    return new Promise((resolve) => {
      this.finish = (e) => {
        clearTimeout(life);
        clearInterval(stall);
        forget();
        resolve(e);
      };
      const stall = setInterval(
        () => {
          const silent = Date.now() - this.lastData;
          if (silent > stallMs) this.end({ cut: true, detail: `stalled: nothing received for ${silent}ms` });
        },
        Math.max(10, Math.min(250, stallMs / 4)),
      );
      const life = setTimeout(() => this.end({ cut: false }), Math.max(0, lifetimeMs - (Date.now() - this.openedAt)));
      const forget = onRunEnd(() => this.end({ cut: false }));
      if (this.ended) this.finish(this.ended); // cut while the head was being read
    });
  }
}

/** Sends `GET /stream` and waits for the response head. */
function openStream(t: LoadTarget, timeoutMs: number): Promise<Stream | Failure> {
  return open(t, timeoutMs).then(
    (socket) =>
      new Promise<Stream | Failure>((resolve) => {
        if (!(socket instanceof Socket)) return resolve(socket);
        let buf: Buffer = Buffer.alloc(0);
        let lastError = '';
        const done = (r: Stream | Failure) => {
          clearTimeout(timer);
          socket.off('data', onData);
          socket.off('end', onGone);
          socket.off('close', onGone);
          socket.off('error', onError);
          resolve(r);
        };
        const onData = (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          const h = parseHead(buf);
          if (!h) return;
          if (!(h.status > 0) || h.status >= 500) {
            socket.destroy();
            return done({ ok: false, kind: 'status', detail: `stream: ${h.status > 0 ? `HTTP ${h.status}` : 'not an HTTP response'}` });
          }
          const stream = new Stream(socket, h);
          done(stream);
          stream.listen();
        };
        const onGone = () => {
          socket.destroy();
          done({ ok: false, kind: 'reset', detail: `stream: connection closed before the response head${lastError ? ` (${lastError})` : ''}` });
        };
        const onError = (e: NodeJS.ErrnoException) => {
          lastError = e.code ?? e.message;
        };
        const timer = setTimeout(() => {
          socket.destroy();
          done({ ok: false, kind: 'timeout', detail: `stream: no response head in ${timeoutMs}ms` });
        }, timeoutMs);
        socket.on('data', onData);
        socket.on('end', onGone);
        socket.on('close', onGone);
        socket.on('error', onError);
        socket.write(STREAM_REQUEST);
      }),
  );
}

// ---------------------------------------------------------------------------------------------
// The run

function withDefaults(input: LoadInput): LoadOptions {
  const o: LoadOptions = { ...DEFAULT_LOAD, targets: input.targets };
  for (const [k, v] of Object.entries(input)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
  return o;
}

export function runLoad(input: LoadInput): LoadRun {
  const o = withDefaults(input);
  validate(o);
  const report: LoadReport = { sent: 0, succeeded: 0, failed: 0, failures: {}, streams: 0, completed: 0, cut: 0, byPod: {}, samples: [] };
  const started = Date.now();
  const stamp = () => `${new Date().toISOString()} +${((Date.now() - started) / 1000).toFixed(1)}s`;
  const sample = (line: string) => {
    if (report.samples.length < SAMPLES) report.samples.push(line);
  };

  // The end of the run: stop(), durationMs, or a count bound. Wakes every sleeper at once.
  let ended = false;
  const waiters = new Set<() => void>();
  /** Calls fn when the run ends (at once if it has); returns a function that cancels that. */
  const onRunEnd = (fn: () => void): (() => void) => {
    if (ended) {
      queueMicrotask(fn);
      return () => undefined;
    }
    waiters.add(fn);
    return () => waiters.delete(fn);
  };
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(deadline);
    for (const w of [...waiters]) w();
    waiters.clear();
  };
  const deadline = setTimeout(end, o.durationMs);
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const wake = () => {
        clearTimeout(t);
        forget();
        r();
      };
      const t = setTimeout(wake, ms);
      const forget = onRunEnd(wake);
    });

  const countSent = () => {
    report.sent++;
    if (report.sent >= o.maxRequests) end();
  };
  const fail = (t: LoadTarget, f: Failure) => {
    report.failed++;
    report.failures[f.kind] = (report.failures[f.kind] ?? 0) + 1;
    sample(`${stamp()} ${f.kind} ${t.host}:${t.port}: ${f.detail}`);
  };

  async function requester(t: LoadTarget, intervalMs: number, offsetMs: number) {
    await sleep(offsetMs);
    let next = Date.now();
    let conn: Connection | undefined;
    let born = 0;
    // One request per slot of the cadence; the first goes out as soon as its connection is up.
    for (let first = true; !ended; first = false) {
      if (!first) {
        next = Math.max(next + intervalMs, Date.now() - intervalMs);
        await sleep(next - Date.now());
        if (ended) break;
      }
      if (conn && Date.now() - born >= o.connectionLifetimeMs) {
        conn.close(); // at the end of its life: a new one
        conn = undefined;
      }
      if (conn) {
        // One the server closed while idle: a new one, nothing lost. Its FIN may be here already
        // and not yet read (the server runs in this process): let the loop deliver it first.
        await new Promise<void>((r) => setImmediate(r));
        if (conn.closed) {
          conn.close();
          conn = undefined;
        }
        if (ended) break;
      }
      if (!conn) {
        const s = await open(t, o.requestTimeoutMs);
        if (!(s instanceof Socket)) {
          countSent(); // the request this connection was opened for
          fail(t, s);
          continue;
        }
        conn = new Connection(s);
        born = Date.now();
      }
      countSent();
      const r = await conn.request(o.requestTimeoutMs);
      if (!r.ok) {
        fail(t, r);
        conn.close();
        conn = undefined;
        continue;
      }
      report.succeeded++;
      report.byPod[r.pod] = (report.byPod[r.pod] ?? 0) + 1;
      if (r.close) {
        conn.close(); // the server said it will close this one: not a failure
        conn = undefined;
      }
    }
    conn?.close();
  }

  let reserved = 0; // streams opened or being opened
  const streamEnded = () => {
    if (report.completed + report.cut >= o.maxStreams) end();
  };

  async function streamer(t: LoadTarget, ti: number, ci: number) {
    const seed = clientSeed(o.seed, ti, ci);
    const lifetime = uniformDraw(seed, o.streamLifetimeMs);
    const gap = uniformDraw(seed ^ 0x5bd1e995, STREAM_GAP_MS);
    await sleep(ci * 37 + ti * 11);
    while (!ended && reserved < o.maxStreams) {
      reserved++;
      const s = await openStream(t, o.requestTimeoutMs);
      if (!(s instanceof Stream)) {
        reserved--;
        countSent();
        fail(t, s);
      } else {
        report.streams++;
        const e = await s.run(lifetime(), onRunEnd, o.streamStallMs);
        if (e.cut) {
          report.cut++;
          sample(`${stamp()} cut ${t.host}:${t.port} pod=${s.pod} age=${Date.now() - s.openedAt}ms: ${e.detail}`);
        } else report.completed++;
        streamEnded();
      }
      await sleep(gap());
    }
  }

  const workers: Promise<void>[] = [];
  o.targets.forEach((t, ti) => {
    if (o.connections > 0) {
      const interval = (o.connections * 1000) / o.rate;
      for (let i = 0; i < o.connections; i++) workers.push(requester(t, interval, (i * interval) / o.connections + ti * 7));
    }
    for (let ci = 0; ci < o.streams; ci++) workers.push(streamer(t, ti, ci));
  });
  const done = Promise.all(workers).then(() => {
    end();
    return report;
  });
  return {
    done,
    stop: end,
    report: () => structuredClone(report),
  };
}
