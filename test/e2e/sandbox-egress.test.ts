import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { usePipelineHarness } from '../helpers/pipeline-harness.js';
import { finish, stageRouter, textOf } from '../helpers/stage-router.js';
import { waitForFinal } from '../helpers/test-app.js';

// The whole server under the default egress policy, listening on every interface as it does in
// docker/compose.yml: an agent's commands reach the npm registry, are refused elsewhere with an
// event that says how to allow a host, and never reach the TeleCoder API by any address.

const hostAddresses = () =>
  Object.values(networkInterfaces())
    .flat()
    .filter((entry) => entry && entry.family === 'IPv4' && !entry.internal)
    .map((entry) => entry!.address);

/** The sandbox's own default gateway: an address the host would answer on, were it on the network. */
const GATEWAY =
  "$(python3 -c \"import socket,struct;h=[l.split()[2] for l in open('/proc/net/route') if l.split()[1]=='00000000'][0];print(socket.inet_ntoa(struct.pack('<L',int(h,16))))\")";

function probeScript(apiPort: number, addresses: string[]): string {
  return [
    'echo "npm=$(npm view is-number@7.0.0 version 2>/dev/null)"',
    // %{http_connect}: the proxy's answer to CONNECT.
    `echo "notallowed=$(curl -s -o /dev/null -m 10 -w '%{http_connect}' https://not-allowed.example.com/)"`,
    `echo "allowed=$(curl -s -o /dev/null -m 10 -w '%{http_connect}' https://mirror.allowed-by-test.invalid/)"`,
    `for a in ${addresses.join(' ')}; do`,
    `  direct=$(curl --noproxy '*' -s -m 3 "http://$a:${apiPort}/health")`,
    `  proxied=$(NO_PROXY= no_proxy= curl -s -m 5 "http://$a:${apiPort}/health")`,
    `  case "$direct$proxied" in *'"ok"'*) echo "api-$a=REACHED";; *) echo "api-$a=refused";; esac`,
    'done',
  ].join('\n');
}

describe('sandbox egress through the whole server', () => {
  const { start, localRepo } = usePipelineHarness('egress');

  it('reaches the registry, refuses other hosts with a session event, honours TELECODER_EGRESS_ALLOW, and never reaches the API', async () => {
    const repo = localRepo({ 'README.md': '# egress\n' });
    let apiPort = 0;
    // Every address this machine answers on (Docker's bridges included), and the sandbox's gateway.
    const addresses = ['127.0.0.1', 'localhost', ...hostAddresses(), GATEWAY];
    const router = stageRouter({
      agent: [() => ({ toolCalls: [{ name: 'run_command', arguments: { command: probeScript(apiPort, addresses) } }] }), finish('probed')],
    });
    const app = await start(router, {
      env: {
        // Empty: the configuration's own default policy (the test app otherwise turns networking off).
        TELECODER_EGRESS: '',
        TELECODER_EGRESS_ALLOW: '*.allowed-by-test.invalid',
        TELECODER_STAGES: 'code',
        TELECODER_ADDR: '0.0.0.0:0',
        TELECODER_API_TOKEN: 'egress-test-token',
        TELECODER_ALLOW_LOCAL_REPOS: 'true',
      },
    });
    apiPort = Number(new URL(app.url).port);
    const session = app.engine.submit({ repo, prompt: 'probe the network' });
    const done = await waitForFinal(app, session.id, 180_000);
    expect(done.error).toBeNull();

    const request = textOf(router.requests('agent')[1]!);
    // What the command printed (the command's own text names REACHED too).
    const seen = request.slice(request.indexOf('tool_result'));
    expect(seen).toContain('npm=7.0.0');
    expect(seen).toContain('notallowed=403');
    // Allowed by TELECODER_EGRESS_ALLOW: the proxy let it through and then found no such host.
    expect(seen).toContain('allowed=502');
    expect(seen).toMatch(/api-127\.0\.0\.1=refused/);
    expect(seen).not.toContain('REACHED');
    expect(seen.match(/api-[^=]+=refused/g)?.length).toBe(addresses.length);

    const outputs = app.store
      .listEvents(session.id)
      .filter((event) => event.type === 'output')
      .map((event) => String(event.data));
    expect(outputs).toContain('egress to not-allowed.example.com blocked; allow it with TELECODER_EGRESS_ALLOW');
    expect(outputs.some((line) => line.startsWith('egress to 127.0.0.1 blocked: 127.0.0.1 is a loopback address'))).toBe(true);
    expect(outputs.filter((line) => line.includes('allowed-by-test'))).toEqual([]);
  }, 240_000);
});
