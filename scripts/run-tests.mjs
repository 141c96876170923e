// Runs every *.test.ts under the given folders with node's own test runner and fails on an empty run:
// a suite that finds no tests must never look green.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

function findTests(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (entry.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const roots = process.argv.slice(2);
const files = roots.flatMap((root) => findTests(root)).sort();
if (files.length === 0) {
  console.error(`no test files under ${roots.join(", ")}`);
  process.exit(1);
}
const reportDir = mkdtempSync(join(tmpdir(), "gitfaas-tests-"));
const tap = join(reportDir, "report.tap");
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { stdio: "inherit" },
);
const report = readFileSync(tap, "utf8");
rmSync(reportDir, { recursive: true, force: true });
const count = (name) => Number(report.match(new RegExp(`^# ${name} (\\d+)$`, "m"))?.[1] ?? Number.NaN);
const passed = count("pass");
const failed = count("fail");
console.log(`\nsummary: ${files.length} files, ${passed} passed, ${failed} failed`);
if (result.status !== 0 || failed > 0) process.exit(1);
if (!(passed > 0)) {
  console.error("no test passed: an empty run is a failure");
  process.exit(1);
}
