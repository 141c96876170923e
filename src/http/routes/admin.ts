import type { FastifyInstance } from "fastify";
import { describeError } from "../../errors/index.js";
import type { ScheduleView } from "../../pipelines/index.js";
import type { Store } from "../../store/index.js";
import { VERSION } from "../../version/index.js";
import { errorBody, sendError } from "../errors.js";
import type { CatalogSource, LogSource } from "../ports.js";
import { refusalCode, refusalStatus, stateView } from "./source-view.js";

export interface AdminRoutesOptions {
  readonly source: CatalogSource;
  readonly store: Store;
  readonly runtime: LogSource;
  /** Each schedule's next tick and last fire, for `/status`. */
  readonly schedules?: () => Promise<readonly ScheduleView[]>;
}

/** The served revision and the service's health: `/refresh`, `/status`, `/topics`, `/healthz`, `/alive`, `/readyz`. */
export async function adminRoutes(app: FastifyInstance, options: AdminRoutesOptions): Promise<void> {
  app.get("/refresh", { config: { access: "admin" } }, async (_request, reply) => {
    const state = await options.source.refresh();
    const code = refusalCode(state);
    if (code !== undefined) {
      return reply
        .code(refusalStatus(state))
        .send(
          errorBody(
            code,
            `revision ${state.lastError?.revision ?? "(unknown)"} was refused: ${state.lastError?.message ?? ""}`,
            stateView(state),
          ),
        );
    }
    return { error: false, ...stateView(state) };
  });

  app.get("/status", { config: { access: "admin" } }, async () => ({
    error: false,
    version: VERSION,
    ...stateView(options.source.state()),
    schedules: (await options.schedules?.()) ?? [],
  }));

  // Readers see what they may publish to (names, manifest paths, declared parameters), not the manifests,
  // and which scopes their token holds, so that a client (the dashboard) offers only what will work.
  app.get("/topics", { config: { access: "read" } }, async (request) => ({
    error: false,
    revision: options.source.state().revision,
    scopes: [...request.grants].sort(),
    topics: options.source.describeTopics(),
  }));

  app.get("/healthz", { config: { access: "public" } }, async () => ({ error: false, status: "alive" }));

  // The original's liveness route: its chart's probes, and scripts written for it, call /alive.
  app.get("/alive", { config: { access: "public" } }, async () => ({ alive: true }));

  app.get("/readyz", { config: { access: "public" } }, async (_request, reply) => {
    const state = options.source.state();
    if (state.revision === null) {
      return sendError(reply, "CATALOG_NOT_LOADED", "no valid catalog is loaded yet");
    }
    for (const [what, check] of [
      ["store", () => options.store.ping()],
      ["runtime", () => options.runtime.ping()],
    ] as const) {
      try {
        await check();
      } catch (error) {
        return sendError(reply, "NOT_READY", `the ${what} does not answer: ${describeError(error)}`);
      }
    }
    return { error: false, status: "ready", revision: state.revision };
  });
}
