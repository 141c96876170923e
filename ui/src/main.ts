import { ApiError, getJson, token } from "./api.js";
import { byId, fill, h, shortUid, time } from "./dom.js";
import { serviceView, topicsView } from "./overview.js";
import { paramFields, publish, refusalText } from "./publish.js";
import { RunWatcher, recentRequests, remember, runStatus, type TreeState } from "./runs.js";
import { redraw } from "./tree.js";
import type { TopicsAnswer } from "./types.js";

/** The service line and topics follow the served revision without a reload. */
const OVERVIEW_REFRESH_MS = 15_000;

let topics: TopicsAnswer | undefined;
let selected: string | undefined;
const watcher = new RunWatcher((requestUid, state) => {
  // A UID typed in is listed once gitfaas knows it: a mistyped one is not kept.
  if ("tree" in state && !recentRequests().some((each) => each.requestUid === requestUid)) {
    remember({ requestUid, topic: state.tree.root?.topic ?? "", at: new Date().toISOString() });
  }
  drawRequests();
  if (requestUid === selected) drawRun(state);
});

function drawRun(state: TreeState | undefined): void {
  const run = byId("run");
  if (!state) fill(run, h("p", { class: "muted" }, "loading…"));
  else if ("error" in state)
    fill(run, h("p", { class: "error" }, `${state.error.code}: ${state.error.message}`));
  else redraw(run, state.tree, { open });
}

function open(requestUid: string): void {
  selected = requestUid;
  watcher.watch(requestUid);
  drawRequests();
  drawRun(watcher.state(requestUid));
}

function requestRow(entry: ReturnType<typeof recentRequests>[number]): HTMLElement {
  const state = watcher.state(entry.requestUid);
  const status = !state ? "…" : "error" in state ? "unknown" : runStatus(state.tree);
  const topic = entry.topic || (state && "tree" in state ? (state.tree.root?.topic ?? "") : "");
  return h(
    "li",
    {
      "data-request-uid": entry.requestUid,
      "data-status": status,
      class: entry.requestUid === selected ? "selected" : "",
    },
    h(
      "button",
      { type: "button", class: "row", title: entry.requestUid, onclick: () => open(entry.requestUid) },
      h("span", { class: `badge status-${status}` }, status),
      h("strong", {}, topic),
      h("span", { class: "uid" }, shortUid(entry.requestUid)),
      h("span", { class: "muted" }, time(entry.at)),
    ),
  );
}

function drawRequests(): void {
  const recent = recentRequests();
  // Every listed run is followed live (the watcher limits how many long-polls are open at once).
  for (const entry of recent) watcher.watch(entry.requestUid);
  const list = byId("requests");
  if (recent.length === 0) fill(list, h("li", { class: "muted" }, "none yet from this browser"));
  else fill(list, recent.map(requestRow));
}

function drawPublishForm(answer: TopicsAnswer): void {
  const select = byId<HTMLSelectElement>("topic");
  const chosen = select.value;
  fill(
    select,
    answer.topics.map((topic) => h("option", { value: topic.name }, topic.name)),
  );
  if (answer.topics.some((topic) => topic.name === chosen)) select.value = chosen;
  const mayPublish = answer.scopes.includes("publish");
  byId<HTMLButtonElement>("publish-button").disabled = !mayPublish;
  if (!mayPublish) fill(byId("publish-result"), "this token cannot publish (it needs the publish scope)");
  drawParams();
}

function drawParams(): void {
  const name = byId<HTMLSelectElement>("topic").value;
  fill(byId("params"), paramFields(topics?.topics.find((topic) => topic.name === name)));
}

async function refreshOverview(): Promise<void> {
  const answer = await getJson<TopicsAnswer>("/topics");
  // Redrawn only when the revision changes: an operator may be filling in the form.
  if (answer.revision !== topics?.revision || topics === undefined) {
    topics = answer;
    fill(byId("topics"), topicsView(answer.topics));
    drawPublishForm(answer);
  }
  fill(byId("service"), await serviceView(answer.scopes));
}

function askForToken(message: string): void {
  byId("main").hidden = true;
  byId("sign-out").hidden = true;
  byId("token-form").hidden = false;
  fill(byId("token-error"), message);
  byId<HTMLInputElement>("token").focus();
}

async function start(): Promise<void> {
  try {
    await refreshOverview();
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      if (error.status === 401) token.clear();
      askForToken(error.status === 401 ? "This token is not known." : "This token lacks the read scope.");
      return;
    }
    fill(byId("service"), h("span", { class: "error" }, refusalText(error)));
  }
  byId("token-form").hidden = true;
  byId("main").hidden = false;
  byId("sign-out").hidden = token.get() === null;
  drawRequests();
  const first = recentRequests()[0];
  if (first) open(first.requestUid);
}

function wire(): void {
  byId("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token.set(byId<HTMLInputElement>("token").value.trim());
    void start();
  });
  byId("sign-out").addEventListener("click", () => {
    token.clear();
    location.reload();
  });
  byId("topic").addEventListener("change", drawParams);
  byId("open-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const uid = byId<HTMLInputElement>("open-uid").value.trim();
    if (uid !== "") open(uid);
  });
  const form = byId<HTMLFormElement>("publish-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const topic = byId<HTMLSelectElement>("topic").value;
    fill(byId("publish-result"), "publishing…");
    publish(form).then(
      (requestUid) => {
        remember({ requestUid, topic, at: new Date().toISOString() });
        fill(byId("publish-result"), `published ${requestUid}`);
        open(requestUid);
      },
      (error: unknown) => fill(byId("publish-result"), h("span", { class: "error" }, refusalText(error))),
    );
  });
}

wire();
if (document.body.dataset.auth === "on" && token.get() === null) askForToken("");
else void start();
setInterval(() => {
  if (byId("main").hidden) return;
  refreshOverview().catch((error: unknown) =>
    fill(byId("service"), h("span", { class: "error" }, refusalText(error))),
  );
}, OVERVIEW_REFRESH_MS);
