import { ApiError, getText } from "./api.js";
import { duration, h, shortUid, time } from "./dom.js";
import type { Firing, FunctionView, RequestView, TreeAnswer } from "./types.js";

/** What the tree's links do: open another request of the run. */
export interface TreeActions {
  readonly open: (requestUid: string) => void;
}

function badge(status: string): HTMLElement {
  return h("span", { class: `badge status-${status}`, "data-status": status }, status);
}

function timing(fn: FunctionView): string {
  if (fn.startedAt && fn.finishedAt) return duration(Date.parse(fn.finishedAt) - Date.parse(fn.startedAt));
  if (fn.startedAt) return `since ${time(fn.startedAt)}`;
  return "";
}

function firingLine(firing: Firing, actions: TreeActions): HTMLElement {
  const target = firing.requestUid;
  return h(
    "li",
    { class: `firing firing-${firing.state}` },
    `${firing.kind} → ${firing.topic} `,
    h("span", { class: "muted" }, firing.state),
    target
      ? h(
          "button",
          { type: "button", class: "link", title: target, onclick: () => actions.open(target) },
          shortUid(target),
        )
      : null,
    firing.reason ? h("span", { class: "reason" }, ` ${firing.reason}`) : null,
  );
}

/** A function's output, fetched when asked for: `GET /logs/<request uid>/<index>` works for readers too. */
function logsPanel(requestUid: string, index: number): HTMLElement {
  const output = h("pre", { class: "log", "data-log": "" });
  const load = async () => {
    output.textContent = "loading…";
    try {
      const text = await getText(`/logs/${encodeURIComponent(requestUid)}/${index}?tail=65536`);
      output.textContent = text === "" ? "(no output yet)" : text;
    } catch (error) {
      output.textContent = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
    }
  };
  const details = h(
    "details",
    { class: "logs", "data-key": `${requestUid}/${index}/logs`, ontoggle: () => details.open && void load() },
    h("summary", {}, "logs"),
    h("button", { type: "button", class: "link", onclick: () => void load() }, "reload"),
    output,
  );
  return details;
}

function functionItem(request: RequestView, fn: FunctionView, actions: TreeActions): HTMLElement {
  const answer = fn.answer === null || fn.answer === undefined ? null : fn.answer;
  return h(
    "li",
    { class: "fn", "data-path": fn.path, "data-status": fn.status },
    h(
      "div",
      { class: "fn-head" },
      badge(fn.status),
      h("span", { class: "path" }, fn.path),
      h("span", { class: "muted" }, timing(fn)),
      fn.attempts > 1 ? h("span", { class: "muted" }, `${fn.attempts} attempts`) : null,
    ),
    fn.reason ? h("div", { class: "reason", "data-reason": "" }, fn.reason) : null,
    answer === null
      ? null
      : h(
          "details",
          { class: "answer", "data-key": `${request.requestUid}/${fn.index}/answer` },
          h("summary", {}, "answer"),
          h("pre", {}, typeof answer === "string" ? answer : JSON.stringify(answer, null, 2)),
        ),
    logsPanel(request.requestUid, fn.index),
    fn.next.length > 0
      ? h(
          "ul",
          { class: "next" },
          fn.next.map((each) => firingLine(each, actions)),
        )
      : null,
    fn.children.map((child) => requestBlock(child, actions)),
  );
}

function requestBlock(request: RequestView, actions: TreeActions): HTMLElement {
  return h(
    "div",
    { class: "req", "data-request-uid": request.requestUid, "data-topic": request.topic },
    h(
      "div",
      { class: "req-head" },
      h("strong", {}, request.topic),
      " ",
      h("span", { class: "uid", title: request.requestUid }, request.requestUid),
    ),
    h(
      "ol",
      { class: "fns" },
      request.functions.map((fn) => functionItem(request, fn, actions)),
    ),
    request.join.length > 0
      ? h(
          "ul",
          { class: "next" },
          request.join.map((each) => firingLine(each, actions)),
        )
      : null,
  );
}

/** The whole run as a tree: each request, its functions with status and duration, and what followed. */
export function treeView(tree: TreeAnswer, actions: TreeActions): HTMLElement {
  const { totals } = tree;
  const counts = Object.entries(totals.functions)
    .filter(([, count]) => count > 0)
    .map(([status, count]) => `${count} ${status}`)
    .join(", ");
  const span =
    totals.firstStart && totals.lastFinish
      ? ` · ${duration(Date.parse(totals.lastFinish) - Date.parse(totals.firstStart))}`
      : "";
  return h(
    "div",
    { class: "tree", "data-finished": String(tree.finished) },
    h(
      "p",
      { class: "totals" },
      `${totals.requests} ${totals.requests === 1 ? "request" : "requests"} · ${counts}${span}${tree.finished ? "" : " · live"}`,
    ),
    tree.root ? requestBlock(tree.root, actions) : h("p", { class: "muted" }, "the root request has expired"),
    tree.detached.map((each) => requestBlock(each, actions)),
  );
}

/**
 * Redraws a run in place, keeping what the operator opened (answers, logs: reopened logs load again,
 * so they follow the run) and where they scrolled.
 */
export function redraw(container: HTMLElement, tree: TreeAnswer, actions: TreeActions): void {
  const opened = new Set(
    [...container.querySelectorAll<HTMLDetailsElement>("details[data-key]")]
      .filter((each) => each.open)
      .map((each) => each.dataset.key),
  );
  const view = treeView(tree, actions);
  for (const each of view.querySelectorAll<HTMLDetailsElement>("details[data-key]")) {
    if (opened.has(each.dataset.key)) each.open = true;
  }
  container.replaceChildren(view);
}
