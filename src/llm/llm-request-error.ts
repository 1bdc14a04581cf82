/**
 * Turns an SDK failure into an error a person can act on. Both SDKs have already retried what was
 * worth retrying (429, 5xx, connection errors) by the time this runs, so the message says so.
 */

export interface LLMFailure {
  provider: string;
  /** HTTP status of the last answer; undefined when no answer came (connection error, timeout). */
  status?: number;
  /** The server's own error message, when it sent one. */
  serverMessage?: string;
  kind: 'status' | 'timeout' | 'connection' | 'other';
  maxRetries: number;
  timeoutMs: number;
  baseURL: string;
  cause: unknown;
  detail: string;
}

/** Statuses both SDKs retry on their own. */
function retried(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

function hint(provider: string, status: number): string {
  const keyVariable = provider === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY';
  if (status === 401 || status === 403) return `; check ${keyVariable}`;
  if (status === 404) return '; check the model name (TELECODER_MODEL) and the base URL';
  if (status === 429) return '; the provider is rate limiting: lower TELECODER_MAX_CONCURRENT or raise your quota';
  return '';
}

export function llmRequestError(failure: LLMFailure): Error {
  const { provider, status, maxRetries } = failure;
  const retries = `${maxRetries} ${maxRetries === 1 ? 'retry' : 'retries'}`;
  let message: string;
  if (failure.kind === 'status' && status !== undefined) {
    const said = failure.serverMessage ? ` (${failure.serverMessage})` : '';
    const after = retried(status) ? ` after ${retries}` : '';
    message = `LLM request failed: ${provider} answered ${status}${said}${after}${hint(provider, status)}`;
  } else if (failure.kind === 'timeout') {
    message =
      `LLM request failed: ${provider} did not answer within ${Math.round(failure.timeoutMs / 1000)}s ` +
      `(${retries}); raise TELECODER_LLM_TIMEOUT or check the provider's status`;
  } else if (failure.kind === 'connection') {
    message =
      `LLM request failed: could not reach ${provider} at ${failure.baseURL} after ${retries} ` +
      `(${failure.detail}); check the base URL and the network`;
  } else {
    message = `LLM request failed: ${provider}: ${failure.detail}`;
  }
  const error = new Error(message, { cause: failure.cause });
  error.name = 'LLMRequestError';
  return error;
}

/**
 * The server's words from an SDK error message ("500 internal error" → "internal error"), for
 * answers whose body was not the provider's JSON error shape. Undefined when there were none.
 */
export function serverText(sdkMessage: string, status: number): string | undefined {
  const text = sdkMessage.startsWith(`${status} `) ? sdkMessage.slice(String(status).length + 1) : sdkMessage;
  if (text === '' || text === 'status code (no body)') return undefined;
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** What both clients throw when the caller's signal aborted the request: a stop, not a failure. */
export function llmAbortError(provider: string, cause: unknown): Error {
  const error = new Error(`the ${provider} request was aborted`, { cause });
  error.name = 'AbortError';
  return error;
}
