import { LineCounter, isNode, parseDocument } from "yaml";
import { GitfaasError, type ErrorCode } from "../errors/index.js";
import { inspectManifest, type CompiledManifest } from "../templating/index.js";
import { compileParams, paramsCompiler, type TopicParams } from "./params.js";
import { normaliseRepoPath, readRepoFile } from "./paths.js";
import { parseSchedule, type TopicSchedule } from "./schedule.js";

/** What to publish when a function of the topic finishes (see src/pipelines). */
export interface NextSteps {
  /** Published with a function's answer as the body when it succeeds. */
  readonly onSuccess: readonly string[];
  /** Published with a report when a function fails (after its retries): dead letters. */
  readonly onFailure: readonly string[];
  /** Published once with every answer when all the functions of one request have finished. */
  readonly join: string | undefined;
}

export const NO_NEXT_STEPS: NextSteps = Object.freeze({ onSuccess: [], onFailure: [], join: undefined });

export interface Topic {
  readonly name: string;
  readonly manifests: readonly CompiledManifest[];
  // Schedules and typed parameters (pipelines: schedules, replay, idempotency, params).
  /** Declared query parameters; absent: any parameter is taken as text, as before. */
  readonly params?: TopicParams;
  readonly schedule?: TopicSchedule;
  /** Absent: none (a catalog built by hand). */
  readonly next?: NextSteps;
}

export interface Catalog {
  readonly topics: ReadonlyMap<string, Topic>;
  /** The config file, relative to the repository root and normalised. */
  readonly configPath: string;
}

export interface LintProblem {
  file: string;
  line?: number;
  message: string;
  /** Present on what does not refuse the revision but is most likely a mistake (a leftover `{{`). */
  warning?: true;
}

type Problem = LintProblem & { code: ErrorCode };

/**
 * Loads `configPath` (relative to `root`) and compiles every manifest it lists.
 * Throws the first problem as CATALOG_INVALID, PATH_ESCAPE or MANIFEST_INVALID, "<file>:<line>: <reason>".
 */
export async function loadCatalog(root: string, configPath: string): Promise<Catalog> {
  const { catalog, problems } = await inspect(root, configPath);
  const first = problems[0];
  if (first) {
    throw new GitfaasError(first.code, formatProblem(first), {
      file: first.file,
      line: first.line,
      reason: first.message,
    });
  }
  return catalog;
}

/**
 * Every problem of the catalog and its manifests, in the order the config lists them, then the warnings
 * (marked `warning: true`) in that order.
 */
export async function lintCatalog(root: string, configPath: string): Promise<LintProblem[]> {
  const { problems, warnings } = await inspect(root, configPath);
  const found = problems.map(({ file, line, message }) =>
    line === undefined ? { file, message } : { file, line, message },
  );
  return [...found, ...warnings];
}

export function formatProblem(problem: LintProblem): string {
  return problem.line === undefined
    ? `${problem.file}: ${problem.message}`
    : `${problem.file}:${problem.line}: ${problem.message}`;
}

type ManifestOutcome =
  { manifest: CompiledManifest } | { refused: { code: ErrorCode; reason: string } } | { invalid: true };

interface Inspection {
  catalog: Catalog;
  problems: Problem[];
  warnings: LintProblem[];
}

async function inspect(root: string, configPath: string): Promise<Inspection> {
  const problems: Problem[] = [];
  const warnings: LintProblem[] = [];
  const topics = new Map<string, Topic>();
  const normalised = normaliseRepoPath(configPath);
  if (!("path" in normalised)) {
    problems.push({ code: normalised.code, file: configPath, message: normalised.reason });
    return { catalog: { topics, configPath }, problems, warnings };
  }
  const file = normalised.path;
  const catalog: Catalog = { topics, configPath: file };
  const read = await readRepoFile(root, file);
  if (!("text" in read)) {
    problems.push({ code: read.code, file, message: read.reason });
    return { catalog, problems, warnings };
  }
  const text = read.text.replace(/^\uFEFF/, "");
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    problems.push({
      code: "CATALOG_INVALID",
      file,
      line: jsonErrorLine(text, message),
      message: `invalid JSON: ${message}`,
    });
    return { catalog, problems, warnings };
  }
  const lineAt = locator(text);
  const invalid = (location: readonly (string | number)[], message: string): void => {
    problems.push({ code: "CATALOG_INVALID", file, line: lineAt(location), message });
  };

  if (
    typeof config !== "object" ||
    config === null ||
    Array.isArray(config) ||
    !Array.isArray((config as { topics?: unknown }).topics)
  ) {
    invalid(["topics"], 'expected {"topics": [{"name": "...", "configs": ["path.yaml"]}]}');
    return { catalog, problems, warnings };
  }
  const manifests = new Map<string, ManifestOutcome>();
  const names = new Set<string>();
  const ajv = paramsCompiler();
  const entries = (config as { topics: unknown[] }).topics;
  for (const [index, entry] of entries.entries()) {
    const at = ["topics", index];
    let valid = true;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      invalid(at, `topics[${index}] must be an object with "name" and "configs"`);
      continue;
    }
    const { name, configs } = entry as { name?: unknown; configs?: unknown };
    const next = nextStepsOf(entry as Record<string, unknown>, at, invalid);
    if (next === undefined) valid = false;
    if (typeof name !== "string" || name === "") {
      invalid([...at, "name"], `topics[${index}].name must be a non-empty string`);
      valid = false;
    } else if (names.has(name)) {
      invalid([...at, "name"], `topic ${JSON.stringify(name)} is defined more than once`);
      valid = false;
    } else if (topicNameProblem(name) !== undefined) {
      invalid([...at, "name"], `topics[${index}].name ${topicNameProblem(name)}`);
      valid = false;
    }
    if (typeof name === "string") names.add(name);
    if (!Array.isArray(configs) || configs.length === 0) {
      invalid([...at, "configs"], `topics[${index}].configs must be a non-empty array of manifest paths`);
      continue;
    }
    const compiled: CompiledManifest[] = [];
    for (const [position, written] of configs.entries()) {
      const where = [...at, "configs", position];
      if (typeof written !== "string") {
        invalid(where, `topics[${index}].configs[${position}] must be a string`);
        valid = false;
        continue;
      }
      const outcome = await manifestAt(root, written, manifests, { problems, warnings });
      if ("manifest" in outcome) {
        compiled.push(outcome.manifest);
        continue;
      }
      valid = false;
      if ("refused" in outcome) {
        problems.push({
          code: outcome.refused.code,
          file,
          line: lineAt(where),
          message: outcome.refused.reason,
        });
      }
    }
    const extras = topicExtras(entry as Record<string, unknown>, ajv, (where, message) =>
      invalid([...at, ...where], `topics[${index}].${message}`),
    );
    if (valid && extras && typeof name === "string" && next !== undefined)
      topics.set(name, Object.freeze({ name, manifests: Object.freeze(compiled), next, ...extras }));
  }
  checkNextTopics(entries, names, invalid);
  return { catalog, problems, warnings };
}

/**
 * A topic's `"params"` and `"schedule"`, checked; undefined when either is refused (each problem
 * is reported through `invalid`, located under the topic entry).
 */
function topicExtras(
  entry: Readonly<Record<string, unknown>>,
  ajv: ReturnType<typeof paramsCompiler>,
  invalid: (where: readonly (string | number)[], message: string) => void,
): Pick<Topic, "params" | "schedule"> | undefined {
  const extras: { params?: TopicParams; schedule?: TopicSchedule } = {};
  let valid = true;
  if (entry.params !== undefined) {
    const compiled = compileParams(ajv, entry.params);
    if ("params" in compiled) extras.params = compiled.params;
    else compiled.problems.forEach(({ at, message }) => invalid(at, message));
    valid &&= "params" in compiled;
  }
  if (entry.schedule !== undefined) {
    const parsed = parseSchedule(entry.schedule);
    if ("schedule" in parsed) extras.schedule = parsed.schedule;
    else parsed.problems.forEach(({ at, message }) => invalid(at, message));
    valid &&= "schedule" in parsed;
  }
  return valid ? extras : undefined;
}

type Invalid = (location: readonly (string | number)[], message: string) => void;

/** A topic's `onSuccess`, `onFailure` and `join`, or undefined when one is malformed (reported). */
function nextStepsOf(
  entry: Record<string, unknown>,
  at: readonly (string | number)[],
  invalid: Invalid,
): NextSteps | undefined {
  const lists: Record<"onSuccess" | "onFailure", string[]> = { onSuccess: [], onFailure: [] };
  let valid = true;
  for (const field of ["onSuccess", "onFailure"] as const) {
    const value = entry[field];
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((item) => typeof item === "string" && item !== "")) {
      invalid([...at, field], `${field} must be an array of topic names`);
      valid = false;
      continue;
    }
    lists[field] = [...new Set(value as string[])];
  }
  const join = entry.join;
  if (join !== undefined && (typeof join !== "string" || join === "")) {
    invalid([...at, "join"], "join must be a topic name");
    valid = false;
  }
  if (!valid) return undefined;
  return Object.freeze({
    onSuccess: Object.freeze(lists.onSuccess),
    onFailure: Object.freeze(lists.onFailure),
    join: join as string | undefined,
  });
}

/** Next steps naming a topic the config does not define refuse the revision, each at its line. */
function checkNextTopics(entries: readonly unknown[], names: ReadonlySet<string>, invalid: Invalid): void {
  for (const [index, entry] of entries.entries()) {
    if (typeof entry !== "object" || entry === null) continue;
    const { onSuccess, onFailure, join } = entry as Record<string, unknown>;
    const named: [readonly (string | number)[], unknown][] = [
      ...(["onSuccess", "onFailure"] as const).flatMap((field) => {
        const list = field === "onSuccess" ? onSuccess : onFailure;
        return Array.isArray(list)
          ? list.map((item, i): [(string | number)[], unknown] => [[field, i], item])
          : [];
      }),
      [["join"], join],
    ];
    for (const [where, topic] of named) {
      if (typeof topic === "string" && topic !== "" && !names.has(topic))
        invalid(
          ["topics", index, ...where],
          `${where[0]} names topic ${JSON.stringify(topic)}, which config.json does not define`,
        );
    }
  }
}

/** Reads and compiles a manifest once, however many topics list it; its own problems are reported once. */
async function manifestAt(
  root: string,
  written: string,
  cache: Map<string, ManifestOutcome>,
  found: Pick<Inspection, "problems" | "warnings">,
): Promise<ManifestOutcome> {
  const normalised = normaliseRepoPath(written);
  if (!("path" in normalised)) return { refused: { code: normalised.code, reason: normalised.reason } };
  const cached = cache.get(normalised.path);
  if (cached) return cached;
  const read = await readRepoFile(root, normalised.path);
  let outcome: ManifestOutcome;
  if (!("text" in read)) {
    outcome = { refused: { code: read.code, reason: read.reason } };
  } else {
    const inspected = inspectManifest(read.text, normalised.path);
    for (const { line, message } of inspected.warnings) {
      found.warnings.push({ file: normalised.path, line, message, warning: true });
    }
    if ("problems" in inspected) {
      for (const { line, message } of inspected.problems) {
        found.problems.push({ code: "MANIFEST_INVALID", file: normalised.path, line, message });
      }
      outcome = { invalid: true };
    } else {
      outcome = { manifest: inspected.manifest };
    }
  }
  cache.set(normalised.path, outcome);
  return outcome;
}

/** The line of the value at `location` in the config, or of its nearest ancestor that exists. */
function locator(text: string): (location: readonly (string | number)[]) => number {
  const lines = new LineCounter();
  // JSON is YAML 1.2; parsing it again as YAML is only to learn where each value sits.
  const document = parseDocument(text, { lineCounter: lines, uniqueKeys: false });
  return (location) => {
    for (let length = location.length; length >= 0; length--) {
      const node: unknown =
        length === 0 ? document.contents : document.getIn(location.slice(0, length), true);
      if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
    }
    return 1;
  };
}

/** Longest topic name: a DNS subdomain's length, so that a topic can name Kubernetes objects. */
export const MAX_TOPIC_NAME_LENGTH = 253;

/** Why a topic name cannot be published to as `POST /publish/<name>`, or undefined when it can. */
export function topicNameProblem(name: string): string | undefined {
  if (name.length > MAX_TOPIC_NAME_LENGTH)
    return `is ${name.length} characters long; at most ${MAX_TOPIC_NAME_LENGTH} are allowed`;
  // A slash cannot stand in one path segment; control characters cannot stand in a URL.
  const unroutable = [...name].some((char) => char === "/" || char.charCodeAt(0) < 0x20 || char === "\u007f");
  if (unroutable) return "may not hold a slash or control characters";
  return undefined;
}

/** V8 names a character offset ("at position 42"), sometimes the line too; messages want the line. */
function jsonErrorLine(text: string, message: string): number {
  const explicit = /\(line (\d+) column \d+\)/.exec(message);
  if (explicit?.[1]) return Number(explicit[1]);
  const position = /at position (\d+)/.exec(message);
  const offset = position?.[1] ? Number(position[1]) : text.trimEnd().length;
  return text.slice(0, offset).split("\n").length;
}
