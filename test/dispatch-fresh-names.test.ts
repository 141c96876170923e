import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import { Dispatcher } from "../src/dispatch/index.js";
import { silentLogger } from "../src/logging/index.js";
import type { ApplyOutcome, FunctionLaunch, LogOutput, Runtime } from "../src/runtime/index.js";
import { SqliteStore } from "../src/store/index.js";
import { DEFAULT_BANNED_KINDS, compileManifest } from "../src/templating/index.js";

/** Records what it is asked to start; the cluster is not what this test is about. */
class RecordingRuntime implements Runtime {
  readonly name = "recording";
  readonly launches: FunctionLaunch[] = [];
  private readonly applied = new EventEmitter();
  async apply(launch: FunctionLaunch): Promise<ApplyOutcome> {
    this.launches.push(launch);
    this.applied.emit("launch");
    return { objects: [], message: "recorded" };
  }
  /** Resolves once `count` launches were recorded. */
  async launched(count: number): Promise<void> {
    while (this.launches.length < count) await once(this.applied, "launch");
  }
  onStatus(): void {}
  async reconcile(): Promise<readonly string[]> {
    return [];
  }
  async logs(): Promise<LogOutput | undefined> {
    return undefined;
  }
  async prune(): Promise<void> {}
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}

const MIXED = `apiVersion: batch/v1
kind: Job
metadata:
  name: run-{{RANDOM}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  topic: "{{TOPIC}}"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: reply-{{REQUEST_UID}}
`;

test(
  "each object is marked fresh when its name comes from a value unique to the publish, also once queued",
  { timeout: 10_000 },
  async () => {
    const runtime = new RecordingRuntime();
    const store = new SqliteStore({ file: ":memory:", expirationSeconds: 3600 });
    const dispatcher = new Dispatcher({
      currentCatalog: () => ({
        id: "rev",
        dir: "/nonexistent",
        content: {
          configPath: "config.json",
          topics: new Map([["mixed", { name: "mixed", manifests: [compileManifest(MIXED, "mixed.yaml")] }]]),
        },
      }),
      store,
      runtime,
      policy: { bannedKinds: DEFAULT_BANNED_KINDS, namespace: "ns", scope: "namespaced" },
      payloadUrl: (functionUid) => `http://gitfaas/payload/${functionUid}`,
      limits: { maxRunningPerTopic: 1, maxQueuedPerTopic: 1 },
      logger: silentLogger(),
    });
    const publish = () =>
      dispatcher.publish({ topic: "mixed", body: Buffer.from("x"), contentType: "text/plain", params: {} });
    try {
      const first = await publish();
      const second = await publish();
      assert.match(second.applies[0]!.message, /^queued/);
      assert.equal(runtime.launches.length, 1);
      // The first finishes: the queued one starts from the launch the store kept.
      dispatcher.functionFinished(first.applies[0]!.functionUid);
      await runtime.launched(2);
      assert.deepEqual(
        runtime.launches.map((launch) => [launch.functionUid, launch.freshNames]),
        [
          [first.applies[0]!.functionUid, [true, false, true]],
          [second.applies[0]!.functionUid, [true, false, true]],
        ],
      );
    } finally {
      await store.close();
    }
  },
);
