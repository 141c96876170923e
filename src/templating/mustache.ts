/**
 * The Python gitfaas rendered manifests with Mustache (chevron). Repositories written for it are read
 * here before parsing: the forms that only ever produced a value are brought to `{{name}}`, comments
 * vanish, and the forms that would change a manifest's text beyond one value are refused with what to
 * write instead, rather than passed through as literal braces.
 */

export interface MustacheProblem {
  readonly line: number;
  readonly message: string;
}

export interface NormalisedSource {
  /** The source with comments removed and `{{{x}}}` / `{{& x}}` written as `{{x}}`. */
  readonly text: string;
  /** The source's line for a line of `text`: comments standing on lines of their own remove those lines. */
  readonly originalLine: (textLine: number) => number;
  readonly problems: readonly MustacheProblem[];
}

/**
 * A comment (may span lines), a triple-brace tag, or a double-brace tag with its optional sigil. Blanks may
 * come before a sigil: `{{ #x }}` is taken for the section it most likely is, not for a name.
 */
const TAG =
  /\{\{[ \t]*!([\s\S]*?)\}\}|\{\{\{[ \t]*([^{}\n]*?)[ \t]*\}\}\}|\{\{[ \t]*([#^/>=&])?[ \t]*([^{}\n]*?)[ \t]*\}\}/g;

/** What gitfaas fills: one name, as in the placeholder pattern the compiler uses. */
const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const DOTTED = /^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+$/;

const SECTION =
  "gitfaas renders values, never the shape of a manifest: write the text unconditionally, or put each variant in its own manifest (listed under its own topic in config.json)";

function refusal(sigil: string, content: string): string | undefined {
  const tag = `{{${sigil}${content}}}`;
  switch (sigil) {
    case "#":
    case "^":
      return `Mustache section ${tag} is not supported: ${SECTION}`;
    case "/":
      return `Mustache section end ${tag} is not supported: ${SECTION}`;
    case ">":
      return `Mustache partial ${tag} is not supported: list that manifest in the topic's configs in config.json, or copy its text here`;
    case "=":
      return `changing Mustache delimiters (${tag}) is not supported: write placeholders as {{name}}`;
    default:
      return undefined;
  }
}

function nameRefusal(name: string): string | undefined {
  if (DOTTED.test(name)) {
    return `dotted name {{${name}}} is not supported (query parameters have no fields): write {{${name.replaceAll(".", "_")}}} and pass ${name.replaceAll(".", "_")}=… instead`;
  }
  if (name === ".") return "{{.}} (the current item of a section) is not supported: name the value, {{name}}";
  return undefined;
}

/** True when `text` from `start` to `end` holds only blanks on its line(s) outside [start, end). */
function standsAlone(source: string, start: number, end: number): boolean {
  const lineStart = source.lastIndexOf("\n", start - 1) + 1;
  const lineEndAt = source.indexOf("\n", end);
  const lineEnd = lineEndAt === -1 ? source.length : lineEndAt;
  return /^[ \t]*$/.test(source.slice(lineStart, start)) && /^[ \t\r]*$/.test(source.slice(end, lineEnd));
}

function newlinesIn(text: string, from: number, to: number): number {
  let count = 0;
  for (let at = text.indexOf("\n", from); at !== -1 && at < to; at = text.indexOf("\n", at + 1)) count++;
  return count;
}

/** Builds the normalised text, keeping track of which source line each of its lines comes from. */
class Output {
  text = "";
  private readonly lines = [0, 1];
  private sourceLine = 1;

  copy(chunk: string): void {
    this.text += chunk;
    for (let at = chunk.indexOf("\n"); at !== -1; at = chunk.indexOf("\n", at + 1)) {
      this.lines.push(++this.sourceLine);
    }
  }

  /** Drops source text; when `wholeLines`, the output's current line starts after it. */
  skip(chunk: string, wholeLines: boolean): void {
    this.sourceLine += chunk.split("\n").length - 1;
    if (wholeLines) this.lines[this.lines.length - 1] = this.sourceLine;
  }

  originalLine(): (textLine: number) => number {
    const lines = this.lines;
    return (textLine) => lines[textLine] ?? lines.at(-1) ?? 1;
  }
}

/** Reads the original's Mustache forms; see the module comment. Problems carry the source's lines. */
export function normaliseMustache(source: string): NormalisedSource {
  const out = new Output();
  const problems: MustacheProblem[] = [];
  let last = 0;
  let line = 1;
  let counted = 0;
  for (const match of source.matchAll(TAG)) {
    const start = match.index;
    let end = start + match[0].length;
    // Counted on from the previous tag: counting from the start each time is quadratic in a large manifest.
    line += newlinesIn(source, counted, start);
    counted = start;
    const [whole, comment, triple, sigil = "", content = ""] = match;
    if (comment !== undefined) {
      // Mustache drops a comment standing on lines of its own with those lines (a block scalar keeps no blank).
      const alone = standsAlone(source, start, end);
      const from = alone ? source.lastIndexOf("\n", start - 1) + 1 : start;
      if (alone) end = source.indexOf("\n", end) === -1 ? source.length : source.indexOf("\n", end) + 1;
      out.copy(source.slice(last, from));
      out.skip(source.slice(from, end), alone);
      last = end;
      continue;
    }
    out.copy(source.slice(last, start));
    last = end;
    const name = triple ?? content;
    const refused = triple === undefined && sigil !== "&" ? refusal(sigil, content) : undefined;
    const problem = refused ?? nameRefusal(name);
    if (problem !== undefined) problems.push({ line, message: problem });
    // A known form becomes {{name}}; a refused one goes (its problem says enough; left, it would be YAML
    // noise); anything else (`{{ a b }}`) stays as written, for the leftover warning.
    if (problem !== undefined) continue;
    out.copy(NAME.test(name) ? `{{${name}}}` : whole);
  }
  out.copy(source.slice(last));
  return { text: out.text, originalLine: out.originalLine(), problems };
}
