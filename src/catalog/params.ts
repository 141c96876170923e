import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { GitfaasError } from "../errors/index.js";

/**
 * A topic's declared query parameters (`"params"` in config.json), each a JSON Schema for one value.
 * Compiled once per revision, when the catalog loads.
 */
export interface TopicParams {
  /** The declarations as written (JSON Schemas of scalars): what a caller may send, for forms and docs. */
  readonly declared: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Declared names whose values stay text in a bare placeholder (`"type": "string"`: `"007"` is not 7). */
  readonly textNames: ReadonlySet<string>;
  /**
   * The values to render with: checked against the declarations, defaults filled in, numbers written
   * as JSON writes them. Throws PARAMETER_INVALID naming every bad parameter and why.
   */
  check(topic: string, values: Readonly<Record<string, string>>): Record<string, string>;
}

/** Query values are scalars: a declaration must say which kind it takes. */
const SCALAR_TYPES: ReadonlySet<string> = new Set(["string", "integer", "number", "boolean"]);

/** As a placeholder's name (see templating): a declared parameter must be one a manifest can use. */
const PARAM_NAME = /^[A-Za-z0-9_-]+$/;

export interface ParamProblem {
  /** The declaration's location under the topic entry. */
  readonly at: readonly (string | number)[];
  readonly message: string;
}

/** One compiler per revision: strict, so that a misspelt keyword (`"mnimum"`) refuses the commit. */
export function paramsCompiler(): Ajv {
  // Query values arrive as text: coercion turns "2" into 2 for "integer", and useDefaults fills gaps.
  return new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: true });
}

/** Checks and compiles `"params"`; problems are located under `params.<name>`. */
export function compileParams(
  ajv: Ajv,
  declared: unknown,
): { params: TopicParams } | { problems: ParamProblem[] } {
  if (typeof declared !== "object" || declared === null || Array.isArray(declared))
    return { problems: [{ at: ["params"], message: 'params must be an object: {"name": {"type": …}}' }] };
  const problems: ParamProblem[] = [];
  const textNames = new Set<string>();
  for (const [name, schema] of Object.entries(declared)) {
    const problem = declarationProblem(ajv, name, schema);
    if (problem) problems.push({ at: ["params", name], message: `params.${name}: ${problem}` });
    else if ((schema as { type: string }).type === "string") textNames.add(name);
  }
  if (problems.length > 0) return { problems };
  const validate = ajv.compile({ type: "object", properties: declared, additionalProperties: false });
  // A copy: Ajv's useDefaults must not see (or change) what is shown to callers.
  const shown = structuredClone(declared) as TopicParams["declared"];
  return {
    params: { declared: shown, textNames, check: (topic, values) => checked(validate, topic, values) },
  };
}

function declarationProblem(ajv: Ajv, name: string, schema: unknown): string | undefined {
  if (!PARAM_NAME.test(name)) return "a parameter name is letters, digits, _ and -";
  if (typeof schema !== "object" || schema === null || Array.isArray(schema))
    return "must be a JSON Schema object";
  const type = (schema as { type?: unknown }).type;
  if (typeof type !== "string" || !SCALAR_TYPES.has(type))
    return `"type" must be one of ${[...SCALAR_TYPES].join(", ")} (a query value is one scalar)`;
  let validate: ValidateFunction;
  try {
    // As a property, where it will stand: strict mode refuses a default at a schema's root.
    validate = ajv.compile({ type: "object", properties: { [name]: schema } });
  } catch (error) {
    return `not a valid JSON Schema: ${(error as Error).message}`;
  }
  // Ajv fills defaults without checking them: a default outside its own schema would pass unseen.
  if (Object.hasOwn(schema, "default") && !validate({ [name]: (schema as { default: unknown }).default }))
    return `the default does not match: ${ajv.errorsText(validate.errors, { dataVar: "params" })}`;
  return undefined;
}

function checked(
  validate: ValidateFunction,
  topic: string,
  values: Readonly<Record<string, string>>,
): Record<string, string> {
  const data: Record<string, unknown> = { ...values };
  if (!validate(data)) {
    const parameters = (validate.errors ?? []).map(describe);
    throw new GitfaasError(
      "PARAMETER_INVALID",
      `topic '${topic}': ${parameters.map(({ name, reason }) => `${name} ${reason}`).join("; ")}`,
      { parameters },
    );
  }
  return Object.fromEntries(Object.entries(data).map(([name, value]) => [name, textOf(value)]));
}

function describe(error: ErrorObject): { name: string; reason: string } {
  if (error.keyword === "additionalProperties") {
    const name = String((error.params as { additionalProperty: string }).additionalProperty);
    return { name, reason: "is not declared by the topic" };
  }
  return { name: error.instancePath.replace(/^\//, ""), reason: error.message ?? error.keyword };
}

/** After coercion: numbers and booleans as JSON writes them, so that a bare placeholder takes their type. */
function textOf(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}
