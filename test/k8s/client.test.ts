import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/core/errors.js';
import { isTransient, translateApiError, withRetry } from '../../src/k8s/client.js';

const action = { verb: 'patch', resource: 'services', name: 'gw', namespace: 'prod', server: 'https://127.0.0.1:6443' };
const status = (message: string) => JSON.stringify({ kind: 'Status', message });

describe('translateApiError', () => {
  it('404 becomes NotFoundError', () => {
    const e = translateApiError(new ApiException(404, 'nf', status('not found'), {}), action);
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.message).toBe('services "gw" not found in namespace "prod"');
  });
  it('403 names the verb and resource that are missing', () => {
    const e = translateApiError(new ApiException(403, 'forbidden', status('services "gw" is forbidden: User "bob" cannot patch'), {}), action);
    expect(e.message).toContain('forbidden: you may not patch services "gw" in namespace "prod"; ask for the "patch" permission on "services"');
    expect(e.message).toContain('User "bob" cannot patch');
  });
  it('401 says to log in again', () => {
    expect(translateApiError(new ApiException(401, 'u', '', {}), action).message).toMatch(/^unauthorized: .*log in again/);
  });
  it('a refused connection names the server', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(translateApiError(err, action).message).toBe(
      'cannot reach the API server at https://127.0.0.1:6443 to patch services "gw" in namespace "prod": ECONNREFUSED; check the network and the kubeconfig\'s server address, then run the same command again: it resumes where it stopped',
    );
  });
  it('an aborted request mentions --request-timeout', () => {
    const err = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(translateApiError(err, action).message).toMatch(/timed out .*--request-timeout/);
  });
});

describe('withRetry', () => {
  const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  it('retries transient failures with growing pauses, then succeeds', async () => {
    const pauses: number[] = [];
    let calls = 0;
    const r = await withRetry(async () => {
      if (++calls < 3) throw refused();
      return 'ok';
    }, [10, 20, 40], async (ms) => void pauses.push(ms));
    expect(r).toBe('ok');
    expect(pauses).toEqual([10, 20]);
  });
  it('gives up after the last pause and passes the error on', async () => {
    let calls = 0;
    await expect(withRetry(async () => { calls++; throw refused(); }, [1, 1], async () => undefined)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(calls).toBe(3);
  });
  it('does not retry what is not transient (403, 409, 404)', async () => {
    for (const code of [403, 409, 404]) {
      let calls = 0;
      await expect(withRetry(async () => { calls++; throw new ApiException(code, 'x', '', {}); }, [1], async () => undefined)).rejects.toBeInstanceOf(ApiException);
      expect(calls).toBe(1);
    }
  });
  it('retries 503 and 429 from the API server', () => {
    expect(isTransient(new ApiException(503, 'x', '', {}))).toBe(true);
    expect(isTransient(new ApiException(429, 'x', '', {}))).toBe(true);
  });
});
