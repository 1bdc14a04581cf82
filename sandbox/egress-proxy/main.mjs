// @ts-check
// TeleCoder's egress proxy, as its container runs it. Settings come from the environment the
// server gives the container; every refusal is one JSON line on stdout, which the server follows
// (docker logs) and turns into session events. Diagnostics go to stderr.
import { createPolicy } from './policy.mjs';
import { createEgressProxy } from './proxy.mjs';

const mode = process.env.EGRESS_MODE;
if (mode !== 'registries' && mode !== 'open') {
  process.stderr.write(`EGRESS_MODE must be "registries" or "open" (got "${mode ?? ''}")\n`);
  process.exit(2);
}
const list = (/** @type {string | undefined} */ text) => (text ?? '').split(',').map((item) => item.trim()).filter(Boolean);
const port = Number(process.env.EGRESS_PORT ?? 3128);

const policy = createPolicy({ mode, allow: list(process.env.EGRESS_ALLOW), deny: list(process.env.EGRESS_DENY) });
const server = createEgressProxy({
  policy,
  report: (report) => process.stdout.write(`${JSON.stringify(report)}\n`),
});
server.listen(port, '0.0.0.0', () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', port })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
