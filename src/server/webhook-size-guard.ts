import type { IncomingMessage, ServerResponse } from 'node:http';

/** GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub. */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

/**
 * Refuses an oversized webhook before a byte of it is read: Probot's middleware buffers the whole
 * body to check its signature, so a huge body would otherwise be held in memory first. GitHub
 * always declares the length; a body that does not is refused too (411).
 * Resolves true when it answered the request.
 */
export function refuseOversizedWebhook(req: IncomingMessage, res: ServerResponse, webhookPath: string): boolean {
  if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== webhookPath) return false;
  const declared = req.headers['content-length'];
  const refuse = (status: number, error: string) => {
    res.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ error }));
    // Drop the unread body without buffering it; the connection closes after the answer.
    req.resume();
    return true;
  };
  if (declared === undefined) {
    return refuse(411, 'a webhook must declare its Content-Length (GitHub always does)');
  }
  const length = Number(declared);
  if (!Number.isFinite(length) || length > MAX_WEBHOOK_BYTES) {
    return refuse(413, `webhook payloads are at most ${MAX_WEBHOOK_BYTES / 1024 / 1024} MB (GitHub's own cap)`);
  }
  return false;
}
