/** Calls to gitfaas's API from the page: same origin, with the token the operator gave, if any. */

const TOKEN_KEY = "gitfaas.token";

/** Kept for the tab's life only (sessionStorage): closing the tab forgets it. */
export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string): void => sessionStorage.setItem(TOKEN_KEY, value),
  clear: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

/** An error answer of the API, `{error: true, code, message}`, or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = undefined,
  ) {
    super(message);
  }
}

function headers(extra: Record<string, string>): Record<string, string> {
  const value = token.get();
  return value ? { ...extra, authorization: `Bearer ${value}` } : extra;
}

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, {
      ...init,
      headers: headers((init.headers as Record<string, string> | undefined) ?? {}),
    });
  } catch (error) {
    throw new ApiError(0, "UNREACHABLE", `gitfaas did not answer (${(error as Error).message})`);
  }
  if (response.ok) return response;
  let body: { code?: string; message?: string; details?: unknown } = {};
  try {
    body = (await response.json()) as typeof body;
  } catch {
    // not our JSON: a proxy's page
  }
  throw new ApiError(
    response.status,
    body.code ?? `HTTP_${response.status}`,
    body.message ?? response.statusText,
    body.details,
  );
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await call(path, signal ? { signal } : {});
  return (await response.json()) as T;
}

export async function getText(path: string): Promise<string> {
  return (await call(path)).text();
}

export async function postJson<T>(
  path: string,
  body: string | undefined,
  contentType: string | null,
): Promise<T> {
  const init: RequestInit = { method: "POST", headers: contentType ? { "content-type": contentType } : {} };
  if (body !== undefined) init.body = body;
  return (await (await call(path, init)).json()) as T;
}
