/** A small HTTP client for the CLI commands that talk to a running gitfaas. */
export interface ClientResult {
  readonly status: number;
  readonly body: unknown;
}

export async function call(
  baseUrl: string,
  method: "GET" | "POST",
  path: string,
  init: {
    body?: Buffer | string;
    contentType?: string;
    token?: string;
    headers?: Readonly<Record<string, string>>;
  } = {},
): Promise<ClientResult> {
  const url = `${baseUrl.replace(/\/+$/, "")}${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      body: init.body,
      headers: {
        ...(init.contentType ? { "content-type": init.contentType } : {}),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...init.headers,
      },
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new Error(`cannot reach gitfaas at ${baseUrl} (${cause}); is it running? (--url or GITFAAS_URL)`);
  }
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Logs and payloads are plain text.
  }
  return { status: response.status, body };
}
