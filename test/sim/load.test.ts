// The load generator against loopback servers started here, each speaking the backends' protocol:
// `GET /` answers 200 {"pod","image"} with content-length; `GET /stream` answers chunked, first a
// {"pod"} line, then `.\n` every tick for as long as the client keeps the connection.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { runLoad, streamLifetimes, type LoadInput, type LoadReport } from '../../sim/load.js';
import { seeded } from '../../sim/random.js';

interface TestServer {
  name: string;
  port: number;
  server: Server;
  sockets: Set<Socket>;
  /** Streams whose response is in progress. */
  openStreams: Set<ServerResponse>;
  streamsServed: number;
  /** How long each stream lasted, server side, in the order they started. */
  streamDurations: number[];
  closeResponses: number;
  /** Answer with `connection: close` (a terminating container). */
  closing: boolean;
  /** Stop writing to streams after their first line. */
  stall: boolean;
  /** Answer `/` with this status instead (and the stream too). */
  status?: number;
  /** Never answer `/`. */
  silent: boolean;
}

const servers: TestServer[] = [];

async function start(name: string, delayMs = 2, tickMs = 50): Promise<TestServer> {
  const t = { name, sockets: new Set(), openStreams: new Set(), streamsServed: 0, streamDurations: [], closeResponses: 0, closing: false, stall: false, silent: false } as unknown as TestServer;
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (t.status) {
      res.writeHead(t.status, { 'content-length': 0 });
      return res.end();
    }
    if (req.url === '/stream') {
      t.streamsServed++;
      const index = t.streamDurations.push(-1) - 1;
      const began = Date.now();
      res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
      res.write(`${JSON.stringify({ pod: name })}\n`);
      t.openStreams.add(res);
      const tick = setInterval(() => {
        if (!t.stall) res.write('.\n');
      }, tickMs);
      res.once('close', () => {
        clearInterval(tick);
        t.openStreams.delete(res);
        t.streamDurations[index] = Date.now() - began;
      });
      return;
    }
    if (t.silent) return;
    setTimeout(() => {
      const body = JSON.stringify({ pod: name, image: 'img:v1' });
      if (t.closing) t.closeResponses++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(t.closing ? { connection: 'close' } : {}) });
      res.end(body);
    }, delayMs);
  };
  t.server = createServer({ keepAlive: true }, handle);
  t.server.keepAliveTimeout = 60_000;
  t.server.on('connection', (s: Socket) => {
    t.sockets.add(s);
    s.once('close', () => t.sockets.delete(s));
  });
  await new Promise<void>((r) => t.server.listen(0, '127.0.0.1', r));
  t.port = (t.server.address() as AddressInfo).port;
  servers.push(t);
  return t;
}

afterEach(async () => {
  for (const t of servers.splice(0)) {
    for (const s of t.sockets) s.destroy();
    await new Promise((r) => t.server.close(r));
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const target = (t: TestServer) => ({ host: '127.0.0.1', port: t.port });
const base: Omit<LoadInput, 'targets'> = { rate: 100, connections: 4, connectionLifetimeMs: 300, streams: 2, streamLifetimeMs: [300, 600], streamStallMs: 1000, requestTimeoutMs: 1000, durationMs: 1500, seed: 7 };

function accounted(r: LoadReport): void {
  expect(r.sent).toBe(r.succeeded + r.failed);
  expect(r.streams).toBe(r.completed + r.cut);
  expect(Object.values(r.failures).reduce((a, b) => a + (b ?? 0), 0)).toBe(r.failed);
  expect(Object.values(r.byPod).reduce((a, b) => a + b, 0)).toBe(r.succeeded);
}

describe('runLoad', () => {
  it('loses nothing against a healthy server: requests succeed, streams complete', async () => {
    const a = await start('a');
    const began = Date.now();
    const r = await runLoad({ ...base, targets: [target(a)] }).done;
    expect(Date.now() - began).toBeLessThan(2500); // the run ends at durationMs, open streams with it
    accounted(r);
    expect(r.sent).toBeGreaterThan(100);
    expect(r.failed).toBe(0);
    expect(r.byPod).toEqual({ a: r.succeeded });
    expect(r.completed).toBeGreaterThanOrEqual(3);
    expect(r.cut).toBe(0);
    expect(r.samples).toEqual([]);
    await sleep(50);
    expect(a.openStreams.size).toBe(0); // the clients ended their streams themselves
  });

  it('ends the streams open at stop() itself: completed, not cut', async () => {
    const a = await start('a');
    const run = runLoad({ ...base, streams: 3, streamLifetimeMs: [10_000, 10_000], durationMs: 5000, targets: [target(a)] });
    await sleep(400);
    expect(a.openStreams.size).toBe(3);
    expect(run.report().streams).toBe(3);
    const stopped = Date.now();
    run.stop();
    const r = await run.done;
    expect(Date.now() - stopped).toBeLessThan(300); // short requests finish theirs, streams end at once
    accounted(r);
    expect(r.streams).toBe(3);
    expect(r.completed).toBe(3);
    expect(r.cut).toBe(0);
    expect(r.failed).toBe(0);
    await sleep(50);
    expect(a.openStreams.size).toBe(0);
  });

  it('counts every stream open when the server drops all its sockets as cut, and refused requests as failed', async () => {
    const a = await start('a');
    const run = runLoad({ ...base, streams: 3, streamLifetimeMs: [10_000, 10_000], durationMs: 5000, targets: [target(a)] });
    await sleep(700);
    const open = a.openStreams.size;
    expect(open).toBe(3);
    a.server.close(); // the process is gone: nothing listens, every connection resets
    for (const s of a.sockets) s.destroy();
    await sleep(500);
    run.stop();
    const r = await run.done;
    accounted(r);
    expect(r.cut).toBeGreaterThanOrEqual(open);
    expect(r.streams).toBe(open); // no stream opened after that: those opens failed
    expect(r.failed).toBeGreaterThan(0);
    expect(r.failures.refused).toBeGreaterThan(0);
    expect(r.samples.some((l) => / cut .* pod=a age=\d+ms/.test(l))).toBe(true);
  });

  it('does not count a server closing idle connections, or answering connection: close, as a failure', async () => {
    const a = await start('a', 5);
    const run = runLoad({ ...base, rate: 40, connections: 4, connectionLifetimeMs: 5000, streams: 0, durationMs: 1600, targets: [target(a)] });
    // The server closes from a timer, as the backends do when a pod terminates, and between two
    // slots of the cadence (one every 25 ms over the 4 connections, from the start): a request
    // written just before the close, and not yet read, would be lost (the keep-alive race).
    await sleep(512);
    a.closing = true;
    expect(a.sockets.size).toBe(4);
    a.server.closeIdleConnections();
    expect([...a.sockets].filter((s) => s.destroyed).length).toBeGreaterThan(0);
    await sleep(500);
    a.closing = false;
    await sleep(200);
    a.server.closeIdleConnections();
    expect([...a.sockets].filter((s) => s.destroyed).length).toBeGreaterThan(0);
    const r = await run.done;
    accounted(r);
    expect(a.closeResponses).toBeGreaterThan(5);
    expect(r.sent).toBeGreaterThan(40);
    expect(r.samples).toEqual([]);
    expect(r.failed).toBe(0);
  });

  it('cuts a stream that stops receiving', async () => {
    const a = await start('a');
    a.stall = true;
    const r = await runLoad({ ...base, connections: 0, streams: 1, streamLifetimeMs: [3000, 3000], streamStallMs: 300, durationMs: 1200, targets: [target(a)] }).done;
    accounted(r);
    expect(r.cut).toBeGreaterThanOrEqual(1);
    expect(r.completed).toBeLessThanOrEqual(1); // at most the one open at the end of the run
    expect(r.sent).toBe(0);
    expect(r.samples[0]).toMatch(/ cut .* pod=a age=\d+ms: stalled/);
  });

  it('loads every target at the same shape', async () => {
    const [a, b] = [await start('a'), await start('b')];
    const r = await runLoad({ ...base, rate: 50, connections: 2, streams: 1, streamLifetimeMs: [200, 300], durationMs: 1000, targets: [target(a), target(b)] }).done;
    accounted(r);
    expect(r.failed).toBe(0);
    expect(r.byPod.a).toBeGreaterThan(20);
    expect(r.byPod.b).toBeGreaterThan(20);
    expect(Math.abs(r.byPod.a! - r.byPod.b!)).toBeLessThan(10);
    expect(a.streamsServed).toBeGreaterThan(0);
    expect(b.streamsServed).toBeGreaterThan(0);
    expect(r.cut).toBe(0);
  });

  it('reports failed requests by kind: timeout, 5xx (a stream open answered 5xx is a failed request, not a stream)', async () => {
    const [slow, broken] = [await start('slow'), await start('broken')];
    slow.silent = true;
    broken.status = 503;
    const r = await runLoad({ ...base, rate: 20, connections: 2, streams: 1, requestTimeoutMs: 200, durationMs: 700, targets: [target(slow), target(broken)] }).done;
    accounted(r);
    expect(r.succeeded).toBe(0); // the slow one still serves its streams, but no request
    expect(r.failures.timeout).toBeGreaterThan(0);
    expect(r.failures.status).toBeGreaterThan(0);
    expect(broken.streamsServed).toBe(0);
    expect(r.streams).toBe(slow.streamsServed);
    expect(r.samples.some((l) => /status .*stream: HTTP 503/.test(l))).toBe(true);
  });

  it('ends the run at maxRequests, with every request answered', async () => {
    const a = await start('a');
    const began = Date.now();
    const r = await runLoad({ ...base, rate: 200, streams: 0, maxRequests: 30, durationMs: 60_000, targets: [target(a)] }).done;
    expect(Date.now() - began).toBeLessThan(2000);
    accounted(r);
    expect(r.sent).toBe(30);
    expect(r.succeeded).toBe(30);
  });

  it('draws the same stream lifetimes from the same seed, and the streams last them', async () => {
    const range: [number, number] = [150, 400];
    const first = streamLifetimes(42, range, 20);
    expect(streamLifetimes(42, range, 20)).toEqual(first);
    expect(streamLifetimes(43, range, 20)).not.toEqual(first);
    expect(streamLifetimes(42, range, 20, 0, 1)).not.toEqual(first); // each client its own sequence
    expect(new Set(first).size).toBeGreaterThan(10);
    for (const l of first) expect(l >= 150 && l <= 400 && Number.isInteger(l)).toBe(true);
    const m = seeded(1);
    const xs = [m(), m(), m()];
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBe(3);

    const a = await start('a');
    const r = await runLoad({ ...base, connections: 0, streams: 1, streamLifetimeMs: range, seed: 42, durationMs: 1500, targets: [target(a)] }).done;
    await sleep(50);
    accounted(r);
    expect(r.cut).toBe(0);
    const finished = a.streamDurations.slice(0, -1); // the last one was ended by the end of the run
    expect(finished.length).toBeGreaterThanOrEqual(2);
    finished.forEach((d, i) => expect(Math.abs(d - first[i]!)).toBeLessThan(60));
  });

  it('refuses any target that is not loopback', () => {
    for (const host of ['10.0.0.1', '0.0.0.0', 'localhost', '::1', 'example.com', '128.0.0.1'])
      expect(() => runLoad({ ...base, targets: [{ host: '127.0.0.1', port: 80 }, { host, port: 80 }] })).toThrow(/not a loopback/);
    expect(() => runLoad({ ...base, targets: [] })).toThrow(/no targets/);
  });
});
