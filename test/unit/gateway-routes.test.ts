import { describe, expect, it } from 'vitest';
import { matchRoute } from '../../src/gateway/gateway-routes.js';

describe('the gateway routes', () => {
  it('serves the providers’ model-using paths and nothing beside them', () => {
    expect(matchRoute('POST', '/anthropic/v1/messages')).toMatchObject({ provider: 'anthropic', upstreamPath: '/v1/messages' });
    expect(matchRoute('POST', '/openai/v1/responses')).toMatchObject({ provider: 'openai', upstreamPath: '/responses' });
    expect(matchRoute('GET', '/openai/v1/models/ft:gpt-4o:acme')).toMatchObject({ upstreamPath: '/models/ft:gpt-4o:acme' });
    for (const [method, path] of [
      ['GET', '/anthropic/v1/messages'],
      ['POST', '/anthropic/v1/messages/../../admin'],
      ['POST', '/anthropic/v1/organizations/keys'],
      ['DELETE', '/openai/v1/models/gpt-4.1'],
    ] as const) {
      expect(matchRoute(method, path), `${method} ${path}`).toBeUndefined();
    }
  });

  it('a model id cannot climb out of /models', () => {
    for (const path of ['/anthropic/v1/models/..', '/openai/v1/models/.', '/openai/v1/models/../files', '/openai/v1/models/a/b']) {
      expect(matchRoute('GET', path), path).toBeUndefined();
    }
  });
});
