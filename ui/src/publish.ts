import { ApiError, postJson } from "./api.js";
import { h } from "./dom.js";
import type { ParamSchema, PublishAnswer, TopicDescription } from "./types.js";

/** One input per declared parameter, typed as declared; empty ones are not sent (defaults apply). */
function declaredField(name: string, schema: ParamSchema): HTMLElement {
  const id = `param-${name}`;
  const hint =
    schema.default === undefined ? schema.type : `${schema.type}, default ${String(schema.default)}`;
  const input =
    schema.type === "boolean"
      ? h(
          "select",
          { id, name, "data-param": name },
          h("option", { value: "" }, "—"),
          h("option", {}, "true"),
          h("option", {}, "false"),
        )
      : h("input", {
          id,
          name,
          "data-param": name,
          type: schema.type === "string" ? "text" : "number",
          step: schema.type === "integer" ? 1 : "any",
          min: schema.minimum,
          max: schema.maximum,
          placeholder: schema.default === undefined ? "" : String(schema.default),
        });
  return h("label", { for: id, class: "field" }, h("span", {}, `${name} `, h("small", {}, hint)), input);
}

/** A topic that declares nothing takes any parameter as text: free name = value rows. */
function freeRow(): HTMLElement {
  return h(
    "div",
    { class: "free-param" },
    h("input", { "data-free-name": "", placeholder: "name", "aria-label": "parameter name" }),
    h("input", { "data-free-value": "", placeholder: "value", "aria-label": "parameter value" }),
  );
}

export function paramFields(topic: TopicDescription | undefined): HTMLElement[] {
  if (!topic) return [];
  if (topic.params) return Object.entries(topic.params).map(([name, schema]) => declaredField(name, schema));
  const rows = h("div", { class: "free-params" }, freeRow());
  const add = h(
    "button",
    { type: "button", class: "link", onclick: () => rows.append(freeRow()) },
    "add parameter",
  );
  return [
    h("div", { class: "field" }, h("span", {}, "parameters ", h("small", {}, "any, as text")), rows, add),
  ];
}

/** The query string from the form's parameter fields. */
export function queryOf(form: HTMLFormElement): string {
  const query = new URLSearchParams();
  for (const input of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>("[data-param]")) {
    if (input.value !== "") query.append(input.dataset.param ?? "", input.value);
  }
  for (const row of form.querySelectorAll(".free-param")) {
    const name = row.querySelector<HTMLInputElement>("[data-free-name]")?.value.trim() ?? "";
    if (name !== "")
      query.append(name, row.querySelector<HTMLInputElement>("[data-free-value]")?.value ?? "");
  }
  const text = query.toString();
  return text === "" ? "" : `?${text}`;
}

/** Publishes what the form holds; resolves to the new request's UID, or rejects with the API's refusal. */
export async function publish(form: HTMLFormElement): Promise<string> {
  const topic = form.querySelector<HTMLSelectElement>("#topic")?.value ?? "";
  const type = form.querySelector<HTMLSelectElement>("#content-type")?.value ?? "";
  const body = form.querySelector<HTMLTextAreaElement>("#body")?.value ?? "";
  const answer = await postJson<PublishAnswer>(
    `/publish/${encodeURIComponent(topic)}${queryOf(form)}`,
    type === "" ? undefined : body,
    type === "" ? null : type,
  );
  return answer.requestUid;
}

/** A refusal as the operator needs it: the code, the message, and each bad parameter. */
export function refusalText(error: unknown): string {
  if (!(error instanceof ApiError)) return String(error);
  const parameters = (error.details as { parameters?: { name: string; reason: string }[] } | undefined)
    ?.parameters;
  const each = parameters?.map((p) => `${p.name}: ${p.reason}`).join("; ");
  return `${error.code}: ${error.message}${each ? ` (${each})` : ""}`;
}
