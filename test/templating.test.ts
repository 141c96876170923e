import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GitfaasError } from "../src/errors/index.js";
import {
  DEFAULT_BANNED_KINDS,
  TRACKING,
  addTracking,
  checkSizeLimits,
  compileManifest,
  enforcePolicy,
  inspectManifest,
  lintManifest,
  lintPolicy,
  missingValues,
  renderManifest,
  type KubeObject,
  type Policy,
} from "../src/templating/index.js";

function rejectsWith(code: string, check?: (error: GitfaasError) => void): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof GitfaasError, `expected a GitfaasError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    check?.(error);
    return true;
  };
}

function render(source: string, values: Record<string, string>): KubeObject[] {
  return renderManifest(compileManifest(source, "m.yaml"), values);
}

/** The structure of a value with every leaf blanked: equal shapes mean equal keys, items and documents. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, shape(child)]));
  }
  return "leaf";
}

describe("rendering cannot be steered by values", () => {
  const manifest = compileManifest(
    [
      "apiVersion: batch/v1",
      "kind: Job",
      "metadata:",
      "  name: job-{{RANDOM}}",
      "  annotations:",
      '    quoted: "{{V}}"',
      "spec:",
      "  template:",
      "    spec:",
      "      restartPolicy: Never",
      "      containers:",
      "        - name: c",
      "          image: busybox",
      "          args: [{{V}}, \"{{V}}\", 'x-{{V}}']",
      "          env:",
      "            - name: BARE",
      "              value: {{V}}",
      "            - name: DOUBLE",
      '              value: "{{V}}"',
      "            - name: SINGLE",
      "              value: '{{V}}'",
      "            - name: EMBEDDED",
      "              value: pre-{{V}}-post",
      "            - name: BLOCK",
      "              value: |",
      "                {{V}}",
      "  extra: {{V}}",
      "---",
      "apiVersion: v1",
      "kind: ConfigMap",
      "metadata:",
      "  name: cm",
      "data:",
      '  flow: {inline: {{V}}, other: "{{V}}"}',
      "  list:",
      "    - {{V}}",
      "",
    ].join("\n"),
    "inject.yaml",
  );
  const benign = renderManifest(manifest, { RANDOM: "r", V: "plain" });

  const attempts = [
    '"\nkind: ClusterRole',
    "---\napiVersion: v1\nkind: Secret",
    "x: y",
    "{a: 1}",
    "[1,2]",
    "# comment",
    "'",
    '"',
    'it\'s "quoted"',
    'a\\nb\\"c',
    "\nkind: Role\nmetadata:\n  name: evil",
    "}}{{V}}",
    "&anchor *alias !!int",
  ];
  for (const value of attempts) {
    it(`keeps ${JSON.stringify(value)} a string in every position`, () => {
      const objects = renderManifest(manifest, { RANDOM: "r", V: value });
      assert.equal(objects.length, 2);
      assert.deepEqual(shape(objects), shape(benign));
      assert.deepEqual(
        objects.map((object) => object.kind),
        ["Job", "ConfigMap"],
      );
      const [job, configMap] = objects as [KubeObject, KubeObject];
      assert.equal(job.metadata.annotations?.quoted, value);
      const spec = job.spec as {
        extra: unknown;
        template: { spec: { containers: Record<string, unknown>[] } };
      };
      assert.equal(spec.extra, value);
      const container = spec.template.spec.containers[0]!;
      assert.deepEqual(container.args, [value, value, `x-${value}`]);
      assert.deepEqual(container.env, [
        { name: "BARE", value },
        { name: "DOUBLE", value },
        { name: "SINGLE", value },
        { name: "EMBEDDED", value: `pre-${value}-post` },
        { name: "BLOCK", value: `${value}\n` },
      ]);
      assert.deepEqual(configMap.data, { flow: { inline: value, other: value }, list: [value] });
    });
  }

  it("never lets literal text that looks like a sentinel act as a placeholder", () => {
    const source =
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: GFPH000000000000N0X\ndata:\n  a: '{{V}}'\n";
    const compiled = compileManifest(source, "m.yaml");
    assert.deepEqual([...compiled.placeholders], ["V"]);
    const [object] = renderManifest(compiled, { V: "v" });
    assert.equal(object!.metadata.name, "GFPH000000000000N0X");
  });

  it("resolves YAML escapes before substituting, so a value's backslashes stay verbatim", () => {
    const [object] = render(
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  a: "t\\t{{V}}"\n',
      {
        V: "\\n\\t",
      },
    );
    assert.equal((object!.data as Record<string, string>).a, "t\t\\n\\t");
  });
});

describe("placeholders", () => {
  const natural =
    'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: {{replicas}}\n  quoted: "{{replicas}}"\n';

  it("renders a bare value as its natural YAML type and a quoted one as a string", () => {
    const cases: [string, unknown][] = [
      ["2", 2],
      ["-7", -7],
      ["1.5", 1.5],
      ["1e3", 1000],
      ["0x1F", 31],
      ["0o17", 15],
      ["true", true],
      ["False", false],
      ["null", null],
      ["~", null],
      ["", null],
      ["yes", "yes"],
      ["2 ", "2 "],
      [".inf", ".inf"],
      ["12345678901234567890", "12345678901234567890"],
      ["{a: 1}", "{a: 1}"],
    ];
    for (const [value, expected] of cases) {
      const [object] = render(natural, { replicas: value });
      const spec = object!.spec as { replicas: unknown; quoted: unknown };
      assert.deepEqual(spec.replicas, expected, `bare ${JSON.stringify(value)}`);
      assert.equal(spec.quoted, value, `quoted ${JSON.stringify(value)}`);
    }
  });

  it("keeps values Kubernetes wants as strings (names, labels, env values) strings even when bare", () => {
    const [object] = render(
      [
        "apiVersion: v1",
        "kind: Pod",
        "metadata:",
        "  name: {{N}}",
        "  namespace: {{N}}",
        "  labels:",
        "    n: {{N}}",
        "spec:",
        "  containers:",
        "    - name: c",
        "      env:",
        "        - name: A",
        "          value: {{N}}",
        "      port: {{N}}",
      ].join("\n"),
      { N: "123" },
    );
    assert.equal(object!.metadata.name, "123");
    assert.equal(object!.metadata.namespace, "123");
    assert.deepEqual(object!.metadata.labels, { n: "123" });
    const container = (object!.spec as { containers: { env: unknown; port: unknown }[] }).containers[0]!;
    assert.deepEqual(container.env, [{ name: "A", value: "123" }]);
    assert.equal(container.port, 123);
  });

  it("accepts blanks inside the braces", () => {
    const compiled = compileManifest(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a-{{ A }}-{{B }}-{{\tC}}\ndata:\n  d: {{ D-x_y }}\n",
      "m.yaml",
    );
    assert.deepEqual([...compiled.placeholders].sort(), ["A", "B", "C", "D-x_y"]);
    const [object] = renderManifest(compiled, { A: "1", B: "2", C: "3", "D-x_y": "4" });
    assert.equal(object!.metadata.name, "a-1-2-3");
    assert.deepEqual(object!.data, { d: 4 });
  });

  it("ignores placeholders in comments", () => {
    const compiled = compileManifest(
      "# uses {{NOTHING}}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a # {{X}}\n",
      "m.yaml",
    );
    assert.deepEqual([...compiled.placeholders], []);
  });

  it("refuses to render with any value missing, naming every missing one", () => {
    const compiled = compileManifest(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a-{{zeta}}\ndata:\n  a: '{{alpha}}'\n  b: {{present}}\n  c: {{constructor}}\n",
      "m.yaml",
    );
    const values = { present: "" };
    assert.deepEqual(missingValues(compiled, values), ["alpha", "constructor", "zeta"]);
    assert.throws(
      () => renderManifest(compiled, values),
      rejectsWith("TEMPLATE_MISSING_VALUE", (error) => {
        assert.deepEqual(error.details?.missing, ["alpha", "constructor", "zeta"]);
        for (const name of ["alpha", "constructor", "zeta"])
          assert.match(error.message, new RegExp(`\\{\\{${name}\\}\\}`));
        assert.doesNotMatch(error.message, /present/);
      }),
    );
    const [object] = renderManifest(compiled, { ...values, alpha: "a", zeta: "z", constructor: "c" });
    assert.equal((object!.data as Record<string, unknown>).b, null);
  });

  it("renders fresh objects each time and expands aliases into separate copies", () => {
    const compiled = compileManifest(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  one: &shared {v: '{{V}}'}\n  two: *shared\n",
      "m.yaml",
    );
    const [first] = renderManifest(compiled, { V: "x" });
    const data = first!.data as { one: { v: string }; two: { v: string } };
    assert.deepEqual(data.two, { v: "x" });
    data.one.v = "changed";
    assert.equal(data.two.v, "x");
    const [second] = renderManifest(compiled, { V: "x" });
    assert.deepEqual(second!.data, { one: { v: "x" }, two: { v: "x" } });
  });

  it("keeps a __proto__ key as data", () => {
    const [object] = render(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  __proto__: {polluted: '{{V}}'}\n",
      {
        V: "yes",
      },
    );
    const data = object!.data as Record<string, unknown>;
    assert.ok(Object.hasOwn(data, "__proto__"));
    assert.equal(Object.getPrototypeOf(data), Object.prototype);
    assert.equal((data as { polluted?: unknown }).polluted, undefined);
  });
});

describe("compileManifest refuses", () => {
  function refusedAt(source: string, line: number, reason: RegExp): void {
    assert.throws(
      () => compileManifest(source, "dir/bad.yaml"),
      rejectsWith("MANIFEST_INVALID", (error) => {
        assert.ok(error.message.startsWith(`dir/bad.yaml:${line}: `), error.message);
        assert.match(error.message, reason);
        assert.deepEqual(
          { path: error.details?.path, line: error.details?.line },
          { path: "dir/bad.yaml", line },
        );
      }),
    );
  }
  const head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n";

  it("a placeholder in a key", () => {
    refusedAt(`${head}data:\n  {{K}}: v\n`, 6, /key/);
    refusedAt(`${head}data:\n  "{{K}}": v\n`, 6, /key/);
    refusedAt(`${head}data:\n  pre-{{K}}: v\n`, 6, /key/);
    refusedAt(`${head}data: {a: 1, {{K}}: v}\n`, 5, /key/);
  });

  it("a placeholder in kind or apiVersion", () => {
    refusedAt("apiVersion: v1\nkind: {{KIND}}\nmetadata:\n  name: a\n", 2, /kind.*\{\{KIND\}\}/);
    refusedAt("apiVersion: v1\nkind: 'Config{{KIND}}'\nmetadata:\n  name: a\n", 2, /kind/);
    refusedAt("apiVersion: '{{G}}/v1'\nkind: Pod\nmetadata:\n  name: a\n", 1, /apiVersion/);
    refusedAt(`${head}---\napiVersion: v1\nkind: {{KIND}}\nmetadata:\n  name: b\n`, 7, /kind/);
  });

  it("a placeholder in an anchor, an alias or a tag", () => {
    refusedAt(`${head}data:\n  a: &{{A}} x\n`, 6, /./);
    refusedAt(`${head}data:\n  a: *{{A}}\n`, 6, /./);
    refusedAt(`${head}data:\n  a: !{{A}} x\n`, 6, /./);
  });

  it("YAML syntax errors, with their line", () => {
    refusedAt(`${head}data:\n  a: b: c\n`, 6, /nested mappings/i);
    refusedAt(`${head}data:\n\ta: 1\n`, 6, /tab/i);
    refusedAt(`${head}  name: b\n`, 5, /unique/i);
    refusedAt(`${head}data:\n  a: "unterminated\n`, 7, /quote/);
  });

  it("documents that are not Kubernetes objects", () => {
    refusedAt("- a\n- b\n", 1, /mapping/);
    refusedAt("kind: Pod\nmetadata:\n  name: a\n", 1, /apiVersion/);
    refusedAt("apiVersion: v1\nkind: Pod\n", 1, /metadata/);
    refusedAt("apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b}\n", 4, /name/);
    refusedAt("apiVersion: v1\nkind: 3\nmetadata:\n  name: a\n", 2, /kind/);
    refusedAt("# nothing\n", 1, /no Kubernetes object/);
  });

  it("top-level items outside a List, whose members would escape policy", () => {
    refusedAt(
      "apiVersion: v1\nkind: SecretList\nmetadata:\n  name: l\nitems:\n  - apiVersion: v1\n    kind: Secret\n",
      6,
      /items.*kind: List/,
    );
  });

  it("an alias to its own ancestor", () => {
    refusedAt(`${head}data: &loop\n  self: *loop\n`, 6, /alias/);
  });

  it("an alias bomb, before expanding it", () => {
    const levels = ["a: &l0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let level = 1; level < 10; level++) {
      levels.push(
        `${"abcdefghij"[level]}: &l${level} [${Array.from({ length: 10 }, () => `*l${level - 1}`).join(", ")}]`,
      );
    }
    const source = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n${levels.map((line) => `  ${line}`).join("\n")}\n`;
    const started = Date.now();
    assert.throws(
      () => compileManifest(source, "bomb.yaml"),
      rejectsWith("MANIFEST_INVALID", (error) => assert.match(error.message, /aliases/)),
    );
    assert.ok(Date.now() - started < 2000, "refused quickly");
  });

  it("and reports every problem through lintManifest", () => {
    const problems = lintManifest(
      "apiVersion: v1\nkind: {{K}}\nmetadata:\n  name: a\n  {{X}}: v\n",
      "m.yaml",
    );
    assert.deepEqual(
      problems.map((problem) => problem.line),
      [2, 5],
    );
  });
});

describe("compileManifest accepts", () => {
  it("several documents, skipping empty ones", () => {
    const compiled = compileManifest(
      "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: j-\n---\n",
      "m.yaml",
    );
    const objects = renderManifest(compiled, {});
    assert.deepEqual(
      objects.map((object) => [object.kind, object.metadata.name ?? object.metadata.generateName]),
      [
        ["ConfigMap", "a"],
        ["Job", "j-"],
      ],
    );
  });
});

describe("namePlaceholders", () => {
  it("lists the placeholders metadata.name is rendered from, per document", () => {
    const compiled = compileManifest(
      [
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: run-{{RANDOM}}-{{who}}",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fixed\n  labels: {x: '{{RANDOM}}'}",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: run-{{RANDOM}}-",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{REQUEST_UID}}",
      ].join("\n---\n"),
      "m.yaml",
    );
    assert.deepEqual(
      compiled.documents.map((document) => document.namePlaceholders),
      [["RANDOM", "who"], [], [], ["REQUEST_UID"]],
    );
  });
});

describe("enforcePolicy", () => {
  const namespaced: Policy = { bannedKinds: DEFAULT_BANNED_KINDS, namespace: "faas", scope: "namespaced" };
  const clusterWide: Policy = { ...namespaced, scope: "clusterWide" };
  const object = (kind: string, namespace?: string): KubeObject => ({
    apiVersion: "v1",
    kind,
    metadata: namespace === undefined ? { name: "o" } : { name: "o", namespace },
  });

  it("bans kinds case-insensitively, naming path, kind and name", () => {
    const [rendered] = render(
      "apiVersion: rbac.authorization.k8s.io/v1\nkind: clusterrole\nmetadata:\n  name: admin-ish\n",
      {},
    );
    for (const policy of [namespaced, clusterWide]) {
      assert.throws(
        () => enforcePolicy([rendered!], policy, "rbac.yaml"),
        rejectsWith("BANNED_KIND", (error) => {
          assert.match(error.message, /rbac\.yaml/);
          assert.match(error.message, /clusterrole/);
          assert.match(error.message, /admin-ish/);
          assert.deepEqual(error.details, { path: "rbac.yaml", kind: "clusterrole", name: "admin-ish" });
        }),
      );
    }
    assert.throws(() => enforcePolicy([object("SERVICE")], namespaced, "s.yaml"), rejectsWith("BANNED_KIND"));
    assert.equal(enforcePolicy([object("Service")], { ...namespaced, bannedKinds: [] }, "s.yaml").length, 1);
  });

  it("under namespaced scope defaults the namespace and refuses any other", () => {
    const input = [object("Job"), object("ConfigMap", "faas")];
    const output = enforcePolicy(input, namespaced, "m.yaml");
    assert.deepEqual(
      output.map((item) => item.metadata.namespace),
      ["faas", "faas"],
    );
    assert.equal(input[0]!.metadata.namespace, undefined, "input untouched");
    assert.throws(
      () => enforcePolicy([object("Job", "kube-system")], namespaced, "m.yaml"),
      rejectsWith("NAMESPACE_FORBIDDEN", (error) => {
        assert.match(error.message, /m\.yaml/);
        assert.match(error.message, /kube-system/);
        assert.match(error.message, /Job o/);
      }),
    );
    for (const kind of ["Namespace", "persistentvolume", "PriorityClass"]) {
      assert.throws(
        () => enforcePolicy([object(kind)], namespaced, "m.yaml"),
        rejectsWith("NAMESPACE_FORBIDDEN"),
      );
    }
  });

  it("under clusterWide scope allows any namespace and leaves cluster-scoped kinds without one", () => {
    const output = enforcePolicy(
      [object("Job", "kube-system"), object("Job"), object("Namespace")],
      clusterWide,
      "m.yaml",
    );
    assert.deepEqual(
      output.map((item) => item.metadata.namespace),
      ["kube-system", "faas", undefined],
    );
  });
});

describe("lintPolicy", () => {
  const policy = { bannedKinds: DEFAULT_BANNED_KINDS, namespace: "faas", scope: "namespaced" as const };

  it("reports banned kinds, foreign and templated namespaces, cluster-scoped kinds, with lines", () => {
    const compiled = compileManifest(
      [
        "apiVersion: v1",
        "kind: serviceAccount",
        "metadata:",
        "  name: a",
        "---",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: b",
        "  namespace: other",
        "---",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: c",
        "  namespace: '{{NS}}'",
        "---",
        "apiVersion: v1",
        "kind: Namespace",
        "metadata:",
        "  name: d",
        "---",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: fine",
        "  namespace: faas",
      ].join("\n"),
      "p.yaml",
    );
    const problems = lintPolicy(compiled, policy);
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.match(problems[0]!, /^p\.yaml:2: .*serviceAccount.*banned/);
    assert.match(problems[1]!, /^p\.yaml:10: .*other/);
    assert.match(problems[2]!, /^p\.yaml:16: .*placeholder/);
    assert.match(problems[3]!, /^p\.yaml:19: .*Namespace/);
    assert.deepEqual(lintPolicy(compiled, { ...policy, bannedKinds: [], scope: "clusterWide" }), []);
  });
});

describe("addTracking", () => {
  const requestUid = "r-0b0c5a2e-8a1c-4f3e-9d2b-1234567890ab";
  const functionUid = `f-6f1d2c3b-4a5e-4f60-8a7b-0c9d8e7f6a5b-${requestUid}`;
  const tracking = { requestUid, functionUid, topic: "resize" };
  const expectedLabels = {
    [TRACKING.requestUid]: requestUid,
    [TRACKING.functionId]: "f-6f1d2c3b-4a5e-4f60-8a7b-0c9d8e7f6a5b",
    [TRACKING.topic]: "resize",
  };
  const expectedAnnotations = {
    [TRACKING.functionUidAnnotation]: functionUid,
    [TRACKING.topicAnnotation]: "resize",
  };

  it("labels a Job and its pod template, overriding user labels with our keys and keeping the rest", () => {
    const [job] = render(
      [
        "apiVersion: batch/v1",
        "kind: Job",
        "metadata:",
        "  name: j",
        "  labels:",
        "    app: mine",
        "    gitfaas.dev/topic: forged",
        "spec:",
        "  template:",
        "    metadata:",
        "      labels: {tier: pod}",
        "    spec:",
        "      containers: [{name: c, image: i}]",
      ].join("\n"),
      {},
    );
    const [tracked] = addTracking([job!], tracking);
    assert.equal(expectedLabels[TRACKING.functionId].length, 38);
    assert.deepEqual(tracked!.metadata.labels, { app: "mine", ...expectedLabels });
    assert.deepEqual(tracked!.metadata.annotations, expectedAnnotations);
    const template = (tracked!.spec as { template: { metadata: { labels: unknown; annotations: unknown } } })
      .template;
    assert.deepEqual(template.metadata.labels, { tier: "pod", ...expectedLabels });
    assert.deepEqual(template.metadata.annotations, expectedAnnotations);
    assert.equal(tracked, job, "marked in place: the objects of one publish, freshly rendered");
  });

  it("labels long-lived workloads on their own metadata only: nothing per publish inside a template", () => {
    const podTemplate = { metadata: { labels: { app: "web" } }, spec: {} };
    const workloads = [
      { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" }, spec: { template: podTemplate } },
      {
        apiVersion: "apps/v1",
        kind: "StatefulSet",
        metadata: { name: "s" },
        spec: { template: podTemplate },
      },
      { apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "ds" }, spec: { template: podTemplate } },
      { apiVersion: "apps/v1", kind: "ReplicaSet", metadata: { name: "r" }, spec: { template: podTemplate } },
      {
        apiVersion: "batch/v1",
        kind: "CronJob",
        metadata: { name: "c" },
        spec: { schedule: "* * * * *", jobTemplate: { spec: { template: podTemplate } } },
      },
    ];
    for (const tracked of addTracking(workloads, tracking)) {
      assert.deepEqual(tracked.metadata.labels, expectedLabels, tracked.kind);
      // Annotations bump a Deployment's generation: only the topic's, the same at every publish.
      assert.deepEqual(tracked.metadata.annotations, { "gitfaas.dev/topic": tracking.topic }, tracked.kind);
      assert.deepEqual(tracked.spec, workloads.find((w) => w.kind === tracked.kind)!.spec, tracked.kind);
    }
  });

  it("replaces a topic that is not a valid label value by a short digest, keeping it whole in the annotation", () => {
    for (const topic of ["has space", "x".repeat(64), "-leading", "é"]) {
      const [tracked] = addTracking([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" } }], {
        ...tracking,
        topic,
      });
      const label = tracked!.metadata.labels![TRACKING.topic]!;
      assert.match(label, /^[0-9a-f]{16}$/, topic);
      assert.equal(tracked!.metadata.annotations![TRACKING.topicAnnotation], topic);
    }
    const [long] = addTracking([{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a" } }], {
      ...tracking,
      topic: "a".repeat(63),
    });
    assert.equal(long!.metadata.labels![TRACKING.topic], "a".repeat(63));
  });
});

describe("checkSizeLimits", () => {
  const job = (
    env: { name: string; value: string }[],
    where: "containers" | "initContainers" = "containers",
  ): KubeObject => ({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "j" },
    spec: { template: { spec: { [where]: [{ name: "worker", image: "i", env }] } } },
  });

  it("accepts an env entry of exactly 131072 bytes with its NUL, refuses one byte more", () => {
    const fits = "x".repeat(131_072 - "PAYLOAD=".length - 1);
    checkSizeLimits([job([{ name: "PAYLOAD", value: fits }])], "m.yaml");
    for (const where of ["containers", "initContainers"] as const) {
      assert.throws(
        () => checkSizeLimits([job([{ name: "PAYLOAD", value: `${fits}x` }], where)], "m.yaml"),
        rejectsWith("ENV_VALUE_TOO_LARGE", (error) => {
          assert.match(error.message, /m\.yaml/);
          assert.match(error.message, /worker/);
          assert.match(error.message, /PAYLOAD/);
          assert.match(error.message, /\{\{PAYLOAD_URL\}\}/);
        }),
      );
    }
  });

  it("counts bytes, not characters", () => {
    const value = "é".repeat(70_000);
    assert.throws(
      () => checkSizeLimits([job([{ name: "P", value }])], "m.yaml"),
      rejectsWith("ENV_VALUE_TOO_LARGE"),
    );
  });

  it("checks a CronJob's and a Pod's containers", () => {
    const big = "x".repeat(140_000);
    const cronJob: KubeObject = {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: { name: "c" },
      spec: {
        jobTemplate: {
          spec: { template: { spec: { containers: [{ name: "w", env: [{ name: "B", value: big }] }] } } },
        },
      },
    };
    const pod: KubeObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p" },
      spec: { containers: [{ name: "w", env: [{ name: "B", value: big }] }] },
    };
    assert.throws(() => checkSizeLimits([cronJob], "m.yaml"), rejectsWith("ENV_VALUE_TOO_LARGE"));
    assert.throws(() => checkSizeLimits([pod], "m.yaml"), rejectsWith("ENV_VALUE_TOO_LARGE"));
  });

  it("refuses an object etcd could not store", () => {
    const configMap = (size: number): KubeObject => ({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "big" },
      data: { a: "x".repeat(size) },
    });
    checkSizeLimits([configMap(1_500_000)], "m.yaml");
    assert.throws(
      () => checkSizeLimits([configMap(1_600_000)], "m.yaml"),
      rejectsWith("OBJECT_TOO_LARGE", (error) => {
        assert.match(error.message, /m\.yaml/);
        assert.match(error.message, /ConfigMap big/);
        assert.match(error.message, /\{\{PAYLOAD_URL\}\}/);
      }),
    );
  });
});

describe("the original's Mustache forms", () => {
  const configMap = (data: string[]): string =>
    ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: m", "data:", ...data].join("\n") + "\n";

  it("renders {{{x}}} and {{& x}} as {{x}}: the same value, unescaped, with the same natural type", () => {
    const source = configMap([
      "  triple: {{{x}}}",
      '  tripleQuoted: "{{{ x }}}"',
      "  amp: {{& x}}",
      "  ampInText: pre-{{&x}}-post",
      "  ampBlank: {{ & x }}",
      "  n: {{{n}}}",
    ]);
    const compiled = compileManifest(source, "m.yaml");
    assert.deepEqual([...compiled.placeholders].sort(), ["n", "x"]);
    const [object] = renderManifest(compiled, { x: 'a"b&c<d>', n: "2" });
    assert.deepEqual(object!.data, {
      triple: 'a"b&c<d>',
      tripleQuoted: 'a"b&c<d>',
      amp: 'a"b&c<d>',
      ampInText: 'pre-a"b&c<d>-post',
      ampBlank: 'a"b&c<d>',
      n: 2,
    });
    assert.deepEqual(inspectManifest(source, "m.yaml").warnings, []);
  });

  it("keeps the unescaped forms out of keys, kind and apiVersion, as {{x}} is", () => {
    assert.match(lintManifest(configMap(["  {{{k}}}: v"]), "m.yaml")[0]!.message, /key/);
    assert.match(
      lintManifest("apiVersion: v1\nkind: {{& k}}\nmetadata:\n  name: a\n", "m.yaml")[0]!.message,
      /kind/,
    );
  });

  it("drops {{! comments }}: inside a value, and on lines of their own with those lines", () => {
    const source = [
      "{{! a job the original ran }}",
      "apiVersion: v1",
      "kind: ConfigMap",
      "metadata:",
      "  name: m{{! inline }}{{ ! blanks first }}",
      "  {{! spans",
      "      two lines }}",
      "data:",
      "  script: |",
      "    echo a",
      "    {{! not a blank line once rendered }}",
      "    echo b",
      "  k: {{! a comment in a key }}v",
    ].join("\n");
    const [object] = render(source, {});
    assert.equal(object!.metadata.name, "m");
    assert.deepEqual(object!.data, { script: "echo a\necho b\n", k: "v" });
  });

  it("reports the line as written after comments that removed lines", () => {
    const source =
      "{{! one }}\n{{! two\n three }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n";
    assert.deepEqual(
      lintManifest(source, "m.yaml").map((problem) => problem.line),
      [8],
    );
  });

  it("refuses sections, partials, set-delimiters and dotted names, with the line and what to write instead", () => {
    const cases: [string, RegExp][] = [
      ["  a: {{#flag}}on{{/flag}}", /section \{\{#flag\}\}.*values, never the shape.*own manifest/],
      ["  a: {{^flag}}off{{/flag}}", /section \{\{\^flag\}\}/],
      ["  a: {{> other}}", /partial \{\{> ?other\}\}.*configs in config\.json/],
      ["  a: {{=<% %>=}}", /delimiters.*write placeholders as \{\{name\}\}/],
      ["  a: {{a.b}}", /dotted name \{\{a\.b\}\}.*write \{\{a_b\}\} and pass a_b=/],
      ["  a: {{{a.b}}}", /dotted name \{\{a\.b\}\}/],
      ["  a: {{& a.b}}", /dotted name \{\{a\.b\}\}/],
      ["  a: {{ #flag }}on{{ /flag }}", /section \{\{#flag\}\}/],
    ];
    for (const [line, reason] of cases) {
      const source = configMap(["  before: 1", line]);
      const problems = lintManifest(source, "dir/m.yaml");
      assert.ok(problems.length > 0, line);
      assert.equal(problems[0]!.line, 7, line);
      assert.match(problems[0]!.message, reason);
      assert.throws(
        () => compileManifest(source, "dir/m.yaml"),
        rejectsWith("MANIFEST_INVALID", (error) => assert.ok(error.message.startsWith("dir/m.yaml:7: "))),
      );
    }
  });

  it("warns, naming it, about a leftover {{ that stays in a rendered value, and renders it as written", () => {
    const source = configMap(["  a: '{{ not a name }}'", '  b: "x-{{y}}-{{z"', "  c: plain"]);
    const inspected = inspectManifest(source, "m.yaml");
    assert.ok("manifest" in inspected, "a warning does not refuse the manifest");
    assert.deepEqual(
      inspected.warnings.map((warning) => warning.line),
      [6, 7],
    );
    assert.match(inspected.warnings[0]!.message, /"\{\{ not a name \}\}" is not a placeholder/);
    assert.match(inspected.warnings[1]!.message, /"\{\{z" is not a placeholder/);
    const [object] = renderManifest(inspected.manifest, { y: "Y" });
    assert.deepEqual(object!.data, { a: "{{ not a name }}", b: "x-Y-{{z", c: "plain" });
  });
});

describe("kind: List", () => {
  const list = [
    "apiVersion: v1",
    "kind: List",
    "metadata:",
    "  resourceVersion: ''",
    "items:",
    "  - apiVersion: batch/v1",
    "    kind: Job",
    "    metadata:",
    "      name: a-{{RANDOM}}",
    "    spec:",
    "      template:",
    "        spec:",
    "          containers:",
    "            - name: c",
    "              env:",
    "                - name: X",
    "                  value: {{{x}}}",
    "  - apiVersion: v1",
    "    kind: ConfigMap",
    "    metadata:",
    "      name: fixed",
    "      namespace: '{{NS}}'",
    "    data:",
    "      x: {{x}}",
  ].join("\n");

  it("makes each item an object of its own, in order, with its own lines; the List itself is not applied", () => {
    const compiled = compileManifest(list, "l.yaml");
    assert.deepEqual(
      compiled.documents.map((document) => [document.kind, document.line, document.kindLine]),
      [
        ["Job", 6, 7],
        ["ConfigMap", 18, 19],
      ],
    );
    assert.deepEqual(
      compiled.documents.map((document) => document.namePlaceholders),
      [["RANDOM"], []],
    );
    assert.deepEqual(compiled.documents[1]!.namespace, { type: "templated", line: 22 });
    const objects = renderManifest(compiled, { RANDOM: "r", x: "v", NS: "faas" });
    assert.deepEqual(
      objects.map((object) => [object.kind, object.metadata.name, object.metadata.namespace]),
      [
        ["Job", "a-r", undefined],
        ["ConfigMap", "fixed", "faas"],
      ],
    );
  });

  it("checks policy and adds tracking labels per item", () => {
    const policy: Policy = { bannedKinds: ["ConfigMap"], namespace: "faas", scope: "namespaced" };
    const compiled = compileManifest(list, "l.yaml");
    assert.deepEqual(lintPolicy(compiled, policy), ["l.yaml:19: kind ConfigMap is banned by policy"]);
    const objects = renderManifest(compiled, { RANDOM: "r", x: "v", NS: "other" });
    assert.throws(
      () => enforcePolicy(objects, policy, "l.yaml"),
      rejectsWith("BANNED_KIND", (error) => assert.match(error.message, /ConfigMap fixed/)),
    );
    assert.throws(
      () => enforcePolicy(objects, { ...policy, bannedKinds: [] }, "l.yaml"),
      rejectsWith("NAMESPACE_FORBIDDEN", (error) => assert.match(error.message, /ConfigMap fixed.*"other"/)),
    );
    const requestUid = "r-0b0c5a2e-8a1c-4f3e-9d2b-1234567890ab";
    const functionUid = `f-6f1d2c3b-4a5e-4f60-8a7b-0c9d8e7f6a5b-${requestUid}`;
    const tracked = addTracking(enforcePolicy(objects.slice(0, 1), policy, "l.yaml"), {
      requestUid,
      functionUid,
      topic: "t",
    });
    const job = tracked[0]!;
    assert.equal(job.metadata.labels?.[TRACKING.requestUid], requestUid);
    assert.equal(job.metadata.namespace, "faas");
    const template = (job.spec as { template: { metadata: { labels: Record<string, string> } } }).template;
    assert.equal(template.metadata.labels[TRACKING.requestUid], requestUid);
  });

  it("refuses a List inside a List, an item with items, items that are not a sequence, with lines", () => {
    const head = "apiVersion: v1\nkind: List\nitems:\n";
    const nested = `${head}  - apiVersion: v1\n    kind: List\n    items: []\n`;
    assert.deepEqual(lintManifest(nested, "l.yaml"), [
      { line: 4, message: "a List inside a List is not supported: move its items into this List's items" },
    ]);
    const withItems = `${head}  - apiVersion: v1\n    kind: PodList\n    metadata: {name: p}\n    items: []\n`;
    assert.match(lintManifest(withItems, "l.yaml")[0]!.message, /List inside a List/);
    assert.match(
      lintManifest("apiVersion: v1\nkind: List\nitems: {}\n", "l.yaml")[0]!.message,
      /needs `items`/,
    );
    assert.match(lintManifest(`${head}  - just text\n`, "l.yaml")[0]!.message, /item must be a mapping/);
  });
});
