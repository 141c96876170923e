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
      const tick = (when: Date) => ({ topic, at: when, requestUid: newRequestUid(), claimedAt: new Date() });
      const claims = await Promise.all([1, 2, 3].map(() => store.claimScheduleTick(tick(at))));
      assert.deepEqual(claims.filter(Boolean).length, 1);
      assert.equal(await store.lastScheduleFire(topic), undefined);
      await store.recordScheduleFire(topic, { at, requestUid: "r-1" });
      assert.deepEqual(await store.lastScheduleFire(topic), { at, requestUid: "r-1" });
      const later = new Date("2026-01-01T00:10:00Z");
      assert.equal(await store.claimScheduleTick(tick(later)), true);
      await store.recordScheduleFire(topic, { at: later, requestUid: "r-2" });
      assert.deepEqual(await store.lastScheduleFire(topic), { at: later, requestUid: "r-2" });
      assert.equal(await store.lastScheduleFire(`t-${randomUUID()}`), undefined);
    } finally {
      await store.close();
    }
  });

  test(`${adapter}: a tick claimed and never settled is stale, retaken once, and settled by its fire or a skip`, async () => {
    const store = await makeStore(60);
    try {
      const topic = `t:${randomUUID()}`;
      const longAgo = new Date(Date.now() - 3_600_000);
      const claim = (minute: number) => ({
        topic,
        at: new Date(`2026-01-01T00:0${minute}:00Z`),
        requestUid: newRequestUid(),
        claimedAt: longAgo,
      });
      const [published, skipped, died] = [claim(1), claim(2), claim(3)];
      for (const each of [published, skipped, died]) assert.equal(await store.claimScheduleTick(each!), true);
      await store.recordScheduleFire(topic, { at: published!.at, requestUid: published!.requestUid });
      await store.skipScheduleTick(topic, skipped!.at);
      const cutoff = new Date(Date.now() - 60_000);
      assert.deepEqual(await store.listStaleTicks(cutoff), [died]);
      assert.deepEqual(await store.listStaleTicks(new Date(longAgo.getTime() - 1)), []);
      const now = new Date();
      const retaken = await Promise.all(
        [1, 2, 3].map(() => store.retakeScheduleTick(topic, died!.at, cutoff, now)),
      );
      assert.equal(retaken.filter(Boolean).length, 1);
      assert.deepEqual(await store.listStaleTicks(cutoff), []);
      assert.deepEqual(await store.listStaleTicks(now), [{ ...died, claimedAt: now }]);
      await store.recordScheduleFire(topic, { at: died!.at, requestUid: died!.requestUid });
      assert.deepEqual(await store.listStaleTicks(new Date()), []);
      assert.equal(await store.retakeScheduleTick(topic, died!.at, new Date(), new Date()), false);
    } finally {
      await store.close();
    }
  });
}
