import type Dockerode from 'dockerode';

/**
 * An exec's exit code, once Docker has it: the engine can report an exec as running for a moment
 * after its output stream ended. Undefined when the exec is gone or never settles.
 */
export async function execExitCode(exec: Dockerode.Exec, options: { attempts?: number; intervalMs?: number } = {}): Promise<number | undefined> {
  const { attempts = 40, intervalMs = 50 } = options;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    try {
      const info = await exec.inspect();
      if (!info.Running && typeof info.ExitCode === 'number') return info.ExitCode;
    } catch {
      return undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return undefined;
}
