import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/core/errors.js';
import { translateApiError } from '../../src/k8s/client.js';

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
      'cannot reach the API server at https://127.0.0.1:6443 to patch services "gw" in namespace "prod": ECONNREFUSED; check the network and the kubeconfig\'s server address',
    );
  });
  it('an aborted request mentions --request-timeout', () => {
    const err = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(translateApiError(err, action).message).toMatch(/timed out .*--request-timeout/);
  });
});
