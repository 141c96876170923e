import { readFileSync } from "node:fs";

/**
 * This gitfaas's version. The build stamps it into dist/version.json (the package's version and the
 * commit it was built from, scripts/stamp-version.mjs); run from source (tsx), there is no stamp, and
 * the package's version is marked `+source` so that nobody takes it for a release.
 */
function readVersion(): string {
  try {
    // Beside the compiled module: dist/version/index.js → dist/version.json.
    const stamp = JSON.parse(readFileSync(new URL("../version.json", import.meta.url), "utf8")) as {
      version?: unknown;
    };
    if (typeof stamp.version === "string") return stamp.version;
  } catch {
    // Not built: read the package's own version below.
  }
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return `${pkg.version}+source`;
}

export const VERSION: string = readVersion();
