import { createHmac, timingSafeEqual } from "node:crypto";
import { GitfaasError } from "../errors/index.js";

export type WebhookProvider = "github" | "gitlab" | "gitea";

export interface WebhookEvent {
  readonly provider: WebhookProvider;
  /** "push", or another event (a ping…) that asks for nothing. */
  readonly event: string;
  /** The branch a push went to; null for events that are not pushes to a branch. */
  readonly branch: string | null;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function sameSecret(given: string, expected: string): boolean {
  // Compare digests so that neither the length nor the content leaks through timing.
  const a = createHmac("sha256", "gitfaas-compare").update(given).digest();
  const b = createHmac("sha256", "gitfaas-compare").update(expected).digest();
  return timingSafeEqual(a, b);
}

function hmacHex(secret: string, body: Buffer): string {
  return createHmac("sha256", secret).update(body).digest("hex");
}

function unauthorized(message: string): GitfaasError {
  return new GitfaasError("WEBHOOK_UNAUTHORIZED", message);
}

/**
 * Checks a git server's push notification against the shared secret and says what it is about.
 * GitHub signs the body (X-Hub-Signature-256: sha256=<hmac>), Gitea too (X-Gitea-Signature: <hmac>),
 * GitLab sends the secret itself (X-Gitlab-Token). Anything unsigned or wrongly signed is refused.
 */
export function verifyWebhook(headers: Headers, body: Buffer, secret: string): WebhookEvent {
  const giteaSignature = header(headers, "x-gitea-signature");
  const githubSignature = header(headers, "x-hub-signature-256");
  const gitlabToken = header(headers, "x-gitlab-token");
  let provider: WebhookProvider;
  let event: string;
  if (giteaSignature !== undefined) {
    // Gitea also sends GitHub's headers; its own signature is checked first.
    if (!sameSecret(giteaSignature.toLowerCase(), hmacHex(secret, body)))
      throw unauthorized("bad X-Gitea-Signature");
    provider = "gitea";
    event = header(headers, "x-gitea-event") ?? "push";
  } else if (githubSignature !== undefined) {
    if (!sameSecret(githubSignature.toLowerCase(), `sha256=${hmacHex(secret, body)}`)) {
      throw unauthorized("bad X-Hub-Signature-256");
    }
    provider = "github";
    event = header(headers, "x-github-event") ?? "push";
  } else if (gitlabToken !== undefined) {
    if (!sameSecret(gitlabToken, secret)) throw unauthorized("bad X-Gitlab-Token");
    provider = "gitlab";
    event = (header(headers, "x-gitlab-event") ?? "Push Hook") === "Push Hook" ? "push" : "other";
  } else {
    throw unauthorized("no signature: expected X-Hub-Signature-256, X-Gitlab-Token or X-Gitea-Signature");
  }
  if (event !== "push") return { provider, event, branch: null };
  let ref: unknown;
  try {
    ref = (JSON.parse(body.toString("utf8")) as { ref?: unknown }).ref;
  } catch {
    throw new GitfaasError("INVALID_JSON", "the push event is not JSON");
  }
  const branch =
    typeof ref === "string" && ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : null;
  return { provider, event, branch };
}
