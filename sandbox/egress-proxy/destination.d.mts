// Types of destination.mjs, for TeleCoder's TypeScript tests.
import type { EgressPolicy } from './policy.mjs';
export interface Target {
  host: string;
  port: number;
}
export type Resolver = (host: string) => Promise<string[]>;
export type Decision =
  | { kind: 'allowed'; addresses: string[] }
  | { kind: 'blocked'; reason: 'not-allowed' | 'address'; detail: string }
  | { kind: 'unresolvable'; detail: string };
export function parseAuthority(authority: string): Target | undefined;
export function parseAbsoluteUrl(target: string): (Target & { path: string }) | undefined;
export function decide(target: Target, policy: EgressPolicy, resolve?: Resolver): Promise<Decision>;
