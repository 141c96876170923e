import type { FastifyInstance, RouteOptions } from "fastify";
import type { RouteAccess } from "../access/index.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call the route: a token scope, or `public`. Every route must say. */
    access?: RouteAccess;
  }
}

export interface RegisteredRoute {
  readonly method: string;
  /** As declared, with `:name` parameters. */
  readonly url: string;
  readonly access: RouteAccess;
}

/**
 * Every route the server registers, with who may call it. A route that does not declare its access
 * stops start-up (routes are denied by default); the list also answers which methods a path takes,
 * for 405's Allow header, and is what the auth tests are built from.
 */
export class RouteTable {
  private readonly routes: RegisteredRoute[] = [];
  private readonly patterns: { readonly pattern: RegExp; readonly method: string }[] = [];

  attach(app: FastifyInstance): void {
    app.addHook("onRoute", (route: RouteOptions) => this.add(route));
  }

  private add(route: RouteOptions): void {
    const access = route.config?.access;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (access === undefined) {
      throw new Error(`route ${methods.join(",")} ${route.url} declares no access (a scope or "public")`);
    }
    for (const method of methods) {
      this.routes.push({ method, url: route.url, access });
      this.patterns.push({ pattern: patternOf(route.url), method });
    }
  }

  list(): readonly RegisteredRoute[] {
    return this.routes;
  }

  /** The methods registered for a concrete path; empty when no route has it. */
  methodsFor(path: string): string[] {
    const methods = this.patterns.filter((entry) => entry.pattern.test(path)).map((entry) => entry.method);
    return [...new Set(methods)];
  }
}

function patternOf(url: string): RegExp {
  const escaped = url
    .split("/")
    .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  // Trailing slashes are ignored by the router, so here too.
  return new RegExp(`^${escaped}/?$`);
}
