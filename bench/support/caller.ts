import http from "node:http";

export interface CallerAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * A lean HTTP/1.1 caller over one keep-alive pool. Where a figure is compared with a baseline that has
 * no HTTP hop of its own, the caller's cost should stay small: fetch adds about half a millisecond a call.
 */
export function keepAliveCaller(baseUrl: string): {
  post: (path: string, body: string, contentType: string) => Promise<CallerAnswer>;
  get: (path: string) => Promise<CallerAnswer>;
  close: () => void;
} {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const call = (
    method: string,
    path: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<CallerAnswer> =>
    new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: url.hostname,
          port: url.port,
          path,
          method,
          agent,
          headers: { ...headers, "content-length": Buffer.byteLength(body) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (chunk: Buffer) => chunks.push(chunk));
          response.on("end", () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
          );
          response.on("error", reject);
        },
      );
      request.on("error", reject);
      request.end(body);
    });
  return {
    post: (path, body, contentType) => call("POST", path, body, { "content-type": contentType }),
    get: (path) => call("GET", path, "", {}),
    close: () => agent.destroy(),
  };
}
