import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { newFunctionUid, newRequestUid, type StoreFactory } from "./store-contract.js";

/** The pipelines' part of the Store port (replay inputs, idempotency keys, schedule ticks), for every adapter. */
export function pipelineStoreContract(adapter: string, makeStore: StoreFactory): void {
  test(`${adapter}: a request keeps its caller's query values and what it replays`, async () => {
    const store = await makeStore(60);
    try {
      const requestUid = newRequestUid();
      const input = { params: { who: "ann", n: "2" }, replayOf: "r-earlier" };
      await store.createRequest({
        requestUid,
        topic: "t",
        revision: "abc",
        payload: Buffer.from("x"),
        contentType: "text/plain",
        createdAt: new Date(),
        functions: [{ functionUid: newFunctionUid(requestUid), path: "a.yaml" }],
        input,
      });
      assert.deepEqual(await store.getRequestInput(requestUid), input);
      assert.equal(await store.getRequestInput(newRequestUid()), undefined);
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: an idempotency key is claimed once; repeats see the fingerprint, then the answer`, async () => {
    const store = await makeStore(60);
    try {
      const key = randomUUID();
      const claims = await Promise.all([1, 2, 3, 4].map(() => store.claimIdempotencyKey(key, "fp")));
      assert.equal(claims.filter((claim) => claim === undefined).length, 1);
      assert.deepEqual(await store.claimIdempotencyKey(key, "other"), { fingerprint: "fp", answer: null });
      await store.completeIdempotencyKey(key, '{"requestUid":"r-1"}');
      assert.deepEqual(await store.claimIdempotencyKey(key, "fp"), {
        fingerprint: "fp",
        answer: '{"requestUid":"r-1"}',
      });
      await store.releaseIdempotencyKey(key);
      assert.equal(await store.claimIdempotencyKey(key, "fp2"), undefined);
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: a schedule tick is claimed once; the last fire is kept with its request`, async () => {
    const store = await makeStore(60);
    try {
      const topic = `t-${randomUUID()}`;
      const at = new Date("2026-01-01T00:05:00Z");
      const claims = await Promise.all([1, 2, 3].map(() => store.claimScheduleTick(topic, at)));
      assert.deepEqual(claims.filter(Boolean).length, 1);
      assert.equal(await store.lastScheduleFire(topic), undefined);
      await store.recordScheduleFire(topic, { at, requestUid: "r-1" });
      assert.deepEqual(await store.lastScheduleFire(topic), { at, requestUid: "r-1" });
      const later = new Date("2026-01-01T00:10:00Z");
      assert.equal(await store.claimScheduleTick(topic, later), true);
      await store.recordScheduleFire(topic, { at: later, requestUid: "r-2" });
      assert.deepEqual(await store.lastScheduleFire(topic), { at: later, requestUid: "r-2" });
      assert.equal(await store.lastScheduleFire(`t-${randomUUID()}`), undefined);
    } finally {
      await store.close();
    }
  });
}
