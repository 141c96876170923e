import { ApiError, getJson } from "./api.js";
import { h, shortUid, time } from "./dom.js";
import type { StatusAnswer, TopicDescription, TopicsAnswer } from "./types.js";

/**
 * The served revision and sync state. `GET /status` (with the last refused commit and its reason) needs
 * the admin scope; other tokens are shown what the public `GET /readyz` says: ready or not, and why.
 */
export async function serviceView(scopes: TopicsAnswer["scopes"]): Promise<HTMLElement> {
  if (scopes.includes("admin")) {
    const status = await getJson<StatusAnswer>("/status");
    const error = status.lastError;
    return h(
      "div",
      { "data-service": error ? "refused" : "synced" },
      h(
        "span",
        { class: "revision", title: status.revision ?? "" },
        `revision ${shortUid(status.revision ?? "none")}`,
      ),
      h("span", { class: "muted" }, ` synced ${time(status.lastSyncAt)}`),
      error
        ? h(
            "div",
            { class: "error", "data-last-error": "" },
            `${error.code}: ${error.message} (commit ${shortUid(error.revision ?? "?")}, ${time(error.at)})`,
          )
        : null,
    );
  }
  try {
    const ready = await getJson<{ revision: string }>("/readyz");
    return h(
      "div",
      { "data-service": "ready" },
      h("span", { class: "revision" }, `ready · revision ${shortUid(ready.revision)}`),
    );
  } catch (error) {
    const text = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
    return h("div", { "data-service": "not-ready", class: "error" }, `not ready · ${text}`);
  }
}

function paramsText(topic: TopicDescription): string {
  if (!topic.params) return "any (as text)";
  const names = Object.entries(topic.params).map(([name, schema]) => `${name}: ${schema.type}`);
  return names.length > 0 ? names.join(", ") : "none";
}

function nextText(topic: TopicDescription): string {
  const { onSuccess, onFailure, join } = topic.next;
  return [
    ...onSuccess.map((each) => `onSuccess → ${each}`),
    ...onFailure.map((each) => `onFailure → ${each}`),
    ...(join ? [`join → ${join}`] : []),
  ].join(", ");
}

/** Each topic with its manifests (paths only), declared parameters, next steps and schedule. */
export function topicsView(topics: readonly TopicDescription[]): HTMLElement {
  if (topics.length === 0) return h("p", { class: "muted" }, "no topics served");
  return h(
    "dl",
    { class: "topics" },
    topics.flatMap((topic) => [
      h("dt", { "data-topic": topic.name }, topic.name),
      h(
        "dd",
        {},
        h(
          "div",
          {},
          topic.manifests.map((path) => h("code", { class: "path" }, path)),
        ),
        h("div", { class: "muted" }, `params: ${paramsText(topic)}`),
        nextText(topic) ? h("div", { class: "muted" }, nextText(topic)) : null,
        topic.schedule
          ? h("div", { class: "muted" }, `schedule: ${topic.schedule.cron} (${topic.schedule.timezone})`)
          : null,
      ),
    ]),
  );
}
