import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Probot's manifest flow (lib/manifest-creation.js): app.yml → manifest, code → App keys. */
export interface ManifestCreation {
  readonly pkg: Record<string, unknown>;
  /** GitHub's "new App" form (GHE_HOST and GH_ORG are honoured). */
  readonly createAppUrl: string;
  getManifest(options: { pkg: Record<string, unknown>; baseUrl: string }): string;
  /** Exchanges the code GitHub sent back for the App's keys, hands them to updateEnv, resolves the App's page. */
  createAppFromCode(code: string, probotOptions: { baseUrl?: string; request?: Record<string, unknown> }): Promise<string>;
}

export interface ProbotSetupParts {
  ManifestCreation: new (options: { updateEnv: (env: Record<string, string>) => Record<string, string> }) => ManifestCreation;
  setupView(options: { name?: unknown; version?: unknown; description?: unknown; createAppUrl: string; manifest: string }): string;
  importView(options: { name?: unknown; WEBHOOK_PROXY_URL?: string | undefined; GH_HOST: string }): string;
  successView(options: { name?: unknown }): string;
}

/**
 * The pieces of Probot's setup app that TeleCoder reuses: its manifest flow and its three pages.
 * Its own handler (lib/apps/setup.js) is not used: it asks smee.io for a channel at start-up,
 * serves every route to anyone, and cannot carry a `state` through GitHub. Probot's exports map
 * exposes only its index, so the modules are imported by file URL from the installed package.
 */
export async function loadProbotSetupParts(): Promise<ProbotSetupParts> {
  const require = createRequire(import.meta.url);
  // The exports map allows resolving the package's main file, whose directory is lib/.
  const libDir = dirname(require.resolve('probot'));
  const load = async <T>(file: string, name: string): Promise<T> => {
    const module = (await import(pathToFileURL(join(libDir, file)).href)) as Record<string, unknown>;
    if (typeof module[name] !== 'function') {
      throw new Error(`telecoder: the installed probot (${libDir}) has no ${name} in lib/${file}; reinstall probot 14`);
    }
    return module[name] as T;
  };
  return {
    ManifestCreation: await load('manifest-creation.js', 'ManifestCreation'),
    setupView: await load('views/setup.js', 'setupView'),
    importView: await load('views/import.js', 'importView'),
    successView: await load('views/success.js', 'successView'),
  };
}
