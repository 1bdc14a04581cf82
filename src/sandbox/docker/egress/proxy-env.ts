/**
 * The environment that points a sandbox's tools at the egress proxy, or (no proxy: a sandbox with
 * no network) clears it, because a workspace snapshot committed from a sandbox carries the
 * variables of the sandbox it was.
 *  - curl, git, pip, uv, Go, cargo, Bundler, npm, pnpm and Yarn 1 read HTTP(S)_PROXY or the lower-case forms;
 *  - Yarn ≥ 2 reads only its own YARN_HTTP(S)_PROXY.
 * Node's own fetch and http ignore them; NODE_USE_ENV_PROXY=1 would change that but makes every
 * `node` of the image's version print an "experimental" warning, so a script's own requests fail
 * (no name resolves in the sandbox) instead of going through the proxy.
 * Loopback stays direct: a project's tests talk to servers they start inside the sandbox.
 */
export function proxyEnv(proxyUrl: string | undefined): string[] {
  const url = proxyUrl ?? '';
  const direct = proxyUrl ? 'localhost,127.0.0.1,::1' : '';
  return [
    `HTTP_PROXY=${url}`,
    `HTTPS_PROXY=${url}`,
    `http_proxy=${url}`,
    `https_proxy=${url}`,
    `YARN_HTTP_PROXY=${url}`,
    `YARN_HTTPS_PROXY=${url}`,
    `NO_PROXY=${direct}`,
    `no_proxy=${direct}`,
  ];
}
