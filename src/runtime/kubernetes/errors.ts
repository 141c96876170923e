import { ApiException } from "@kubernetes/client-node";
import { GitfaasError } from "../../errors/index.js";

const UNDICI_NETWORK = new Set([
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

interface StatusBody {
  message?: string;
  reason?: string;
}

export function parseStatus(body: unknown): StatusBody {
  if (typeof body === "string") {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return (body ?? {}) as StatusBody;
}

/** The API server's own words for why it refused, as a typed error; never a stack trace. */
export function fromKubernetesError(error: unknown, what: string): GitfaasError {
  if (error instanceof ApiException) {
    const status = parseStatus(error.body);
    const message = `${what}: the API server answered ${error.code}${status.reason ? ` ${status.reason}` : ""}: ${status.message ?? "no reason given"}`;
    // A server-side apply naming a field the schema lacks is refused with a 500, yet it is the manifest's
    // fault. (The same words about the typed *live* object blame what is stored, not the manifest.)
    const schemaRefusal =
      error.code === 500 && /typed patch object.*field not declared in schema/s.test(status.message ?? "");
    const code = schemaRefusal
      ? "KUBERNETES_INVALID"
      : error.code === 403 || error.code === 401
        ? "KUBERNETES_FORBIDDEN"
        : error.code === 409
          ? "KUBERNETES_CONFLICT"
          : error.code === 422 || error.code === 400
            ? "KUBERNETES_INVALID"
            : error.code === 404
              ? "KUBERNETES_NOT_FOUND"
              : error.code === 429
                ? "KUBERNETES_THROTTLED"
                : "KUBERNETES_FAILED";
    return new GitfaasError(code, message, { status: error.code, reason: status.reason ?? null });
  }
  // Node's own codes (ECONNREFUSED), or undici's for a connection that failed or went quiet; fetch (the
  // client's watches) wraps them in a TypeError as its `cause`.
  const cause = error as { code?: string; message?: string; cause?: { code?: string } };
  const network = cause.code ?? cause.cause?.code;
  if (network && (/^E[A-Z]+/.test(network) || UNDICI_NETWORK.has(network))) {
    return new GitfaasError(
      "KUBERNETES_UNREACHABLE",
      `${what}: the API server cannot be reached (${network})`,
    );
  }
  return new GitfaasError("KUBERNETES_FAILED", `${what}: ${cause.message ?? String(error)}`);
}
