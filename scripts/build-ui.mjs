// Builds the dashboard (ui/) into dist/ui: one ES module bundled by esbuild, the page and its style.
// Nothing is fetched at run time from elsewhere: the page loads these files only.
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "ui");

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(root, "ui", "src", "main.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  logLevel: "warning",
});
for (const file of ["index.html", "style.css", "icon.svg"])
  await copyFile(join(root, "ui", file), join(out, file));
