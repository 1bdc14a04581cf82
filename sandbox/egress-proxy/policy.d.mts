// Types of policy.mjs, for TeleCoder's TypeScript tests (the proxy itself runs as plain JavaScript).
export type EgressMode = 'registries' | 'open';
export interface PolicyOptions {
  mode: EgressMode;
  allow: readonly string[];
  deny: readonly string[];
}
export interface EgressPolicy {
  mode: EgressMode;
  hostAllowed(host: string): boolean;
  addressRefusal(address: string): string | undefined;
}
export function normalizeHost(host: string): string;
export function createPolicy(options: PolicyOptions): EgressPolicy;
