export * from "./port.js";
export { LocalRuntime, mapMountedPath, type LocalRuntimeOptions } from "./local/local-runtime.js";
export { LocalRunnerClient } from "./local/runner-client.js";
export {
  KubernetesRuntime,
  loadKubeConfig,
  type KubernetesCall,
  type KubernetesRuntimeOptions,
} from "./kubernetes/kubernetes-runtime.js";
export { PooledKubeConfig } from "./kubernetes/pooled-kubeconfig.js";
export {
  PUSHBACK_DELAYS,
  pushbackOf,
  retryAfterMs,
  type PushbackClock,
  type PushbackPolicy,
} from "./kubernetes/pushback.js";
