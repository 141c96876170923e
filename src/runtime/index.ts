export * from "./port.js";
export { LocalRuntime, mapMountedPath, type LocalRuntimeOptions } from "./local/local-runtime.js";
