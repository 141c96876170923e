// Run by `npm run build`: writes dist/version.json (or <argument>/version.json), the version `gitfaas --version` and GET /status
// report. The package's version, plus where it was built from: GITFAAS_REVISION when given (the image
// is built without the .git folder: `docker build --build-arg GITFAAS_REVISION=$(git describe --always --dirty)`),
// else `git describe`, else nothing.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function describe() {
  if (process.env.GITFAAS_REVISION) return process.env.GITFAAS_REVISION;
  try {
    return execFileSync("git", ["describe", "--always", "--dirty", "--tags"], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return null;
  }
}

const revision = describe();
// Semver build metadata takes [0-9A-Za-z-] in dot-separated parts: `git describe` output fits as is.
const stamped = revision ? `${version}+${revision.replace(/[^0-9A-Za-z.-]/g, "-")}` : version;
const outDir = process.argv[2] ?? join(root, "dist");
writeFileSync(join(outDir, "version.json"), `${JSON.stringify({ version: stamped }, null, 2)}\n`);
process.stdout.write(`gitfaas ${stamped}\n`);
