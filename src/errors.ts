/**
 * An error that is the caller's to fix, with the HTTP status that says so. Messages are written
 * for the person who will read them: what was wrong and how to put it right.
 */
export class TeleCoderError extends Error {
  readonly status: number;
  constructor(message: string, status = 400, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TeleCoderError';
    this.status = status;
  }
}

export class NotFoundError extends TeleCoderError {
  constructor(message: string) {
    super(message, 404);
    this.name = 'NotFoundError';
  }
}

/**
 * The server is not set up for what was asked (no LLM key, no GitHub token, Docker unreachable):
 * 503, so a client can tell "fix the server" from "fix the request" (400) and from a bug (500).
 */
export class NotConfiguredError extends TeleCoderError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 503, options);
    this.name = 'NotConfiguredError';
  }
}

export class ConflictError extends TeleCoderError {
  constructor(message: string) {
    super(message, 409);
    this.name = 'ConflictError';
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The request was handled before (same delivery id); `sessionId` is the session it created. */
export class DuplicateDeliveryError extends ConflictError {
  readonly sessionId: string | null;
  constructor(deliveryId: string, sessionId: string | null) {
    super(`delivery ${deliveryId} was already processed${sessionId ? ` (session ${sessionId})` : ''}`);
    this.name = 'DuplicateDeliveryError';
    this.sessionId = sessionId;
  }
}
