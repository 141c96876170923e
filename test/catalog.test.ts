import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { lintCatalog, loadCatalog } from "../src/catalog/index.js";
import { GitfaasError } from "../src/errors/index.js";
import { renderManifest } from "../src/templating/index.js";

const folders: string[] = [];
after(async () => {
  await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
});

/** A repository in a fresh temp folder holding `files` (path → content). */
async function repo(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), "gitfaas-catalog-"));
  folders.push(root);
  for (const [relative, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, relative)), { recursive: true });
    await writeFile(path.join(root, relative), content);
  }
  return root;
}

const job = (name: string): string =>
  `apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: ${name}-{{RANDOM}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: busybox\n          env:\n            - name: PAYLOAD\n              value: "{{PAYLOAD}}"\n      restartPolicy: Never\n`;

const config = (topics: unknown): string => JSON.stringify({ topics }, null, 2);

async function refusal(root: string, configPath = "config.json"): Promise<GitfaasError> {
  try {
    await loadCatalog(root, configPath);
  } catch (error) {
    assert.ok(error instanceof GitfaasError, String(error));
    return error;
  }
  assert.fail("loadCatalog accepted the catalog");
}

/** The line of the first occurrence of `needle` in `text`. */
function lineOf(text: string, needle: string): number {
  const index = text.indexOf(needle);
  assert.ok(index >= 0, needle);
  return text.slice(0, index).split("\n").length;
}

describe("loadCatalog", () => {
  it("loads topics with their compiled manifests, a shared manifest compiled once, multi-document files whole", async () => {
    const root = await repo({
      "config.json": config([
        { name: "collect", configs: ["jobs/collect.yaml", "shared.yaml"], note: "extra keys are ignored" },
        { name: "convert", configs: ["./jobs/../shared.yaml"] },
      ]),
      "jobs/collect.yaml": `${job("collect")}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: collect-{{RANDOM}}\ndata:\n  topic: "{{TOPIC}}"\n---\n`,
      "shared.yaml": job("shared"),
    });
    const catalog = await loadCatalog(root, "config.json");
    assert.equal(catalog.configPath, "config.json");
    assert.deepEqual([...catalog.topics.keys()], ["collect", "convert"]);
    const collect = catalog.topics.get("collect")!;
    assert.equal(collect.name, "collect");
    assert.deepEqual(
      collect.manifests.map((manifest) => manifest.path),
      ["jobs/collect.yaml", "shared.yaml"],
    );
    assert.deepEqual([...collect.manifests[0]!.placeholders].sort(), ["PAYLOAD", "RANDOM", "TOPIC"]);
    const objects = renderManifest(collect.manifests[0]!, { RANDOM: "1", PAYLOAD: "cA==", TOPIC: "collect" });
    assert.deepEqual(
      objects.map((object) => [object.kind, object.metadata.name]),
      [
        ["Job", "collect-1"],
        ["ConfigMap", "collect-1"],
      ],
    );
    assert.equal(
      catalog.topics.get("convert")!.manifests[0],
      collect.manifests[1],
      "shared manifest compiled once",
    );
    assert.deepEqual(await lintCatalog(root, "config.json"), []);
  });

  it("reads a config in a sub-folder, resolving manifest paths from the repository root", async () => {
    const root = await repo({
      "gitfaas/topics.json": config([{ name: "t", configs: ["lambdas/a.yaml"] }]),
      "lambdas/a.yaml": job("a"),
    });
    const catalog = await loadCatalog(root, "gitfaas/topics.json");
    assert.equal(catalog.topics.get("t")!.manifests[0]!.path, "lambdas/a.yaml");
  });

  it("accepts an empty list of topics", async () => {
    const root = await repo({ "config.json": config([]) });
    assert.equal((await loadCatalog(root, "config.json")).topics.size, 0);
  });

  it("refuses broken JSON, naming the line", async () => {
    const text =
      '{\n  "topics": [\n    {"name": "a", "configs": ["a.yaml"]},\n    {"name": "b" "configs": []}\n  ]\n}\n';
    const root = await repo({ "config.json": text, "a.yaml": job("a") });
    const error = await refusal(root);
    assert.equal(error.code, "CATALOG_INVALID");
    assert.match(error.message, /^config\.json:4: /);
    assert.equal(error.details?.line, 4);

    const truncated = await repo({ "config.json": '{\n  "topics": [\n' });
    assert.match((await refusal(truncated)).message, /^config\.json:2: /);
  });

  it("refuses a config of the wrong shape, naming the line of the entry", async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ topics: [{ name: "", configs: ["a.yaml"] }] }, '"name"', /name/],
      [{ topics: [{ name: 3, configs: ["a.yaml"] }] }, '"name"', /name/],
      [{ topics: [{ name: "a", configs: [] }] }, '"configs"', /configs/],
      [{ topics: [{ name: "a" }] }, "    {", /configs/],
      [{ topics: [{ name: "a", configs: ["a.yaml", 7] }] }, "7", /configs\[1\]/],
      [{ topics: [{ name: "a", configs: ["a.yaml"] }, "b"] }, '"b"', /topics\[1\]/],
    ];
    for (const [content, needle, reason] of cases) {
      const text = JSON.stringify(content, null, 2);
      const root = await repo({ "config.json": text, "a.yaml": job("a") });
      const error = await refusal(root);
      assert.equal(error.code, "CATALOG_INVALID", error.message);
      assert.match(error.message, reason);
      assert.ok(
        error.message.startsWith(`config.json:${lineOf(text, needle)}: `),
        `${error.message} for ${text}`,
      );
    }
    for (const content of ["[]", '{"topic": []}', '{"topics": {}}']) {
      const root = await repo({ "config.json": content });
      assert.equal((await refusal(root)).code, "CATALOG_INVALID", content);
    }
  });

  it("refuses a duplicate topic, naming the line of the second", async () => {
    const text = config([
      { name: "same", configs: ["a.yaml"] },
      { name: "same", configs: ["a.yaml"] },
    ]);
    const root = await repo({ "config.json": text, "a.yaml": job("a") });
    const error = await refusal(root);
    assert.equal(error.code, "CATALOG_INVALID");
    assert.match(error.message, /"same".*more than once/);
    const secondLine = text.slice(0, text.lastIndexOf('"same"')).split("\n").length;
    assert.ok(secondLine > lineOf(text, '"same"'));
    assert.ok(error.message.startsWith(`config.json:${secondLine}: `), error.message);
  });

  it("refuses a missing manifest, naming the config line", async () => {
    const text = config([{ name: "a", configs: ["a.yaml", "missing.yaml"] }]);
    const root = await repo({ "config.json": text, "a.yaml": job("a") });
    const error = await refusal(root);
    assert.equal(error.code, "CATALOG_INVALID");
    assert.match(
      error.message,
      new RegExp(`^config\\.json:${lineOf(text, "missing.yaml")}: .*missing\\.yaml`),
    );
    assert.equal((await refusal(await repo({}))).code, "CATALOG_INVALID", "missing config");
  });

  it("refuses manifest paths that climb out of the repository or are absolute", async () => {
    for (const written of ["../outside.yaml", "jobs/../../outside.yaml", "/etc/passwd", ".."]) {
      const text = config([{ name: "a", configs: [written] }]);
      const root = await repo({ "config.json": text, "jobs/a.yaml": job("a") });
      // The file exists outside, so only the path check can refuse it.
      await writeFile(path.join(path.dirname(root), "outside.yaml"), job("outside"));
      const error = await refusal(root);
      assert.equal(error.code, "PATH_ESCAPE", `${written}: ${error.message}`);
      assert.ok(
        error.message.startsWith(`config.json:${lineOf(text, JSON.stringify(written))}: `),
        error.message,
      );
    }
  });

  it("refuses a config path that is absolute or climbs out", async () => {
    const root = await repo({ "config.json": config([]) });
    for (const configPath of [path.join(root, "config.json"), "../config.json", "a/../../config.json"]) {
      const error = await refusal(root, configPath);
      assert.equal(error.code, "PATH_ESCAPE", configPath);
    }
  });

  it("refuses a symlinked manifest and a manifest under a symlinked folder", async () => {
    const outside = await repo({ "secret.yaml": job("secret"), "dir/a.yaml": job("a") });
    const text = config([{ name: "a", configs: ["link.yaml"] }]);
    const fileLink = await repo({ "config.json": text });
    await symlink(path.join(outside, "secret.yaml"), path.join(fileLink, "link.yaml"));
    const fileError = await refusal(fileLink);
    assert.equal(fileError.code, "PATH_ESCAPE");
    assert.match(
      fileError.message,
      new RegExp(`^config\\.json:${lineOf(text, "link.yaml")}: .*link\\.yaml.*symbolic link`),
    );

    const folderText = config([{ name: "a", configs: ["linked/a.yaml"] }]);
    const folderLink = await repo({ "config.json": folderText });
    await symlink(path.join(outside, "dir"), path.join(folderLink, "linked"));
    const folderError = await refusal(folderLink);
    assert.equal(folderError.code, "PATH_ESCAPE");
    assert.match(folderError.message, /"linked" is a symbolic link/);

    // A link that stays inside the repository is refused too: links are never followed.
    const inside = await repo({ "config.json": text, "real.yaml": job("real") });
    await symlink("real.yaml", path.join(inside, "link.yaml"));
    assert.equal((await refusal(inside)).code, "PATH_ESCAPE");
  });

  it("refuses a symlinked config file", async () => {
    const outside = await repo({ "config.json": config([]) });
    const root = await repo({});
    await symlink(path.join(outside, "config.json"), path.join(root, "config.json"));
    assert.equal((await refusal(root)).code, "PATH_ESCAPE");
  });

  it("refuses a manifest with a YAML error, naming the manifest and its line", async () => {
    const root = await repo({
      "config.json": config([{ name: "a", configs: ["jobs/bad.yaml"] }]),
      "jobs/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  a: b: c\n",
    });
    const error = await refusal(root);
    assert.equal(error.code, "MANIFEST_INVALID");
    assert.match(error.message, /^jobs\/bad\.yaml:6: /);
    assert.deepEqual(
      { file: error.details?.file, line: error.details?.line },
      { file: "jobs/bad.yaml", line: 6 },
    );
  });
});

describe("lintCatalog", () => {
  it("reports every problem, each with its file and line, a shared broken manifest once", async () => {
    const text = config([
      { name: "a", configs: ["bad.yaml", "missing.yaml"] },
      { name: "a", configs: ["bad.yaml", "../escape.yaml"] },
    ]);
    const root = await repo({
      "config.json": text,
      "bad.yaml": "apiVersion: v1\nkind: {{K}}\nmetadata:\n  name: a\n  {{X}}: v\n",
    });
    const problems = await lintCatalog(root, "config.json");
    assert.deepEqual(
      problems.map(({ file, line }) => `${file}:${line}`),
      [
        "bad.yaml:2",
        "bad.yaml:5",
        `config.json:${lineOf(text, "missing.yaml")}`,
        `config.json:${text.slice(0, text.lastIndexOf('"a"')).split("\n").length}`,
        `config.json:${lineOf(text, "../escape.yaml")}`,
      ],
    );
    for (const problem of problems) assert.ok(problem.message.length > 0);
  });

  it("refuses topic names that cannot be published to: over 253 characters, a slash, a control character", async () => {
    const longest = "t".repeat(253);
    const text = config([
      { name: longest, configs: ["job.yaml"] },
      { name: `${longest}x`, configs: ["job.yaml"] },
      { name: "a/b", configs: ["job.yaml"] },
      { name: "tab\there", configs: ["job.yaml"] },
    ]);
    const root = await repo({ "config.json": text, "job.yaml": job("j") });
    const problems = await lintCatalog(root, "config.json");
    assert.deepEqual(
      problems.map(({ file, line }) => `${file}:${line}`),
      [`${longest}x`, "a/b", "tab\\there"].map((name) => `config.json:${lineOf(text, `"${name}"`)}`),
    );
    assert.match(problems[0]!.message, /254 characters long; at most 253/);
    const refused = await refusal(root);
    assert.equal(refused.code, "CATALOG_INVALID");
  });

  it("reports a broken config alone", async () => {
    const root = await repo({ "config.json": "{ nope" });
    const problems = await lintCatalog(root, "config.json");
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, "config.json");
    assert.equal(problems[0]!.line, 1);
  });
});

describe("manifests written for the original's Mustache", () => {
  const head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: m\ndata:\n";

  it("refuses sections, partials, set-delimiters and dotted names at sync and at lint, with file:line", async () => {
    const refused = `${head}  a: "{{#on}}yes{{/on}}"\n  b: {{> other}}\n  c: {{=<% %>=}}\n  d: {{req.id}}\n`;
    const root = await repo({
      "config.json": config([{ name: "t", configs: ["jobs/old.yaml"] }]),
      "jobs/old.yaml": refused,
    });
    const error = await refusal(root);
    assert.equal(error.code, "MANIFEST_INVALID");
    assert.match(error.message, /^jobs\/old\.yaml:6: Mustache section \{\{#on\}\}/);
    const problems = await lintCatalog(root, "config.json");
    assert.deepEqual(
      problems.map((problem) => [`${problem.file}:${problem.line}`, problem.warning]),
      [
        ["jobs/old.yaml:6", undefined],
        ["jobs/old.yaml:6", undefined],
        ["jobs/old.yaml:7", undefined],
        ["jobs/old.yaml:8", undefined],
        ["jobs/old.yaml:9", undefined],
      ],
    );
    assert.match(problems[2]!.message, /partial.*config\.json/);
    assert.match(problems[4]!.message, /write \{\{req_id\}\}/);
  });

  it("serves {{{x}}}, {{& x}}, {{! comments }} and a List; a leftover {{ is a lint warning, never a refusal", async () => {
    const source = `{{! migrated }}\n${head}  a: {{{x}}}\n  b: {{& x}}\n  c: "{{ x y }}"\n---\napiVersion: v1\nkind: List\nitems:\n  - ${job("a").replaceAll("\n", "\n    ").trimEnd()}\n  - ${job("b").replaceAll("\n", "\n    ").trimEnd()}\n`;
    const root = await repo({
      "config.json": config([{ name: "t", configs: ["m.yaml"] }]),
      "m.yaml": source,
    });
    const catalog = await loadCatalog(root, "config.json");
    const [manifest] = catalog.topics.get("t")!.manifests;
    assert.deepEqual(
      manifest!.documents.map((document) => document.kind),
      ["ConfigMap", "Job", "Job"],
    );
    const [configMap, jobA, jobB] = renderManifest(manifest!, { x: "&<", RANDOM: "r", PAYLOAD: "p" });
    assert.deepEqual(configMap!.data, { a: "&<", b: "&<", c: "{{ x y }}" });
    assert.deepEqual([jobA!.metadata.name, jobB!.metadata.name], ["a-r", "b-r"]);
    assert.deepEqual(await lintCatalog(root, "config.json"), [
      {
        file: "m.yaml",
        line: lineOf(source, "c: "),
        message:
          '"{{ x y }}" is not a placeholder gitfaas fills (those are {{name}}: letters, digits, _ and -) and stays in the value as written',
        warning: true,
      },
    ]);
  });

  it("refuses a List inside a List at sync, naming the item's line", async () => {
    const source = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: List\n    items: []\n";
    const root = await repo({
      "config.json": config([{ name: "t", configs: ["l.yaml"] }]),
      "l.yaml": source,
    });
    const error = await refusal(root);
    assert.equal(error.code, "MANIFEST_INVALID");
    assert.match(error.message, /^l\.yaml:4: a List inside a List is not supported/);
  });
});

describe('typed parameters ("params" of a topic)', () => {
  const deployment =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  labels:\n    code: {{code}}\nspec:\n  replicas: {{replicas}}\n";
  const declared = {
    replicas: { type: "integer", minimum: 1, maximum: 10, default: 1 },
    date: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$" },
    code: { type: "string", default: "007" },
  };

  async function typedTopic() {
    const root = await repo({
      "config.json": config([{ name: "scale", configs: ["d.yaml"], params: declared }]),
      "d.yaml": deployment,
    });
    const topic = (await loadCatalog(root, "config.json")).topics.get("scale");
    assert.ok(topic?.params && topic.manifests[0]);
    return { params: topic.params, manifest: topic.manifests[0] };
  }

  it("fills defaults; an integer reaches a bare placeholder as a number, a declared string stays text", async () => {
    const { params, manifest } = await typedTopic();
    const values = params.check("scale", { replicas: "3" });
    assert.deepEqual(values, { replicas: "3", code: "007" });
    const [object] = renderManifest(manifest, values, params.textNames) as unknown as [
      { spec: { replicas: unknown }; metadata: { labels: { code: unknown } } },
    ];
    assert.equal(object.spec.replicas, 3);
    assert.equal(object.metadata.labels.code, "007");
    assert.deepEqual(params.check("scale", {}), { replicas: "1", code: "007" });
  });

  it("refuses bad and undeclared values with PARAMETER_INVALID, naming each and why", async () => {
    const { params } = await typedTopic();
    const refused = (() => {
      try {
        params.check("scale", { replicas: "11", date: "yesterday", colour: "red" });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    assert.ok(refused instanceof GitfaasError);
    assert.equal(refused.code, "PARAMETER_INVALID");
    const named = (refused.details?.parameters as { name: string; reason: string }[])
      .map((p) => p.name)
      .sort();
    assert.deepEqual(named, ["colour", "date", "replicas"]);
    assert.match(refused.message, /replicas must be <= 10/);
    assert.match(refused.message, /colour is not declared/);
    assert.throws(() => params.check("scale", { replicas: "two" }), /replicas must be integer/);
  });

  it("a bad declaration refuses the revision with file:line (unknown keyword, bad type, default outside it)", async () => {
    for (const [bad, reason] of [
      [{ type: "integer", mnimum: 1 }, /unknown keyword: "mnimum"/],
      [{ type: "object" }, /"type" must be one of/],
      [{ type: "integer", minimum: 2, default: 1 }, /the default does not match/],
    ] as const) {
      const text = config([{ name: "t", configs: ["d.yaml"], params: { ok: { type: "string" }, bad } }]);
      const root = await repo({ "config.json": text, "d.yaml": deployment });
      const error = await refusal(root);
      assert.equal(error.code, "CATALOG_INVALID");
      assert.match(error.message, reason);
      assert.equal(error.details?.line, lineOf(text, '"bad"'), error.message);
      const problems = await lintCatalog(root, "config.json");
      assert.equal(problems[0]?.line, lineOf(text, '"bad"'));
    }
  });
});

describe('schedules ("schedule" of a topic)', () => {
  it("reads the expression in its time zone, with the defaults", async () => {
    const root = await repo({
      "config.json": config([
        {
          name: "tick",
          configs: ["j.yaml"],
          schedule: { cron: "0 9 * * *", timezone: "Europe/Oslo", body: { a: 1 } },
        },
      ]),
      "j.yaml": job("j"),
    });
    const schedule = (await loadCatalog(root, "config.json")).topics.get("tick")?.schedule;
    assert.ok(schedule);
    assert.equal(schedule.concurrency, "allow");
    assert.equal(schedule.catchUp, "none");
    assert.equal(schedule.contentType, "application/json");
    // 09:00 in Oslo is 08:00 UTC in winter.
    assert.equal(schedule.next(new Date("2026-01-10T12:00:00Z"))?.toISOString(), "2026-01-11T08:00:00.000Z");
    assert.equal(
      schedule.latest(new Date("2026-01-11T08:00:00Z"))?.toISOString(),
      "2026-01-11T08:00:00.000Z",
    );
  });

  it("a bad expression, time zone or option refuses the revision with file:line", async () => {
    for (const [key, schedule] of [
      ["cron", { cron: "61 * * * *" }],
      ["timezone", { cron: "* * * * *", timezone: "Mars/Olympus" }],
      ["concurrency", { cron: "* * * * *", concurrency: "sometimes" }],
      ["catchUp", { cron: "* * * * *", catchUp: "all" }],
    ] as const) {
      const text = config([{ name: "t", configs: ["j.yaml"], schedule }]);
      const root = await repo({ "config.json": text, "j.yaml": job("j") });
      const error = await refusal(root);
      assert.equal(error.code, "CATALOG_INVALID");
      assert.match(error.message, new RegExp(`schedule\\.${key}`));
      assert.equal(error.details?.line, lineOf(text, `"${key}"`), error.message);
    }
  });
});
