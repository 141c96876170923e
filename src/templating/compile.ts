import { randomBytes } from "node:crypto";
import {
  LineCounter,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parseAllDocuments,
  type Document,
  type Node as YamlNode,
  type Pair,
  type YAMLMap,
} from "yaml";
import { GitfaasError } from "../errors/index.js";
import type { KubeObject } from "./kube.js";
import { normaliseMustache } from "./mustache.js";
import { naturalScalar } from "./natural.js";

/**
 * `{{NAME}}`, with optional blanks inside the braces (the original's other forms are brought to this one by
 * normaliseMustache). Never spans lines, so line numbers survive substitution.
 */
const PLACEHOLDER = /\{\{[ \t]*([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\}\}/g;

const STRING_TAG = "tag:yaml.org,2002:str";

/** Beyond this many nodes (counting alias expansions) a manifest is refused: it guards against alias bombs. */
const MAX_NODES = 100_000;

/** A piece of a string scalar: literal text, or the value of a placeholder. */
export type TextPart = string | { readonly name: string };

/**
 * A manifest document ready to render. Values only ever fill `bare` and `text` leaves; the shape (keys,
 * items, documents) is fixed at compile time.
 */
export type TemplateNode =
  | { readonly type: "literal"; readonly value: string | number | boolean | null }
  | { readonly type: "bare"; readonly name: string }
  | { readonly type: "text"; readonly parts: readonly TextPart[] }
  | { readonly type: "map"; readonly entries: readonly (readonly [string, TemplateNode])[] }
  | { readonly type: "seq"; readonly items: readonly TemplateNode[] };

/** Where a document's `metadata.namespace` comes from, for policy checks before any value is known. */
export type NamespaceSource =
  | { readonly type: "absent" }
  | { readonly type: "literal"; readonly value: string; readonly line: number }
  | { readonly type: "templated"; readonly line: number };

export interface CompiledDocument {
  readonly line: number;
  readonly apiVersion: string;
  readonly kind: string;
  readonly kindLine: number;
  readonly namespace: NamespaceSource;
  /** The placeholders `metadata.name` is rendered from (none for a literal name or a generateName). */
  readonly namePlaceholders: readonly string[];
  readonly root: TemplateNode;
}

export interface CompiledManifest {
  readonly path: string;
  readonly placeholders: ReadonlySet<string>;
  readonly documents: readonly CompiledDocument[];
}

export interface ManifestProblem {
  readonly line: number;
  readonly message: string;
}

/** Compiles a manifest, or throws its first problem as MANIFEST_INVALID "<path>:<line>: <reason>". */
export function compileManifest(source: string, path: string): CompiledManifest {
  const inspected = inspectManifest(source, path);
  if ("manifest" in inspected) return inspected.manifest;
  const [first] = inspected.problems;
  throw new GitfaasError("MANIFEST_INVALID", `${path}:${first.line}: ${first.message}`, {
    path,
    line: first.line,
    reason: first.message,
  });
}

/** Every problem of a manifest (empty when it compiles), for `gitfaas lint`. */
export function lintManifest(source: string, path: string): ManifestProblem[] {
  return compile(source, path).problems;
}

/**
 * The manifest compiled, or its problems; with the warnings either way: text that is left as written but
 * looks like a placeholder that was meant to be filled (a leftover `{{`).
 */
export function inspectManifest(
  source: string,
  path: string,
):
  | { manifest: CompiledManifest; warnings: ManifestProblem[] }
  | { problems: [ManifestProblem, ...ManifestProblem[]]; warnings: ManifestProblem[] } {
  const { manifest, problems, warnings } = compile(source, path);
  const [first, ...rest] = problems;
  return first ? { problems: [first, ...rest], warnings } : { manifest, warnings };
}

/** The sorted names the manifest uses that `values` does not provide. */
export function missingValues(
  manifest: CompiledManifest,
  values: Readonly<Record<string, string>>,
): string[] {
  return [...manifest.placeholders].filter((name) => valueOf(values, name) === undefined).sort();
}

/**
 * Renders every document; fails whole, naming every missing value, rather than render a gap. Values
 * named in `textNames` (parameters a topic declares as strings) stay text in a bare placeholder.
 */
export function renderManifest(
  manifest: CompiledManifest,
  values: Readonly<Record<string, string>>,
  textNames: ReadonlySet<string> = new Set(),
): KubeObject[] {
  const missing = missingValues(manifest, values);
  if (missing.length > 0) {
    throw new GitfaasError(
      "TEMPLATE_MISSING_VALUE",
      `${manifest.path}: no value for ${missing.map((name) => `{{${name}}}`).join(", ")}`,
      { path: manifest.path, missing },
    );
  }
  // The compiler proved each root is a map with string apiVersion and kind and a metadata map.
  return manifest.documents.map((document) => renderNode(document.root, values, textNames) as KubeObject);
}

function valueOf(values: Readonly<Record<string, string>>, name: string): string | undefined {
  // Own properties only: a name like `constructor` must not find Object.prototype's.
  if (!Object.hasOwn(values, name)) return undefined;
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

function renderNode(
  node: TemplateNode,
  values: Readonly<Record<string, string>>,
  textNames: ReadonlySet<string>,
): unknown {
  switch (node.type) {
    case "literal":
      return node.value;
    case "bare": {
      const value = valueOf(values, node.name) ?? "";
      return textNames.has(node.name) ? value : naturalScalar(value);
    }
    case "text":
      return node.parts
        .map((part) => (typeof part === "string" ? part : (valueOf(values, part.name) ?? "")))
        .join("");
    case "seq":
      return node.items.map((item) => renderNode(item, values, textNames));
    case "map": {
      const object: Record<string, unknown> = {};
      for (const [key, value] of node.entries) {
        // defineProperty, not assignment: a `__proto__` key must stay data, not replace the prototype.
        Object.defineProperty(object, key, {
          value: renderNode(value, values, textNames),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
  }
}

/**
 * Placeholders are swapped for sentinels before parsing because `{{x}}` unquoted is a YAML flow mapping.
 * A sentinel is one alphanumeric word, so it parses as (part of) a scalar wherever a placeholder can sit,
 * and its nonce is checked absent from the source so no literal text can pass for one.
 */
class Sentinels {
  private readonly names: string[] = [];
  /** Non-global on purpose: a global RegExp carries lastIndex from one call into the next. */
  private readonly pattern: RegExp;
  readonly text: string;

  constructor(source: string) {
    let prefix: string;
    do prefix = `GFPH${randomBytes(6).toString("hex")}N`;
    while (source.includes(prefix));
    this.pattern = new RegExp(`${prefix}(\\d+)X`);
    this.text = source.replace(PLACEHOLDER, (_token, name: string) => {
      this.names.push(name);
      return `${prefix}${this.names.length - 1}X`;
    });
  }

  has(text: string): boolean {
    return this.pattern.test(text);
  }

  /** `text` cut at the sentinels, each replaced by the name it stands for. */
  split(text: string): TextPart[] {
    const parts: TextPart[] = [];
    let last = 0;
    for (const match of text.matchAll(this.everywhere())) {
      if (match.index > last) parts.push(text.slice(last, match.index));
      parts.push({ name: this.nameAt(match[1]) });
      last = match.index + match[0].length;
    }
    if (last < text.length) parts.push(text.slice(last));
    return parts;
  }

  /** Puts the original `{{NAME}}` back, so messages show what the author wrote. */
  restore(text: string): string {
    return text.replace(this.everywhere(), (_sentinel, index: string) => `{{${this.nameAt(index)}}}`);
  }

  private everywhere(): RegExp {
    return new RegExp(this.pattern.source, "g");
  }

  private nameAt(index: string | undefined): string {
    const name = this.names[Number(index)];
    if (name === undefined) throw new GitfaasError("INTERNAL", "sentinel without a placeholder");
    return name;
  }
}

class Compiler {
  readonly problems: ManifestProblem[] = [];
  readonly warnings: ManifestProblem[] = [];
  readonly used = new Set<string>();
  private nodes = 0;

  constructor(
    private readonly sentinels: Sentinels,
    /** The line of the manifest as written for an offset in the text parsed. */
    private readonly lineAt: (offset: number) => number,
    private readonly document: Document,
  ) {}

  lineOf(node: { range?: readonly number[] | null | undefined } | null | undefined): number {
    const offset = node?.range?.[0];
    return offset === undefined ? 1 : this.lineAt(offset);
  }

  hasPlaceholder(text: string): boolean {
    return this.sentinels.has(text);
  }

  problem(line: number, message: string): void {
    this.problems.push({ line, message: this.sentinels.restore(message) });
  }

  /** Text left as written that looks like a placeholder: the author most likely meant it to be filled. */
  private leftover(line: number, literal: string): void {
    const at = literal.indexOf("{{");
    if (at === -1) return;
    const close = literal.indexOf("}}", at);
    const shown = literal.slice(at, close === -1 ? at + 24 : close + 2);
    this.warnings.push({
      line,
      message: `${JSON.stringify(shown)} is not a placeholder gitfaas fills (those are {{name}}: letters, digits, _ and -) and stays in the value as written`,
    });
  }

  /** `path` is the chain of keys from the root (`[]` for a sequence item); it decides which values must stay strings. */
  node(node: unknown, path: readonly string[], ancestors: ReadonlySet<unknown>): TemplateNode {
    if (++this.nodes === MAX_NODES + 1) {
      this.problem(this.lineOf(node as YamlNode), `more than ${MAX_NODES} nodes once aliases are expanded`);
    }
    if (this.nodes > MAX_NODES) return { type: "literal", value: null };
    if (node === null || node === undefined) return { type: "literal", value: null };
    if (isAlias(node)) {
      const target = node.resolve(this.document);
      if (!target) {
        this.problem(this.lineOf(node), `alias *${node.source} refers to no anchor`);
        return { type: "literal", value: null };
      }
      if (ancestors.has(target)) {
        this.problem(this.lineOf(node), `alias *${node.source} refers to a node that contains it`);
        return { type: "literal", value: null };
      }
      return this.node(target, path, ancestors);
    }
    if (!isScalar(node) && !isMap(node) && !isSeq(node)) {
      this.problem(this.lineOf(node as YamlNode), "unsupported YAML node");
      return { type: "literal", value: null };
    }
    const line = this.lineOf(node);
    if (node.anchor !== undefined && this.sentinels.has(node.anchor)) {
      this.problem(line, "a placeholder cannot name an anchor");
    }
    if (node.tag !== undefined && this.sentinels.has(node.tag)) {
      this.problem(line, "a placeholder cannot be part of a tag");
    }
    const inner = new Set(ancestors).add(node);
    if (isMap(node)) return this.map(node, path, inner);
    if (isSeq(node)) {
      return {
        type: "seq",
        items: node.items.map((item) =>
          isPair(item) ? this.pairs([item], [...path, "[]"], inner) : this.node(item, [...path, "[]"], inner),
        ),
      };
    }
    const value: unknown = node.value;
    if (typeof value !== "string") {
      if (typeof value === "number" || typeof value === "boolean" || value === null)
        return { type: "literal", value };
      this.problem(line, `unsupported scalar of type ${typeof value}`);
      return { type: "literal", value: null };
    }
    if (!this.sentinels.has(value)) {
      this.leftover(line, value);
      return { type: "literal", value };
    }
    if (node.tag !== undefined && node.tag !== STRING_TAG) {
      this.problem(line, `a scalar with a placeholder cannot carry the tag ${node.tag}`);
    }
    const parts = this.sentinels.split(value);
    for (const part of parts) {
      if (typeof part === "string") this.leftover(line, part);
      else this.used.add(part.name);
    }
    const [only] = parts;
    if (
      parts.length === 1 &&
      typeof only === "object" &&
      node.type === "PLAIN" &&
      node.tag === undefined &&
      !mustBeString(path)
    ) {
      return { type: "bare", name: only.name };
    }
    return { type: "text", parts };
  }

  private map(node: YAMLMap, path: readonly string[], ancestors: ReadonlySet<unknown>): TemplateNode {
    return this.pairs(node.items, path, ancestors);
  }

  private pairs(
    pairs: readonly Pair[],
    path: readonly string[],
    ancestors: ReadonlySet<unknown>,
  ): TemplateNode {
    const entries: [string, TemplateNode][] = [];
    const seen = new Set<string>();
    for (const pair of pairs) {
      const key = this.key(pair);
      if (key === undefined) continue;
      if (seen.has(key))
        this.problem(this.lineOf(pair.key as YamlNode), `duplicate key ${JSON.stringify(key)}`);
      seen.add(key);
      entries.push([key, this.node(pair.value, [...path, key], ancestors)]);
    }
    return { type: "map", entries };
  }

  /** Keys stay literal so that what a manifest can set is fixed by its author, never by a caller. */
  private key(pair: Pair): string | undefined {
    const key = pair.key;
    const line =
      isScalar(key) || isMap(key) || isSeq(key) || isAlias(key)
        ? this.lineOf(key)
        : this.lineOf(pair.value as YamlNode);
    if (!isScalar(key)) {
      this.problem(line, "keys must be plain scalars");
      return undefined;
    }
    if (key.anchor !== undefined || key.tag !== undefined) {
      this.problem(line, "keys cannot carry anchors or tags");
      return undefined;
    }
    const value: unknown = key.value;
    if (typeof value === "string") {
      if (this.sentinels.has(value)) {
        this.problem(line, `a placeholder cannot be part of a key (${value})`);
        return undefined;
      }
      return value;
    }
    if (typeof value === "number" || typeof value === "boolean") return key.source ?? String(value);
    this.problem(line, "empty key");
    return undefined;
  }
}

/** Values Kubernetes only accepts as strings render as strings even when placed bare. */
function mustBeString(path: readonly string[]): boolean {
  const last = path.at(-1);
  const second = path.at(-2);
  const third = path.at(-3);
  if (second === "metadata" && (last === "name" || last === "generateName" || last === "namespace"))
    return true;
  if (third === "metadata" && (second === "labels" || second === "annotations")) return true;
  return third === "env" && second === "[]" && last === "value";
}

interface Compiled {
  manifest: CompiledManifest;
  problems: ManifestProblem[];
  warnings: ManifestProblem[];
}

function compile(source: string, path: string): Compiled {
  const mustache = normaliseMustache(source);
  const sentinels = new Sentinels(mustache.text);
  const lines = new LineCounter();
  const parsed = parseAllDocuments(sentinels.text, {
    lineCounter: lines,
    prettyErrors: true,
    uniqueKeys: true,
    strict: true,
    merge: false,
    version: "1.2",
  });
  const lineAt = (offset: number): number => mustache.originalLine(lines.linePos(offset).line);
  const documents: CompiledDocument[] = [];
  const problems: ManifestProblem[] = [...mustache.problems];
  const warnings: ManifestProblem[] = [];
  const used = new Set<string>();
  for (const document of Array.isArray(parsed) ? parsed : []) {
    const compiler = new Compiler(sentinels, lineAt, document);
    for (const issue of [...document.errors, ...document.warnings]) {
      // yaml appends " at line N, column M:" and a code frame; the line is reported separately.
      const reason = issue.message.split("\n")[0]?.replace(/ at line \d+, column \d+:?$/, "") ?? issue.code;
      compiler.problem(mustache.originalLine(issue.linePos?.[0].line ?? 1), reason);
    }
    if (document.errors.length > 0 || document.warnings.length > 0) {
      problems.push(...compiler.problems);
      continue;
    }
    documents.push(...compileDocument(compiler, document));
    problems.push(...compiler.problems);
    warnings.push(...compiler.warnings);
    for (const name of compiler.used) used.add(name);
  }
  if (documents.length === 0 && problems.length === 0) {
    problems.push({ line: 1, message: "no Kubernetes object in this manifest" });
  }
  problems.sort((a, b) => a.line - b.line);
  return { manifest: { path, placeholders: used, documents }, problems, warnings };
}

/** The objects of one YAML document: itself, or the items of a `kind: List` (as kubectl applies them). */
function compileDocument(compiler: Compiler, document: Document): CompiledDocument[] {
  const contents = document.contents;
  // A bare `---` (or one at the end of a file) is an empty document, not an object.
  if (contents === null || (isScalar(contents) && contents.value === null && contents.source === ""))
    return [];
  const line = compiler.lineOf(contents);
  if (!isMap(contents)) {
    compiler.problem(line, "a document must be a mapping (a Kubernetes object)");
    return [];
  }
  if (!isListKind(contents.get("kind", true))) {
    const compiled = compileObject(compiler, contents);
    return compiled ? [compiled] : [];
  }
  literalString(compiler, contents, "apiVersion", line);
  const items = contents.get("items", true);
  if (!isSeq(items)) {
    compiler.problem(
      items ? compiler.lineOf(items as YamlNode) : line,
      "a List needs `items`, a sequence of objects",
    );
    return [];
  }
  // Only the items are rendered and applied; the List's own fields (metadata) are dropped, as kubectl does.
  return items.items.flatMap((item) => {
    if (!isMap(item)) {
      compiler.problem(
        compiler.lineOf(item as YamlNode),
        "a List item must be a mapping (a Kubernetes object)",
      );
      return [];
    }
    if (isListKind(item.get("kind", true)) || item.has("items")) {
      compiler.problem(
        compiler.lineOf(item),
        "a List inside a List is not supported: move its items into this List's items",
      );
      return [];
    }
    const compiled = compileObject(compiler, item);
    return compiled ? [compiled] : [];
  });
}

function isListKind(node: unknown): boolean {
  return isScalar(node) && node.value === "List";
}

/** One Kubernetes object: a document, or an item of a List. */
function compileObject(compiler: Compiler, contents: YAMLMap): CompiledDocument | undefined {
  const line = compiler.lineOf(contents);
  const root = compiler.node(contents, [], new Set());
  const apiVersion = literalString(compiler, contents, "apiVersion", line);
  const kind = literalString(compiler, contents, "kind", line);
  const metadata = contents.get("metadata", true);
  let namespace: NamespaceSource = { type: "absent" };
  if (!isMap(metadata)) {
    compiler.problem(metadata ? compiler.lineOf(metadata) : line, "metadata must be a mapping");
  } else {
    if (!metadata.has("name") && !metadata.has("generateName")) {
      compiler.problem(compiler.lineOf(metadata), "metadata needs a name or a generateName");
    }
    for (const key of ["labels", "annotations"]) {
      const node = metadata.get(key, true);
      if (node !== undefined && !isMap(node))
        compiler.problem(compiler.lineOf(node), `metadata.${key} must be a mapping`);
    }
    namespace = namespaceSource(compiler, metadata.get("namespace", true));
  }
  if (contents.has("items")) {
    // Kubernetes decodes any object with top-level `items` as a list, whose members would escape policy.
    compiler.problem(
      compiler.lineOf(contents.get("items", true) as YamlNode),
      "top-level `items` is only supported in a `kind: List`; write `kind: List`, or each object as its own document",
    );
  }
  if (apiVersion === undefined || kind === undefined) return undefined;
  return {
    line,
    apiVersion: apiVersion.value,
    kind: kind.value,
    kindLine: kind.line,
    namespace,
    namePlaceholders: placeholdersOf(entryOf(entryOf(root, "metadata"), "name")),
    root,
  };
}

function entryOf(node: TemplateNode | undefined, key: string): TemplateNode | undefined {
  return node?.type === "map" ? node.entries.find(([name]) => name === key)?.[1] : undefined;
}

function placeholdersOf(node: TemplateNode | undefined): string[] {
  if (node?.type === "bare") return [node.name];
  if (node?.type === "text")
    return node.parts.flatMap((part) => (typeof part === "string" ? [] : [part.name]));
  return [];
}

/** `apiVersion` and `kind` must be written out: policy decides on them before any value is known. */
function literalString(
  compiler: Compiler,
  map: YAMLMap,
  key: string,
  documentLine: number,
): { value: string; line: number } | undefined {
  const node = map.get(key, true);
  if (node === undefined) {
    compiler.problem(documentLine, `${key} is missing`);
    return undefined;
  }
  const line = compiler.lineOf(node);
  if (!isScalar(node) || typeof node.value !== "string" || node.value === "") {
    compiler.problem(line, `${key} must be a non-empty string`);
    return undefined;
  }
  if (compiler.hasPlaceholder(node.value)) {
    compiler.problem(line, `${key} cannot contain a placeholder (${node.value})`);
    return undefined;
  }
  return { value: node.value, line };
}

function namespaceSource(compiler: Compiler, node: unknown): NamespaceSource {
  if (node === undefined) return { type: "absent" };
  const line = compiler.lineOf(node as YamlNode);
  if (!isScalar(node) || typeof node.value !== "string") {
    compiler.problem(line, "metadata.namespace must be a string");
    return { type: "absent" };
  }
  if (compiler.hasPlaceholder(node.value)) return { type: "templated", line };
  return { type: "literal", value: node.value, line };
}
