import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { PodAddresses } from "../src/runtime/kubernetes/pod-addresses.js";
import { http, nodeJob, respondWith, startServer, tempDir, writeTree } from "./support/gitfaas-fixture.js";

const pod = (uid: string, functionUid: string, ip: string, phase = "Running") => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { uid, name: uid, annotations: { "gitfaas.dev/function-uid": functionUid } },
  status: { phase, podIP: ip, podIPs: [{ ip }, { ip: `fd00::${uid.length}` }] },
});

test("pod addresses: a running tracked pod's addresses name its function; a finished or deleted one's do not", () => {
  const addresses = new PodAddresses();
  addresses.update(pod("p1", "f-one", "10.244.0.7"));
  assert.equal(addresses.functionAt("10.244.0.7"), "f-one");
  assert.equal(addresses.functionAt("::ffff:10.244.0.7"), "f-one");
  assert.equal(addresses.functionAt("fd00::2"), "f-one");
  addresses.update(pod("p1", "f-one", "10.244.0.7", "Succeeded"));
  assert.equal(addresses.functionAt("10.244.0.7"), undefined);
  // The address reused by another pod names that pod's function.
  addresses.update(pod("p2", "f-two", "10.244.0.7"));
  assert.equal(addresses.functionAt("10.244.0.7"), "f-two");
  addresses.remove(pod("p2", "f-two", "10.244.0.7"));
  assert.equal(addresses.functionAt("10.244.0.7"), undefined);
  // A pod gitfaas does not track (no function annotation) names nothing.
  addresses.update({ ...pod("p3", "", "10.244.0.9"), metadata: { uid: "p3", name: "p3" } });
  assert.equal(addresses.functionAt("10.244.0.9"), undefined);
});

test("a publish with no Gitfaas-Parent from a running lambda's address is linked to that lambda's function", async () => {
  const repo = await tempDir("address-repo");
  after(() => rm(repo, { recursive: true, force: true }));
  await writeTree(repo, {
    "config.json": JSON.stringify({
      topics: [
        { name: "a", configs: ["a.yaml"] },
        { name: "b", configs: ["b.yaml"] },
      ],
    }),
    "a.yaml": nodeJob("a", respondWith('"a"')),
    "b.yaml": nodeJob("b", respondWith('"b"')),
  });
  const server = await startServer({ repo });
  after(() => server.cleanup());
  const a = await http(server.url, "POST", "/publish/a", "x", "text/plain");
  const parent = (a.json.applies as { functionUid: string }[])[0]!.functionUid;
  // The runtime's part (which pod has which address) is tested above; here the caller is that pod.
  const runtime = server.runtime as { functionAt?: (address: string) => string | undefined };
  runtime.functionAt = (address) =>
    address === "127.0.0.1" || address === "::ffff:127.0.0.1" ? parent : undefined;
  const b = await http(server.url, "POST", "/publish/b", "y", "text/plain");
  assert.equal(b.status, 202, b.text);
  const tree = await http(server.url, "GET", `/requests/${a.json.requestUid as string}/tree?wait=30`);
  assert.match(JSON.stringify(tree.json), new RegExp(b.json.requestUid as string));
  const child = await http(server.url, "GET", `/requests/${b.json.requestUid as string}/tree`);
  assert.equal(
    child.json.root ? (child.json.root as { requestUid: string }).requestUid : undefined,
    a.json.requestUid,
  );
});
