/**
 * Who may call what: the one list of token scopes. A route declares one of these, or `public`;
 * settings parse tokens against the same list.
 */
export const SCOPES = ["publish", "read", "admin"] as const;

/** What a bearer token may do; each is granted on its own. */
export type Scope = (typeof SCOPES)[number];

/** What a route declares: a scope a token must hold, or `public` (no token asked). */
export type RouteAccess = Scope | "public";

export function isScope(text: string): text is Scope {
  return (SCOPES as readonly string[]).includes(text);
}
