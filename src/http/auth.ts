import { createHash, timingSafeEqual } from "node:crypto";
import { GitfaasError } from "../errors/index.js";

import { SCOPES, type Scope } from "../access/index.js";

export { SCOPES, type RouteAccess, type Scope } from "../access/index.js";

export interface AccessToken {
  readonly token: string;
  readonly scopes: readonly Scope[];
}

const ALL_SCOPES: ReadonlySet<Scope> = new Set(SCOPES);

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/**
 * Bearer-token access by scope. Only digests are kept and compared in constant time; with no token
 * configured, access control is off (the local quickstart's default).
 */
export class AccessControl {
  private readonly grants: readonly { readonly digest: Buffer; readonly scopes: ReadonlySet<Scope> }[];

  constructor(tokens: readonly AccessToken[]) {
    this.grants = tokens.map((grant) => ({ digest: digest(grant.token), scopes: new Set(grant.scopes) }));
  }

  get enabled(): boolean {
    return this.grants.length > 0;
  }

  /**
   * The scopes the caller holds (all of them when access control is off). Throws UNAUTHORIZED
   * without a known token, FORBIDDEN when the token lacks `scope`.
   */
  check(authorization: string | undefined, scope: Scope): ReadonlySet<Scope> {
    if (!this.enabled) return ALL_SCOPES;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    if (!match?.[1]) {
      throw new GitfaasError("UNAUTHORIZED", "a bearer token is required (Authorization: Bearer <token>)");
    }
    const presented = digest(match[1]);
    let known = false;
    const granted = new Set<Scope>();
    for (const grant of this.grants) {
      // Every grant is compared, so the time taken says nothing about which one matched; a token
      // listed twice holds the scopes of both lines.
      if (timingSafeEqual(grant.digest, presented)) {
        known = true;
        for (const each of grant.scopes) granted.add(each);
      }
    }
    if (!known) throw new GitfaasError("UNAUTHORIZED", "the bearer token is not known");
    if (!granted.has(scope))
      throw new GitfaasError("FORBIDDEN", `the bearer token does not grant '${scope}'`);
    return granted;
  }
}
