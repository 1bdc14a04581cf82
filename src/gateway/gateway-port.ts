/**
 * The port the LLM gateway answers on inside every sandbox: its own loopback, tunnelled to the
 * server over the Docker API (Sandbox.serveLoopbackPort). Each sandbox has its own network
 * namespace, so one fixed port serves all of them; nothing outside a sandbox can connect to it.
 */
export const GATEWAY_SANDBOX_PORT = 41_414;

export function gatewayBaseUrl(port = GATEWAY_SANDBOX_PORT): string {
  return `http://127.0.0.1:${port}`;
}
