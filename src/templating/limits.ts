import { GitfaasError } from "../errors/index.js";
import { describeObject, isPlainObject, podSpecsOf, type KubeObject } from "./kube.js";

/** Linux MAX_ARG_STRLEN: one environment string, `NAME=value` plus its NUL, may not exceed this. */
export const MAX_ENV_ENTRY_BYTES = 131_072;
/** etcd refuses requests over about 1.5 MiB, so an object bigger than this can never be stored. */
export const MAX_OBJECT_BYTES = 1_572_864;

const USE_PAYLOAD_URL =
  "pass large payloads by reference: let the lambda fetch its body from {{PAYLOAD_URL}} instead";

/**
 * Refuses objects that would be accepted here but fail later, far from the caller: an env value the
 * kernel cannot hand to the process (ENV_VALUE_TOO_LARGE), an object etcd cannot store (OBJECT_TOO_LARGE).
 */
export function checkSizeLimits(objects: KubeObject[], path: string): void {
  for (const object of objects) {
    for (const podSpec of podSpecsOf(object)) {
      for (const listName of ["initContainers", "containers", "ephemeralContainers"]) {
        const containers = podSpec[listName];
        if (!Array.isArray(containers)) continue;
        for (const container of containers) checkContainerEnv(container, object, path);
      }
    }
    const bytes = Buffer.byteLength(JSON.stringify(object), "utf8");
    if (bytes > MAX_OBJECT_BYTES) {
      throw new GitfaasError(
        "OBJECT_TOO_LARGE",
        `${path}: ${describeObject(object)} is ${bytes} bytes once rendered, over the ${MAX_OBJECT_BYTES} bytes Kubernetes can store; ${USE_PAYLOAD_URL}`,
        {
          path,
          kind: object.kind,
          name: object.metadata.name ?? object.metadata.generateName,
          bytes,
          limit: MAX_OBJECT_BYTES,
        },
      );
    }
  }
}

function checkContainerEnv(container: unknown, object: KubeObject, path: string): void {
  if (!isPlainObject(container) || !Array.isArray(container.env)) return;
  const containerName = typeof container.name === "string" ? container.name : "(unnamed)";
  for (const entry of container.env) {
    if (!isPlainObject(entry) || typeof entry.value !== "string") continue;
    const name = typeof entry.name === "string" ? entry.name : "";
    const bytes = Buffer.byteLength(`${name}=${entry.value}`, "utf8") + 1;
    if (bytes > MAX_ENV_ENTRY_BYTES) {
      throw new GitfaasError(
        "ENV_VALUE_TOO_LARGE",
        `${path}: ${describeObject(object)}, container ${containerName}, env ${name}: ${bytes} bytes, over the ${MAX_ENV_ENTRY_BYTES} bytes Linux allows one environment entry; ${USE_PAYLOAD_URL}`,
        { path, kind: object.kind, container: containerName, env: name, bytes, limit: MAX_ENV_ENTRY_BYTES },
      );
    }
  }
}
