import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { after } from "node:test";
import Database from "better-sqlite3";
import type { GitfaasError } from "../src/errors/index.js";
import { STORE_RETRY_AFTER_SECONDS, SqliteStore, type Store } from "../src/store/index.js";
import { mountSmallDisk } from "./support/tmpfs.js";
import { pipelineStoreContract } from "./support/pipeline-store-contract.js";
import { newFunctionUid, newRequestUid, storeContract } from "./support/store-contract.js";

const dir = await mkdtemp(join(tmpdir(), "gitfaas-sqlite-"));
after(() => rm(dir, { recursive: true, force: true }));
let counter = 0;

const files = new Map<Store, string>();

storeContract(
  "sqlite",
  async (expirationSeconds) => {
    counter++;
    const file = join(dir, `store-${counter}.db`);
    const store = new SqliteStore({ file, expirationSeconds });
    files.set(store, file);
    return store;
  },
  async (closed) => {
    const db = new Database(files.get(closed)!);
    try {
      const rows = db
        .prepare(
          `SELECT request_uid AS entry FROM requests
           UNION ALL SELECT request_uid || ' ' || function_uid FROM functions`,
        )
        .all() as { entry: string }[];
      return rows.map((row) => row.entry);
    } finally {
      db.close();
    }
  },
);

pipelineStoreContract("sqlite", async (expirationSeconds) => {
  counter++;
  return new SqliteStore({ file: join(dir, `store-${counter}.db`), expirationSeconds });
});

/** A text request of one function, published now. */
function oneFunctionRequest(requestUid: string, functionUid: string) {
  return {
    requestUid,
    topic: "t",
    revision: "r1",
    payload: Buffer.from("hi"),
    contentType: "text/plain",
    createdAt: new Date(),
    functions: [{ functionUid, path: "a.yaml" }],
  };
}

test("sqlite: a restart loses nothing", async () => {
  const file = join(dir, "restart.db");
  const requestUid = newRequestUid();
  const functionUid = newFunctionUid(requestUid);
  const first = new SqliteStore({ file, expirationSeconds: 60 });
  await first.createRequest(oneFunctionRequest(requestUid, functionUid));
  await first.updateStatus(functionUid, { status: "succeeded", attempts: 1, finishedAt: new Date() });
  await first.putResponse(functionUid, {
    body: Buffer.from("kept"),
    contentType: "text/plain",
    at: new Date(),
  });
  await first.close();

  const second = new SqliteStore({ file, expirationSeconds: 60 });
  try {
    const found = await second.getRequest(requestUid);
    assert.equal(found?.functions[0]?.response?.body.toString(), "kept");
    assert.equal(found?.functions[0]?.status, "succeeded");
  } finally {
    await second.close();
  }
});

test("sqlite: a second process on the same file is refused while the first runs, and let in after", async () => {
  const file = join(dir, "shared.db");
  const first = new SqliteStore({ file, expirationSeconds: 60 });
  const storeModule = new URL("../src/store/index.ts", import.meta.url).href;
  // A real second process: what two gitfaas pointed at one data dir would be.
  const openElsewhere = () =>
    new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "--input-type=module",
          "-e",
          `const { SqliteStore } = await import(${JSON.stringify(storeModule)});
           try { const store = new SqliteStore({ file: ${JSON.stringify(file)}, expirationSeconds: 60, lockWaitMs: 100 });
                 await store.ping(); await store.close(); console.log("opened"); }
           catch (error) { console.log(error.code); process.exitCode = 3; }`,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += String(chunk)));
      child.on("exit", (code) => resolve({ code, output: output.trim() }));
    });
  try {
    assert.deepEqual(await openElsewhere(), { code: 3, output: "STORE_IN_USE" });
  } finally {
    await first.close();
  }
  assert.deepEqual(await openElsewhere(), { code: 0, output: "opened" });
});

test("sqlite: writes issued in one turn commit together; a refused one undoes only itself; reads see every write issued before them", async () => {
  const file = join(dir, "group-commit.db");
  const store = new SqliteStore({ file, expirationSeconds: 60 });
  const [first, half, last] = [newRequestUid(), newRequestUid(), newRequestUid()];
  const firstFunction = newFunctionUid(first);
  // All issued before any is awaited, so in one turn.
  const writes = [
    store.createRequest(oneFunctionRequest(first, firstFunction)),
    store.putResponse(newFunctionUid(newRequestUid()), {
      body: Buffer.from("for nobody"),
      contentType: "text/plain",
      at: new Date(),
    }),
    // Its request row goes in, then its function clashes with the first's: neither may stay.
    store.createRequest(oneFunctionRequest(half, firstFunction)),
    store.createRequest(oneFunctionRequest(last, newFunctionUid(last))),
  ];
  assert.equal((await store.getRequest(first))?.functions[0]?.functionUid, firstFunction);
  const outcomes = await Promise.allSettled(writes);
  assert.deepEqual(
    outcomes.map((outcome) => outcome.status),
    ["fulfilled", "rejected", "rejected", "fulfilled"],
  );
  assert.equal(
    ((outcomes[1] as PromiseRejectedResult).reason as { code?: string }).code,
    "FUNCTION_NOT_FOUND",
  );
  assert.equal(await store.getRequest(half), undefined);
  await store.close();

  const reopened = new SqliteStore({ file, expirationSeconds: 60 });
  try {
    assert.ok(await reopened.getRequest(first));
    assert.ok(await reopened.getRequest(last));
    assert.equal(await reopened.getRequest(half), undefined);
  } finally {
    await reopened.close();
  }
});

test("sqlite: a write alone in its transaction that fails halfway leaves nothing of itself, and the next commits", async () => {
  const file = join(dir, "lone-write.db");
  const [first, half, next] = [newRequestUid(), newRequestUid(), newRequestUid()];
  const store = new SqliteStore({ file, expirationSeconds: 60 });
  try {
    const firstFunction = newFunctionUid(first);
    await store.createRequest(oneFunctionRequest(first, firstFunction));
    // Alone in its turn: its request row goes in, then its function clashes with the first's.
    await assert.rejects(store.createRequest(oneFunctionRequest(half, firstFunction)));
    assert.equal(await store.getRequest(half), undefined);
    await store.createRequest(oneFunctionRequest(next, newFunctionUid(next)));
    assert.ok(await store.getRequest(next));
  } finally {
    await store.close();
  }
  const reopened = new SqliteStore({ file, expirationSeconds: 60 });
  try {
    assert.equal(await reopened.getRequest(half), undefined);
    assert.ok(await reopened.getRequest(first));
  } finally {
    await reopened.close();
  }
});

test("sqlite: writes after close are refused, not left waiting", async () => {
  const store = new SqliteStore({ file: join(dir, "closed.db"), expirationSeconds: 60 });
  await store.close();
  const requestUid = newRequestUid();
  await assert.rejects(
    store.recordApply(newFunctionUid(requestUid), { error: false, code: null, message: "applied" }),
  );
});

/** What every refusal of a store fault looks like to a caller. */
function assertUnavailable(outcome: PromiseSettledResult<unknown>): void {
  assert.equal(outcome.status, "rejected");
  const reason = (outcome as PromiseRejectedResult).reason as GitfaasError;
  assert.equal(reason.code, "STORE_UNAVAILABLE", String(reason));
  assert.equal(reason.details?.retryAfterSeconds, STORE_RETRY_AFTER_SECONDS);
}

test("sqlite: on a full disk writes and the readiness probe are refused as STORE_UNAVAILABLE, nothing is half-written, and all works again once space is freed", async (t) => {
  const disk = await mountSmallDisk("1m");
  if (typeof disk === "string") return t.skip(disk);
  const store = new SqliteStore({ file: join(disk.dir, "store.db"), expirationSeconds: 60 });
  try {
    const kept = newRequestUid();
    const keptFunction = newFunctionUid(kept);
    await store.createRequest(oneFunctionRequest(kept, keptFunction));
    await store.ping();

    await disk.fill();
    const refused = newRequestUid();
    const refusedRequest = oneFunctionRequest(refused, newFunctionUid(refused));
    // In one turn, so in one commit (the group-commit path): each is refused, none is half-kept.
    const outcomes = await Promise.allSettled([
      store.createRequest(refusedRequest),
      store.updateStatus(keptFunction, { status: "running", attempts: 1, startedAt: new Date() }),
      store.ping(),
    ]);
    outcomes.forEach(assertUnavailable);
    // One at a time too: the probe alone must find the disk full.
    assertUnavailable((await Promise.allSettled([store.ping()]))[0]!);
    // Reads still answer, and show nothing of the refused writes.
    assert.equal(await store.getRequest(refused), undefined);
    assert.equal((await store.getFunction(keptFunction))?.status, "pending");

    await disk.free();
    await store.ping();
    await store.createRequest(refusedRequest);
    await store.updateStatus(keptFunction, { status: "running", attempts: 1 });
    assert.equal((await store.getFunction(keptFunction))?.status, "running");
    assert.ok(await store.getRequest(refused));
  } finally {
    await store.close();
    await disk.unmount();
  }
});

test("sqlite: store.db and its log are the owner's only, whatever the umask", async () => {
  const file = join(dir, "private", "store.db");
  const umask = process.umask(0);
  let store: SqliteStore;
  try {
    store = new SqliteStore({ file, expirationSeconds: 60 });
  } finally {
    process.umask(umask);
  }
  try {
    const requestUid = newRequestUid();
    await store.createRequest(oneFunctionRequest(requestUid, newFunctionUid(requestUid)));
    assert.equal((await stat(join(dir, "private"))).mode & 0o777, 0o700);
    const files = (await readdir(join(dir, "private"))).sort();
    assert.deepEqual(files, ["store.db", "store.db-wal"]);
    for (const name of files)
      assert.equal((await stat(join(dir, "private", name))).mode & 0o777, 0o600, name);
  } finally {
    await store.close();
  }
});

test("sqlite: a sweep of many expired requests deletes them a batch per commit, and writes issued meanwhile commit between its batches", async () => {
  const store = new SqliteStore({ file: join(dir, "large-sweep.db"), expirationSeconds: 60 });
  try {
    const longAgo = new Date(Date.now() - 3_600_000);
    const expired = Array.from({ length: 3500 }, () => {
      const requestUid = newRequestUid();
      return { ...oneFunctionRequest(requestUid, newFunctionUid(requestUid)), createdAt: longAgo };
    });
    await Promise.all(expired.map((request) => store.createRequest(request)));
    const live = newRequestUid();
    await store.createRequest(oneFunctionRequest(live, newFunctionUid(live)));
    // One writer, one write at a time, for as long as the sweep runs: with the sweep in one commit, its
    // first write would share that commit and the next would only start once the sweep was over.
    let sweeping = true;
    let writesDuringSweep = 0;
    const writer = (async () => {
      while (sweeping) {
        const requestUid = newRequestUid();
        await store.createRequest(oneFunctionRequest(requestUid, newFunctionUid(requestUid)));
        if (sweeping) writesDuringSweep++;
      }
    })();
    const purged = await store.purgeExpired();
    sweeping = false;
    await writer;
    assert.equal(purged, expired.length);
    assert.ok(writesDuringSweep >= 3, `${writesDuringSweep} writes committed during the sweep`);
    assert.equal(await store.getRequest(expired[0]!.requestUid), undefined);
    assert.equal(await store.getRequest(expired.at(-1)!.requestUid), undefined);
    assert.ok(await store.getRequest(live));
  } finally {
    await store.close();
  }
});
