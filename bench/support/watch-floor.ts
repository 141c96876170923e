/**
 * The least a process can do to hear what gitfaas hears: it watches the same sets of tracked objects
 * (WATCHED_SETS: same paths, selectors and reader, gitfaas's GuardedWatch with its lean decode) and does
 * nothing with the events: no cache, no status, no store. Its CPU per Job, next to gitfaas's, tells what
 * the events themselves cost on this machine (TLS, HTTP/2, reading and decoding each line) from what
 * gitfaas does with them.
 *   node dist-bench/bench/support/watch-floor.js <kubeconfig> <namespace>   (prints "watching" once the
 *   three watches are open; built by `tsc -p tsconfig.bench.json`)
 */
import { loadKubeConfig } from "../../src/runtime/index.js";
import { GuardedWatch } from "../../src/runtime/kubernetes/guarded-watch.js";
import { WATCHED_SETS, watchedPath, type WatchedSet } from "../../src/runtime/kubernetes/watched-sets.js";
import { silentLogger } from "../../src/logging/index.js";

const [kubeconfig, namespace] = process.argv.slice(2);
if (!kubeconfig || !namespace) throw new Error("usage: watch-floor.ts <kubeconfig> <namespace>");
const config = loadKubeConfig(kubeconfig);
let events = 0;
let watches = 0;

/** Watches `set` from `resourceVersion` on, and again from where it stopped whenever it ends. */
async function follow(set: WatchedSet, resourceVersion: string): Promise<void> {
  const { labelSelector, fieldSelector } = WATCHED_SETS[set];
  const watch = new GuardedWatch(config, silentLogger(), set);
  let version = resourceVersion;
  const began = performance.now();
  watches++;
  await watch.watch(
    watchedPath(set, namespace),
    { resourceVersion, labelSelector, fieldSelector },
    (phase, object) => {
      events++;
      // Too old a place to go on from (410 Gone): from now on, rather than asking again in a loop.
      if (phase === "ERROR") version = "0";
      else
        version =
          (object as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? version;
    },
    () => {
      // A watch that ends at once is not asked again at once: that loop would be counted as the floor.
      const pause = performance.now() - began < 1000 ? 1000 : 0;
      setTimeout(() => void follow(set, version), pause);
    },
  );
}

await Promise.all((Object.keys(WATCHED_SETS) as WatchedSet[]).map((set) => follow(set, "0")));
process.stdout.write("watching\n");
process.on("SIGTERM", () => {
  process.stderr.write(`watch floor: ${events} events over ${watches} watches\n`);
  process.exit(0);
});
