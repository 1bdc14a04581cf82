import type { CommandContext } from './command-context.js';

/** `telecoder serve`: runs the server until SIGINT or SIGTERM, then closes it cleanly. */
export async function serveCommand(context: Pick<CommandContext, 'io' | 'out'>): Promise<number> {
  const { startServer } = await import('../../server/start-server.js');
  const server = await startServer({ env: context.io.env });
  // What is on and what is missing, in one place (the log has the details).
  context.out(server.summary);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (received: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(received);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  context.out(`${signal}: stopping (a second Ctrl-C quits at once)`);
  await server.close();
  return 0;
}
