/**
 * Deliveries as GitHub makes them: real HTTP POSTs to the running server, signed with the
 * webhook secret (X-Hub-Signature-256 over the exact body), with the event and delivery headers.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';

export const TEST_APP_ID = '4242';
export const TEST_INSTALLATION_ID = 42;

/** A fresh RSA key for the test App (Probot signs its JWTs with it; nock never checks them). */
export function appPrivateKey(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

export function appEnv(privateKey: string, secret: string): Record<string, string> {
  return { APP_ID: TEST_APP_ID, PRIVATE_KEY: privateKey, WEBHOOK_SECRET: secret };
}

export interface Delivery {
  event: string;
  payload?: unknown;
  /** The raw body, when it is not a JSON payload. */
  body?: string;
  id?: string;
  /** Signs with this secret; `null` sends no signature header. */
  secret: string | null;
  /** Replace or remove (undefined) any header. */
  headers?: Record<string, string | undefined>;
  path?: string;
}

export async function deliver(baseUrl: string, delivery: Delivery): Promise<{ status: number; text: string; id: string }> {
  const body = delivery.body ?? JSON.stringify(delivery.payload);
  const id = delivery.id ?? randomUUID();
  const headers: Record<string, string | undefined> = {
    'content-type': 'application/json',
    'x-github-event': delivery.event,
    'x-github-delivery': id,
    'user-agent': 'GitHub-Hookshot/test',
    ...(delivery.secret !== null ? { 'x-hub-signature-256': await sign(delivery.secret, body) } : {}),
    ...delivery.headers,
  };
  const sent = Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const response = await fetch(`${baseUrl}${delivery.path ?? '/api/github/webhooks'}`, { method: 'POST', headers: sent, body });
  return { status: response.status, text: await response.text(), id };
}

/** A token answer for POST /app/installations/{id}/access_tokens. */
export function installationToken() {
  return { token: 'ghs_TESTinstallationTOKEN', expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: {}, repository_selection: 'all' };
}
