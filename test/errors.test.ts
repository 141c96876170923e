import { test } from "node:test";
import assert from "node:assert/strict";
import { GitfaasError, isGitfaasError } from "../src/errors/index.js";

test("GitfaasError carries a stable code and details", () => {
  const error = new GitfaasError("TOPIC_NOT_FOUND", "no topic 'x'", { topic: "x" });
  assert.equal(error.code, "TOPIC_NOT_FOUND");
  assert.deepEqual(error.details, { topic: "x" });
  assert.ok(isGitfaasError(error));
  assert.ok(!isGitfaasError(new Error("plain")));
});
