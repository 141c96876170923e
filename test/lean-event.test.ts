import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeWatchEvent } from "../src/runtime/kubernetes/lean-event.js";

const pod = {
  kind: "Pod",
  apiVersion: "v1",
  metadata: {
    name: "p",
    namespace: "n",
    annotations: { "gitfaas.dev/function-uid": "f", note: '},"spec":{ and ,"status":{ in a value' },
    ownerReferences: [{ kind: "Job", name: "j", uid: "u", apiVersion: "batch/v1" }],
    managedFields: [{ manager: "m", fieldsV1: { "f:spec": { "f:containers": {} } } }],
  },
  spec: { containers: [{ name: "main", env: [{ name: "PAYLOAD", value: '"status":{' }] }] },
  status: { phase: "Running", podIP: "10.0.0.1", conditions: [{ type: "Ready", status: "True" }] },
};

test("a watch event is decoded without its object's spec and managed fields, the rest as it was", () => {
  const { spec: _spec, ...rest } = pod;
  const { managedFields: _managed, ...metadata } = pod.metadata;
  assert.deepEqual(decodeWatchEvent(JSON.stringify({ type: "MODIFIED", object: pod })), {
    type: "MODIFIED",
    object: { ...rest, metadata },
  });
});

test("a watch event not laid out as the API server writes objects is decoded whole", () => {
  const unusual = {
    type: "MODIFIED",
    object: { status: { phase: "Running" }, spec: { a: 1 }, metadata: {} },
  };
  assert.deepEqual(decodeWatchEvent(JSON.stringify(unusual)), unusual);
  const status = { type: "ERROR", object: { kind: "Status", status: "Failure", code: 410 } };
  assert.deepEqual(decodeWatchEvent(JSON.stringify(status)), status);
});
