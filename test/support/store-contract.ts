import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Store } from "../../src/store/index.js";

/** Makes a store whose requests expire after `expirationSeconds`. */
export type StoreFactory = (expirationSeconds: number) => Promise<Store>;

/**
 * What a closed store left behind, read beneath the port (rows of the SQLite file, keys and index
 * members in Redis), as strings that contain the UIDs they hold: reads through the port hide expired
 * data, so only this shows whether a purge deleted it.
 */
export type StoredEntries = (closed: Store) => Promise<string[]>;

export function newRequestUid(): string {
  return `r-${randomUUID()}`;
}

export function newFunctionUid(requestUid: string): string {
  return `f-${randomUUID()}-${requestUid}`;
}

function sampleRequest(functionCount = 2) {
  const requestUid = newRequestUid();
  const functions = Array.from({ length: functionCount }, (_, i) => ({
    functionUid: newFunctionUid(requestUid),
    path: `lambda-${i}.yaml`,
  }));
  return {
    requestUid,
    topic: "collect",
    revision: "abc123",
    payload: Buffer.from('{"hello":"world"}'),
    contentType: "application/json",
    createdAt: new Date(),
    functions,
  };
}

/** The behaviour every Store adapter must share; each adapter's test file runs it. */
export function storeContract(adapter: string, makeStore: StoreFactory, entries: StoredEntries): void {
  test(`${adapter}: a request keeps its functions in apply order, pending, without responses`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(3);
      await store.createRequest(request);
      const found = await store.getRequest(request.requestUid);
      assert.ok(found);
      assert.equal(found.topic, "collect");
      assert.deepEqual(
        found.functions.map((f) => [f.functionUid, f.path, f.status, f.response]),
        request.functions.map((f) => [f.functionUid, f.path, "pending", null]),
      );
      assert.equal(await store.getRequest(newRequestUid()), undefined);
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: responses are stored per function and replaced by a later post`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(2);
      await store.createRequest(request);
      const [first, second] = request.functions;
      assert.ok(first && second);
      await store.putResponse(second.functionUid, {
        body: Buffer.from("one"),
        contentType: "text/plain",
        at: new Date(),
      });
      await store.putResponse(second.functionUid, {
        body: Buffer.from("two"),
        contentType: "text/plain",
        at: new Date(),
      });
      const found = await store.getRequest(request.requestUid);
      assert.equal(found?.functions[0]?.response, null);
      assert.equal(found?.functions[1]?.response?.body.toString(), "two");
      await assert.rejects(
        store.putResponse(newFunctionUid(request.requestUid), {
          body: Buffer.from("x"),
          contentType: "text/plain",
          at: new Date(),
        }),
        { code: "FUNCTION_NOT_FOUND" },
      );
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: status only moves forward and keeps the first start`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(1);
      await store.createRequest(request);
      const uid = request.functions[0]!.functionUid;
      const started = new Date(Date.now() - 5000);
      await store.updateStatus(uid, { status: "running", attempts: 1, startedAt: started });
      await store.updateStatus(uid, { status: "running", attempts: 2, startedAt: new Date() });
      await store.updateStatus(uid, { status: "succeeded", finishedAt: new Date() });
      await store.updateStatus(uid, { status: "running", attempts: 3 });
      await store.updateStatus(uid, { status: "failed", reason: "late" });
      const fn = await store.getFunction(uid);
      assert.equal(fn?.status, "succeeded");
      assert.equal(fn?.attempts, 2);
      assert.equal(fn?.startedAt?.getTime(), started.getTime());
      assert.ok(fn?.finishedAt);
      assert.equal(fn?.reason, null);
      assert.deepEqual(
        (await store.listUnfinished()).filter((f) => f.requestUid === request.requestUid),
        [],
      );
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: a failed apply finishes the function as failed`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(2);
      await store.createRequest(request);
      await store.recordApply(request.functions[0]!.functionUid, {
        error: true,
        code: "BANNED_KIND",
        message: "no",
      });
      await store.recordApply(request.functions[1]!.functionUid, {
        error: false,
        code: null,
        message: "started",
      });
      const found = await store.getRequest(request.requestUid);
      assert.equal(found?.functions[0]?.status, "failed");
      assert.deepEqual(found?.functions[0]?.apply, { error: true, code: "BANNED_KIND", message: "no" });
      assert.equal(found?.functions[1]?.status, "pending");
      assert.deepEqual(
        (await store.listUnfinished())
          .filter((f) => f.requestUid === request.requestUid)
          .map((f) => f.functionUid),
        [request.functions[1]!.functionUid],
      );
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: watchers hear every change of their request only`, async () => {
    const store = await makeStore(60);
    try {
      const watched = sampleRequest(1);
      const other = sampleRequest(1);
      await store.createRequest(watched);
      await store.createRequest(other);
      let heard = 0;
      const stop = store.watchRequest(watched.requestUid, () => heard++);
      const changed = new Promise<void>((resolve) => {
        const off = store.watchRequest(watched.requestUid, () => {
          off();
          resolve();
        });
      });
      await store.updateStatus(other.functions[0]!.functionUid, { status: "running" });
      await store.putResponse(watched.functions[0]!.functionUid, {
        body: Buffer.from("done"),
        contentType: "text/plain",
        at: new Date(),
      });
      await changed;
      assert.ok(heard >= 1);
      // A watcher still registered hears the same change the stopped one would have: once it has,
      // the stopped one has had its chance. Registered first, so the request never goes unwatched.
      const heardBySecond = new Promise<void>((resolve) => {
        const off = store.watchRequest(watched.requestUid, () => {
          off();
          resolve();
        });
      });
      stop();
      const before = heard;
      await store.updateStatus(watched.functions[0]!.functionUid, { status: "succeeded" });
      await heardBySecond;
      assert.equal(heard, before);
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: the published payload is readable by function UID`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(1);
      await store.createRequest(request);
      const payload = await store.getPayload(request.functions[0]!.functionUid);
      assert.equal(payload?.body.toString(), '{"hello":"world"}');
      assert.equal(payload?.contentType, "application/json");
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: a queued function's launch is kept and can be taken once`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(2);
      const [running, waiting] = request.functions;
      await store.createRequest({
        ...request,
        functions: [running!, { ...waiting!, pendingLaunch: '{"objects":[]}' }],
      });
      const unfinished = (await store.listUnfinished()).filter((f) => f.requestUid === request.requestUid);
      assert.deepEqual(
        unfinished.map((f) => [f.functionUid, f.queued]),
        [
          [running!.functionUid, false],
          [waiting!.functionUid, true],
        ],
      );
      assert.equal(await store.claimLaunch(running!.functionUid), undefined);
      const [first, second] = await Promise.all([
        store.claimLaunch(waiting!.functionUid),
        store.claimLaunch(waiting!.functionUid),
      ]);
      assert.deepEqual([first, second].sort(), ['{"objects":[]}', undefined].sort());
      assert.equal((await store.getFunction(waiting!.functionUid))?.queued, false);
    } finally {
      await store.close();
    }
  });

  // Tracing: next steps continue the trace of the function they follow, on any replica.
  test(`${adapter}: a function keeps its traceparent; one created without has none`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(2);
      const [traced, plain] = request.functions;
      const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      await store.createRequest({ ...request, functions: [{ ...traced!, traceparent }, plain!] });
      assert.equal((await store.getFunction(traced!.functionUid))?.traceparent, traceparent);
      assert.equal((await store.getFunction(plain!.functionUid))?.traceparent, undefined);
      const found = await store.getRequest(request.requestUid);
      assert.deepEqual(
        found?.functions.map((f) => f.traceparent),
        [traceparent, undefined],
      );
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: requests expire after the expiration time, counted from their creation`, async () => {
    const store = await makeStore(60);
    const now = Date.now();
    // Created 61 s and 30 s ago on the test's clock, rather than waiting for a short expiry to pass.
    const expired = { ...sampleRequest(1), createdAt: new Date(now - 61_000) };
    const live = { ...sampleRequest(1), createdAt: new Date(now - 30_000) };
    try {
      await store.createRequest(expired);
      await store.createRequest(live);
      assert.ok(await store.getRequest(live.requestUid));
      assert.ok(await store.getFunction(live.functions[0]!.functionUid));
      assert.equal(await store.getRequest(expired.requestUid), undefined);
      assert.equal(await store.getFunction(expired.functions[0]!.functionUid), undefined);
      assert.equal(await store.getPayload(expired.functions[0]!.functionUid), undefined);
      await assert.rejects(
        store.putResponse(expired.functions[0]!.functionUid, {
          body: Buffer.from("too late"),
          contentType: "text/plain",
          at: new Date(),
        }),
        { code: "FUNCTION_NOT_FOUND" },
      );
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: a purge deletes an expired request whole (functions, responses, payload) and keeps live ones`, async () => {
    const store = await makeStore(60);
    const now = Date.now();
    const expired = sampleRequest(2);
    // Created 40 s later on the test's clock: it outlives the purge below by 10 s.
    const live = { ...sampleRequest(1), createdAt: new Date(now + 40_000) };
    const answer = { body: Buffer.from("done"), contentType: "text/plain", at: new Date(now) };
    try {
      await store.createRequest(expired);
      await store.createRequest(live);
      await store.updateStatus(expired.functions[1]!.functionUid, { status: "running" });
      await store.putResponse(expired.functions[0]!.functionUid, answer);
      await store.putResponse(live.functions[0]!.functionUid, answer);
      // An answer keeps its request for the expiration time from when it came: 60 s from now at most.
      assert.equal(await store.purgeExpired(new Date(now + 90_000)), 1);
      assert.equal(await store.getRequest(expired.requestUid), undefined);
      for (const { functionUid } of expired.functions) {
        assert.equal(await store.getFunction(functionUid), undefined);
        assert.equal(await store.getPayload(functionUid), undefined);
      }
      assert.ok(!(await store.listUnfinished()).some((f) => f.requestUid === expired.requestUid));
      const kept = await store.getRequest(live.requestUid);
      assert.equal(kept?.functions[0]?.response?.body.toString(), "done");
      assert.equal((await store.getPayload(live.functions[0]!.functionUid))?.contentType, "application/json");
    } finally {
      await store.close();
    }
    const left = await entries(store);
    assert.deepEqual(
      left.filter((entry) => entry.includes(expired.requestUid)),
      [],
      "nothing of the expired request is left",
    );
    assert.ok(left.some((entry) => entry.includes(live.functions[0]!.functionUid)));
  });

  // ---- Pipelines: lineage and next steps ----

  test(`${adapter}: a request's lineage is kept and its root lists the whole tree`, async () => {
    const store = await makeStore(60);
    try {
      const root = sampleRequest(1);
      const other = sampleRequest(1);
      await store.createRequest(root);
      await store.createRequest(other);
      const rootFn = root.functions[0]!.functionUid;
      const child = {
        ...sampleRequest(2),
        lineage: { parentFunctionUid: rootFn, rootRequestUid: root.requestUid, depth: 1 },
      };
      let parentWoken = false;
      const woken = new Promise<void>((resolve) => {
        const off = store.watchRequest(root.requestUid, () => {
          parentWoken = true;
          off();
          resolve();
        });
      });
      await store.createRequest(child);
      await woken;
      assert.ok(parentWoken);
      const grandchild = {
        ...sampleRequest(1),
        lineage: {
          parentFunctionUid: child.functions[1]!.functionUid,
          rootRequestUid: root.requestUid,
          depth: 2,
        },
      };
      await store.createRequest(grandchild);
      assert.equal((await store.getRequest(root.requestUid))?.lineage, null);
      assert.deepEqual((await store.getRequest(grandchild.requestUid))?.lineage, grandchild.lineage);
      const tree = await store.listTree(root.requestUid);
      assert.deepEqual(
        tree.map((request) => request.requestUid).sort(),
        [root.requestUid, child.requestUid, grandchild.requestUid].sort(),
      );
      assert.equal(tree.find((request) => request.requestUid === child.requestUid)?.functions.length, 2);
      assert.deepEqual(
        (await store.listTree(other.requestUid)).map((request) => request.requestUid),
        [other.requestUid],
      );
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: a next step is claimed once, settled, and a stale claim is retaken once`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(1);
      await store.createRequest(request);
      const functionUid = request.functions[0]!.functionUid;
      const claimedAt = new Date(Date.now() - 60_000);
      const claim = (childRequestUid: string) => ({
        key: `${functionUid}:onSuccess:convert`,
        kind: "onSuccess" as const,
        sourceRequestUid: request.requestUid,
        sourceFunctionUid: functionUid,
        topic: "convert",
        childRequestUid,
        claimedAt,
      });
      const children = [newRequestUid(), newRequestUid(), newRequestUid()];
      const won = await Promise.all(children.map((uid) => store.claimFiring(claim(uid))));
      assert.deepEqual(won.filter(Boolean).length, 1);
      const winner = children[won.indexOf(true)]!;
      const [recorded] = await store.listFirings(request.requestUid);
      assert.equal(recorded?.childRequestUid, winner);
      assert.equal(recorded?.state, "claimed");
      assert.equal(recorded?.claimedAt.getTime(), claimedAt.getTime());

      // Stale: claimed before the cut-off; of three replicas retaking it, one gets it.
      const cutoff = new Date(Date.now() - 30_000);
      assert.deepEqual(
        (await store.listStaleFirings(cutoff)).map((f) => f.key),
        [recorded?.key],
      );
      assert.deepEqual(await store.listStaleFirings(new Date(claimedAt.getTime() - 1)), []);
      const now = new Date();
      const retaken = await Promise.all([1, 2, 3].map(() => store.retakeFiring(recorded!.key, cutoff, now)));
      assert.equal(retaken.filter(Boolean).length, 1);
      assert.deepEqual(await store.listStaleFirings(cutoff), []);

      const settled = new Promise<void>((resolve) => {
        const off = store.watchRequest(request.requestUid, () => {
          off();
          resolve();
        });
      });
      await store.settleFiring(recorded!.key, "refused", "chain deeper than 32");
      await settled;
      const [after] = await store.listFirings(request.requestUid);
      assert.equal(after?.state, "refused");
      assert.equal(after?.reason, "chain deeper than 32");
      assert.equal(await store.retakeFiring(recorded!.key, new Date(), new Date()), false);
      assert.equal(await store.claimFiring(claim(newRequestUid())), false);
      assert.deepEqual(await store.listStaleFirings(new Date()), []);
      await assert.rejects(
        store.claimFiring({ ...claim(newRequestUid()), key: "other", sourceRequestUid: newRequestUid() }),
        { code: "FUNCTION_NOT_FOUND" },
      );
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: a finish records the next steps it owes in the same write, until they are cleared`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(4);
      await store.createRequest(request);
      const [succeeded, failed, refused, running] = request.functions.map((fn) => fn.functionUid);
      const longAgo = new Date(Date.now() - 3_600_000);
      assert.deepEqual(await store.listOwedSteps(new Date()), []);
      await store.updateStatus(running!, { status: "running", attempts: 1, startedAt: longAgo });
      await store.updateStatus(succeeded!, { status: "succeeded", finishedAt: longAgo });
      await store.updateStatus(failed!, { status: "failed", reason: "exit 1" });
      await store.recordApply(refused!, { error: true, code: "APPLY_FAILED", message: "no such kind" });
      // A finish reported again (another replica's watch) owes nothing more.
      await store.updateStatus(succeeded!, { status: "succeeded", finishedAt: new Date() });
      const owedNow = await store.listOwedSteps(new Date());
      assert.equal(owedNow[0], succeeded, "oldest first: dated by its finishedAt");
      assert.deepEqual([...owedNow].sort(), [succeeded, failed, refused].sort());
      // Dated by the finish: only the one finished an hour ago is older than a minute.
      assert.deepEqual(await store.listOwedSteps(new Date(Date.now() - 60_000)), [succeeded]);
      await store.clearOwedSteps(succeeded!);
      await store.clearOwedSteps(succeeded!);
      assert.deepEqual([...(await store.listOwedSteps(new Date()))].sort(), [failed, refused].sort());
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: the steps owed by an expired request's functions go with it`, async () => {
    const store = await makeStore(60);
    try {
      const request = sampleRequest(1);
      await store.createRequest(request);
      const functionUid = request.functions[0]!.functionUid;
      await store.updateStatus(functionUid, { status: "succeeded", finishedAt: new Date() });
      const later = new Date(Date.now() + 120_000);
      assert.deepEqual(await store.listOwedSteps(later), [functionUid]);
      await store.purgeExpired(later);
      assert.deepEqual(await store.listOwedSteps(later), []);
    } finally {
      await store.close();
    }
  });
}
