/**
 * The least any service in front of the API server can do: an HTTP server in its own process that, for
 * each POST, creates the baseline Job as gitfaas sends it (the client set up as gitfaas sets it up) and
 * answers. Measuring it next to gitfaas tells what the extra process hop costs on this machine from what
 * gitfaas itself adds.
 *   node dist-bench/bench/support/relay.js <kubeconfig> <namespace>   (prints its port; built by
 *   `tsc -p tsconfig.bench.json`)
 */
import http from "node:http";
import { loadKubeConfig } from "../../src/runtime/index.js";
import { RenderedObjectApi } from "../../src/runtime/kubernetes/rendered-object-api.js";
import { baselineJob } from "./baseline-job.js";

const [kubeconfig, namespace] = process.argv.slice(2);
if (!kubeconfig || !namespace) throw new Error("usage: relay.ts <kubeconfig> <namespace>");
const objects = RenderedObjectApi.forConfig(loadKubeConfig(kubeconfig));
const server = http.createServer((request, response) => {
  request.resume();
  request.on("end", () => {
    objects.createRendered(baselineJob(namespace), "gitfaas").then(
      (job) => {
        response.writeHead(201, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: false, name: job.metadata?.name }));
      },
      (error: unknown) => {
        response.writeHead(500, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: true, message: String(error) }));
      },
    );
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as { port: number }).port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
