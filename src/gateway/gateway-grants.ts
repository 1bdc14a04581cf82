import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { GatewayGrant, GatewayGrantOptions } from './llm-gateway-types.js';

/** A grant while it lives: what its requests may do, and what to cut when it ends. */
export interface LiveGrant {
  readonly options: GatewayGrantOptions;
  readonly revoked: boolean;
  /** Ties a request's upstream fetch and client connection to the grant, until `release`. */
  track(abort: AbortController, socket: Duplex): () => void;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

class Grant implements LiveGrant {
  revoked = false;
  private readonly aborts = new Set<AbortController>();
  private readonly sockets = new Set<Duplex>();

  constructor(
    readonly options: GatewayGrantOptions,
    readonly tokenDigest: Buffer,
  ) {}

  track(abort: AbortController, socket: Duplex): () => void {
    this.aborts.add(abort);
    if (!this.sockets.has(socket)) {
      // Kept while open only; a keep-alive connection carries many requests but is listened to once.
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    }
    return () => {
      this.aborts.delete(abort);
    };
  }

  /** Aborts the upstream fetches in flight and cuts the connections that carried this grant's requests. */
  end(): void {
    this.revoked = true;
    for (const abort of this.aborts) abort.abort(new Error('the gateway grant was revoked'));
    this.aborts.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}

/**
 * The live grants, by session. Tokens are 32 random bytes (base64url) and only their SHA-256 is
 * kept; a presented token is hashed and compared with timingSafeEqual, so neither the comparison
 * nor its length leaks how much of a guess was right.
 */
export class GrantRegistry {
  private readonly bySession = new Map<string, Set<Grant>>();

  grant(options: GatewayGrantOptions): GatewayGrant {
    const token = randomBytes(32).toString('base64url');
    const grant = new Grant(options, digest(token));
    let grants = this.bySession.get(options.sessionId);
    if (!grants) {
      grants = new Set();
      this.bySession.set(options.sessionId, grants);
    }
    grants.add(grant);
    return {
      token,
      revoke: () => this.revoke(grant),
    };
  }

  /** The live grant of `sessionId` whose token this is; a token of another session finds nothing. */
  find(sessionId: string, token: string): LiveGrant | undefined {
    const presented = digest(token);
    let found: Grant | undefined;
    // Every grant of the session is compared, found or not, so timing says nothing about which.
    for (const grant of this.bySession.get(sessionId) ?? []) {
      if (timingSafeEqual(presented, grant.tokenDigest) && !grant.revoked) found = grant;
    }
    return found;
  }

  revokeAll(): void {
    for (const grants of [...this.bySession.values()]) for (const grant of [...grants]) this.revoke(grant);
  }

  private revoke(grant: Grant): void {
    if (grant.revoked) return;
    const grants = this.bySession.get(grant.options.sessionId);
    grants?.delete(grant);
    if (grants?.size === 0) this.bySession.delete(grant.options.sessionId);
    grant.end();
  }
}
