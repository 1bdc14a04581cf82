// Types of proxy.mjs, for TeleCoder's TypeScript tests.
import type { Server } from 'node:http';
import type { Resolver } from './destination.mjs';
import type { EgressPolicy } from './policy.mjs';
export interface BlockedReport {
  event: 'blocked';
  host: string;
  port: number;
  reason: 'not-allowed' | 'address';
  detail: string;
  via: string;
}
export interface ProxyOptions {
  policy: EgressPolicy;
  report(report: BlockedReport): void;
  resolve?: Resolver;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
}
export function createEgressProxy(options: ProxyOptions): Server;
export function blockedText(host: string, blocked: { reason: 'not-allowed' | 'address'; detail: string }): string;
