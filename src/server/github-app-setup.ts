import { createPrivateKey } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TeleCoderError } from '../errors.js';
import { readJsonBody } from '../http/read-json-body.js';
import { sendError, sendJson } from '../http/send-json.js';
import type { Logger } from '../logger.js';
import type { ProbotSetupParts } from './probot-setup-parts.js';
import { SETUP_CALLBACK_PATH, SETUP_LINK_PATH, setupUrl, type SetupAccess } from './setup-access.js';

export interface GitHubAppSetupOptions {
  parts: ProbotSetupParts;
  /** Who may use the pages; its guard runs before this handler and everything else. */
  access: SetupAccess;
  /** Stores a registered App's keys (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, …); returns where they went. */
  saveAppCredentials: (values: Record<string, string>) => string;
  /**
   * TELECODER_PUBLIC_URL: the address GitHub sends the browser back to and delivers webhooks to
   * (the manifest's redirect and hook URLs); default the request's Host (a browser on this machine).
   */
  publicUrl?: string | undefined;
  /** Where the server takes webhooks (WEBHOOK_PATH); default /api/github/webhooks. */
  webhookPath?: string | undefined;
  /** WEBHOOK_PROXY_URL: a smee.io channel forwarding deliveries here; the manifest's hook URL when set. */
  webhookProxyUrl?: string | undefined;
  /** GitHub's REST API, where the manifest code is exchanged for the App's keys. */
  githubApiUrl?: string | undefined;
  logger: Logger;
}

const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  // No other site may frame the pages, and the form posting to GitHub sends no Referer.
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/**
 * Probot's setup pages, served by TeleCoder: register a GitHub App from app.yml (the manifest
 * flow) or import an existing one's keys. The keys go to `saveAppCredentials` (the data dir), not
 * to ./.env, and are used after a restart. Nothing is asked of the network until a person
 * registers an App (no smee.io channel at start-up).
 */
export function createGitHubAppSetupHandler(options: GitHubAppSetupOptions) {
  const { parts, access, logger } = options;
  const baseUrl = (req: IncomingMessage) => options.publicUrl ?? `http://${req.headers.host ?? 'localhost'}`;
  const page = (res: ServerResponse, html: string) => res.writeHead(200, PAGE_HEADERS).end(html);

  const saved = (file: string, appId: string | undefined) => {
    logger.info({ file, appId }, 'GitHub App keys saved; restart TeleCoder to use the App');
    return `saved to ${file}; restart TeleCoder to use the App`;
  };

  const showSetupPage = (req: IncomingMessage, res: ServerResponse) => {
    if (!access.sessionOf(req)) access.openSession(res);
    const manifestFlow = new parts.ManifestCreation({ updateEnv: (env) => env });
    const pkg = manifestFlow.pkg;
    const target = new URL(manifestFlow.createAppUrl);
    // GitHub sends `state` back with the code; only a state minted here is accepted (SetupAccess).
    target.searchParams.set('state', access.states.mint());
    page(res, parts.setupView({
      name: pkg.name,
      version: pkg.version,
      description: pkg.description,
      createAppUrl: target.href,
      manifest: JSON.stringify(addressedManifest(manifestFlow.getManifest({ pkg, baseUrl: baseUrl(req) }), req)),
    }));
  };

  /**
   * Probot's manifest with this server's addresses. Probot spreads app.yml over the addresses it
   * computes, so app.yml's placeholder hook URL (https://example.com/…) would win, and its own
   * default is the server's root rather than the webhook path. Here: deliveries go to
   * WEBHOOK_PROXY_URL when set, else to the public URL's webhook path; GitHub sends the browser
   * back to SETUP_CALLBACK_PATH on the same base; any setup_url or callback_urls in app.yml keep
   * their path on that base. With neither a public URL nor a proxy, GitHub cannot reach this
   * server: the placeholder stays but the webhook is created inactive, so no delivery (with issue
   * and code content) is sent to a host that is not ours.
   */
  const addressedManifest = (generated: string, req: IncomingMessage): Record<string, unknown> => {
    const manifest = JSON.parse(generated) as Record<string, unknown>;
    const base = baseUrl(req);
    const onBase = (value: unknown) => {
      try {
        const url = new URL(String(value));
        return `${base}${url.pathname}${url.search}`;
      } catch {
        return value;
      }
    };
    const hook = { ...(manifest.hook_attributes as Record<string, unknown> | undefined) };
    if (options.webhookProxyUrl) {
      hook.url = options.webhookProxyUrl;
      hook.active = true;
    } else if (options.publicUrl) {
      hook.url = `${options.publicUrl}${options.webhookPath ?? '/api/github/webhooks'}`;
      hook.active = true;
    } else {
      hook.active = false;
    }
    manifest.hook_attributes = hook;
    manifest.redirect_url = `${base}${SETUP_CALLBACK_PATH}`;
    if (manifest.setup_url !== undefined) manifest.setup_url = onBase(manifest.setup_url);
    if (Array.isArray(manifest.callback_urls)) manifest.callback_urls = manifest.callback_urls.map(onBase);
    return manifest;
  };

  const showImportPage = (req: IncomingMessage, res: ServerResponse) => {
    // The page posts the keys with fetch; the cookie it gets here is what lets that POST through.
    if (!access.sessionOf(req)) access.openSession(res);
    const manifestFlow = new parts.ManifestCreation({ updateEnv: (env) => env });
    const githubHost = `${process.env.GHE_PROTOCOL || 'https'}://${process.env.GHE_HOST ?? 'github.com'}`;
    page(res, parts.importView({ name: manifestFlow.pkg.name, WEBHOOK_PROXY_URL: options.webhookProxyUrl ?? process.env.WEBHOOK_PROXY_URL, GH_HOST: githubHost }));
  };

  /** GitHub's redirect after the App was created: exchange the code for its keys, then install it. */
  const finishRegistration = async (res: ServerResponse, query: URLSearchParams) => {
    const code = query.get('code');
    if (!code) throw new TeleCoderError('telecoder: GitHub sent no code back; start again from /probot', 400);
    if (!access.states.consume(query.get('state'))) {
      throw new TeleCoderError('telecoder: this GitHub App registration was already finished or expired; start again from /probot', 403);
    }
    let message = '';
    const manifestFlow = new parts.ManifestCreation({
      updateEnv: (env) => {
        // Probot quotes the key for a .env file; the credentials file does its own quoting.
        const values: Record<string, string> = { ...env, PRIVATE_KEY: (env.PRIVATE_KEY ?? '').replace(/^"([\s\S]*)"$/, '$1') };
        message = saved(options.saveAppCredentials(values), values.APP_ID);
        return values;
      },
    });
    let appUrl: string;
    try {
      appUrl = await manifestFlow.createAppFromCode(code, {
        ...(options.githubApiUrl ? { baseUrl: options.githubApiUrl } : {}),
        request: {},
      });
    } catch (error) {
      if (error instanceof TeleCoderError) throw error;
      logger.warn({ err: error }, 'GitHub App registration failed');
      throw new TeleCoderError(`telecoder: GitHub did not hand over the new App's keys (${(error as Error).message}); start again from /probot`, 502);
    }
    res.writeHead(302, { Location: `${appUrl}/installations/new`, 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' }).end(message);
  };

  /** An existing App's keys, from the import page (or a script with the API token). */
  const importApp = async (req: IncomingMessage, res: ServerResponse) => {
    const body = (await readJsonBody(req, { limitBytes: 64 * 1024 })) as Record<string, unknown> | undefined;
    const text = (key: string) => (typeof body?.[key] === 'string' ? (body[key] as string).trim() : String(body?.[key] ?? '').trim());
    const appId = text('appId');
    const pem = text('pem');
    const webhookSecret = text('webhook_secret');
    if (!/^\d+$/.test(appId)) throw new TeleCoderError('telecoder: appId must be the App\'s numeric id (its settings page, "App ID")', 400);
    try {
      createPrivateKey(pem);
    } catch {
      throw new TeleCoderError('telecoder: pem must be the App\'s private key file (-----BEGIN RSA PRIVATE KEY-----…), as downloaded from its settings page', 400);
    }
    if (!webhookSecret) throw new TeleCoderError('telecoder: webhook_secret must be the App\'s webhook secret (its settings page, "Webhook secret")', 400);
    const file = options.saveAppCredentials({ APP_ID: appId, PRIVATE_KEY: pem, WEBHOOK_SECRET: webhookSecret });
    // The cookie stays valid: the import page goes on to /probot/success with it.
    sendJson(res, 200, { message: saved(file, appId) });
  };

  const mintLink = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const ticket = access.links.mint();
    sendJson(res, 201, {
      url: `${baseUrl(req)}/probot?ticket=${ticket}`,
      expires_at: new Date(Date.now() + access.links.ttlMs).toISOString(),
    });
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const { path, query } = setupUrl(req);
    const route = `${(req.method ?? 'GET').toUpperCase()} ${path}`;
    try {
      switch (route) {
        case 'GET /probot':
          showSetupPage(req, res);
          return true;
        case 'GET /probot/import':
          showImportPage(req, res);
          return true;
        case 'GET /probot/success':
          page(res, parts.successView({ name: new parts.ManifestCreation({ updateEnv: (env) => env }).pkg.name }));
          return true;
        case `GET ${SETUP_CALLBACK_PATH}`:
          await finishRegistration(res, query);
          return true;
        case 'POST /probot/import':
          await importApp(req, res);
          return true;
        case `POST ${SETUP_LINK_PATH}`:
          mintLink(req, res);
          return true;
        default:
          return false;
      }
    } catch (error) {
      if (error instanceof TeleCoderError) {
        sendError(res, error.status, error.message, error.status === 413 ? { Connection: 'close' } : {});
      } else {
        logger.error({ err: error }, 'GitHub App setup request failed');
        sendError(res, 500, 'internal error in the TeleCoder server; the details are in its log');
      }
      return true;
    }
  };
}
