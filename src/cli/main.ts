#!/usr/bin/env node
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { startGitfaas } from "../app.js";
import { formatProblem, lintCatalog, loadCatalog } from "../catalog/index.js";
import { describeError, isGitfaasError } from "../errors/index.js";
import { createLogger } from "../logging/index.js";
import { SERVE_SETTINGS, envName, parseSettings } from "../settings/index.js";
import { DEFAULT_BANNED_KINDS, lintPolicy } from "../templating/index.js";
import { VERSION } from "../version/index.js";
import { call } from "./client.js";
import { initRepository } from "./init.js";
import { renderTrace, type TreeAnswer } from "./trace.js";

const DEFAULT_URL = "http://127.0.0.1:5000";

function urlOption(): Option {
  return new Option("--url <url>", "gitfaas server URL").env("GITFAAS_URL").default(DEFAULT_URL);
}

function tokenFileOption(): Option {
  return new Option(
    "--token-file <path>",
    "file holding the bearer token (or set GITFAAS_TOKEN); never a flag value",
  );
}

/** The bearer token for a server with auth on: from a file or GITFAAS_TOKEN, never from argv. */
async function bearerToken(tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile !== undefined) return (await readFile(tokenFile, "utf8")).trim();
  return process.env.GITFAAS_TOKEN || undefined;
}

function print(value: unknown): void {
  process.stdout.write(`${typeof value === "string" ? value : JSON.stringify(value, null, 2)}\n`);
}

/** Prints a server answer; an error answer sets a non-zero exit code. */
function report(result: { status: number; body: unknown }): void {
  print(result.body);
  if (result.status >= 400) process.exitCode = 1;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase());
}

function parseWaitSeconds(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return 300;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`--wait takes seconds, not '${value}'`);
  return seconds;
}

const program = new Command()
  .name("gitfaas")
  .description(
    "Functions from a git repository: publish to a topic, every manifest of it runs, collect the answers.",
  )
  .version(VERSION, "-V, --version", "print the version (and the commit it was built from) and stop")
  .showHelpAfterError();

const serve = program
  .command("serve")
  .description(
    "serve a repository's topics over HTTP (defaults: the bundled example, local runtime, on-disk store)",
  );
for (const spec of SERVE_SETTINGS) {
  // Defaults are applied by parseSettings, so that a GITFAAS_* variable is not hidden by a default.
  const option = new Option(`--${spec.flag} <value>`, spec.description).env(envName(spec.flag));
  if (spec.default !== undefined) option.default(undefined, spec.default);
  serve.addOption(option);
}
serve.action(async (options: Record<string, string | undefined>) => {
  // Only flags typed on the command line: parseSettings reads the environment itself, so that it can
  // drop Kubernetes service links and rank the original's variables below ours.
  const values = Object.fromEntries(
    SERVE_SETTINGS.map((spec) => {
      const key = camel(spec.flag);
      return [spec.flag, serve.getOptionValueSource(key) === "cli" ? options[key] : undefined];
    }),
  );
  const settings = parseSettings(values, process.env);
  const logger = createLogger(settings.logLevel);
  for (const notice of settings.notices) logger[notice.level]({}, notice.message);
  const hostEnv = Object.fromEntries(
    settings.localInheritEnv.flatMap((name) =>
      process.env[name] === undefined ? [] : [[name, process.env[name]]],
    ),
  ) as Record<string, string>;
  const running = await startGitfaas(settings, hostEnv, logger);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A second signal means now.
      logger.warn({ signal }, "stopping at once");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "stopping");
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
});

program
  .command("publish <topic>")
  .description("publish a message on a topic; prints the request UID and what was applied")
  .option("-d, --data <text|@file>", "the body: text, or @path to read a file", "")
  .option("--json", "send the body as application/json (default: text/plain)")
  .option(
    "-p, --param <name=value>",
    "a template value (repeatable)",
    (item: string, all: string[]) => [...all, item],
    [],
  )
  .option("-w, --wait [seconds]", "then wait for every function's answer and print the responses")
  .option("--parent <function-uid>", "publish on behalf of this function: the request becomes its child")
  .addOption(urlOption())
  .addOption(tokenFileOption())
  .action(
    async (
      topic: string,
      options: {
        data: string;
        json?: boolean;
        param: string[];
        wait?: string | boolean;
        parent?: string;
        url: string;
        tokenFile?: string;
      },
    ) => {
      const token = await bearerToken(options.tokenFile);
      const body = options.data.startsWith("@")
        ? await readFile(options.data.slice(1))
        : Buffer.from(options.data);
      const query = new URLSearchParams();
      for (const pair of options.param) {
        const at = pair.indexOf("=");
        if (at <= 0) throw new Error(`--param takes name=value, not '${pair}'`);
        query.append(pair.slice(0, at), pair.slice(at + 1));
      }
      const suffix = query.size > 0 ? `?${query.toString()}` : "";
      const published = await call(options.url, "POST", `/publish/${encodeURIComponent(topic)}${suffix}`, {
        body,
        contentType: options.json ? "application/json" : "text/plain",
        token,
        headers: options.parent === undefined ? {} : { "gitfaas-parent": options.parent },
      });
      const wait = parseWaitSeconds(options.wait);
      const requestUid = (published.body as { requestUid?: string }).requestUid;
      if (wait === undefined || published.status >= 400 || requestUid === undefined) return report(published);
      report(await call(options.url, "GET", `/response/${requestUid}?wait=${wait}`, { token }));
    },
  );

program
  .command("responses <request-uid>")
  .description("print the responses and status of a request's functions")
  .option("-w, --wait [seconds]", "hold until every function has answered or finished")
  .addOption(urlOption())
  .addOption(tokenFileOption())
  .action(
    async (requestUid: string, options: { wait?: string | boolean; url: string; tokenFile?: string }) => {
      const wait = parseWaitSeconds(options.wait);
      const path = `/response/${encodeURIComponent(requestUid)}${wait === undefined ? "" : `?wait=${wait}`}`;
      report(await call(options.url, "GET", path, { token: await bearerToken(options.tokenFile) }));
    },
  );

program
  .command("replay <request-uid>")
  .description("publish a request's body and values again on the current revision, as a new request")
  .option("--failed", "run only the manifests whose functions failed")
  .addOption(urlOption())
  .addOption(tokenFileOption())
  .action(async (requestUid: string, options: { failed?: boolean; url: string; tokenFile?: string }) => {
    const path = `/requests/${encodeURIComponent(requestUid)}/replay${options.failed ? "?failed=true" : ""}`;
    report(await call(options.url, "POST", path, { token: await bearerToken(options.tokenFile) }));
  });

program
  .command("trace <request-uid>")
  .description(
    "print the whole run a request belongs to, from its root, as a tree with statuses and durations",
  )
  .option("-w, --wait [seconds]", "hold until every function of the run has finished")
  .option("--json", "print the server's answer as JSON")
  .addOption(urlOption())
  .addOption(tokenFileOption())
  .action(
    async (
      requestUid: string,
      options: { wait?: string | boolean; json?: boolean; url: string; tokenFile?: string },
    ) => {
      const wait = parseWaitSeconds(options.wait);
      const path = `/requests/${encodeURIComponent(requestUid)}/tree${wait === undefined ? "" : `?wait=${wait}`}`;
      const answer = await call(options.url, "GET", path, { token: await bearerToken(options.tokenFile) });
      if (options.json || answer.status >= 400) return report(answer);
      // Colour for a terminal only: piped output stays plain text for grep and files.
      print(renderTrace(answer.body as TreeAnswer, process.stdout.isTTY && !process.env.NO_COLOR));
    },
  );

program
  .command("logs <function-uid>")
  .description("print the output of a function's runs (local runtime)")
  .addOption(urlOption())
  .addOption(tokenFileOption())
  .action(async (functionUid: string, options: { url: string; tokenFile?: string }) => {
    const token = await bearerToken(options.tokenFile);
    report(await call(options.url, "GET", `/logs/${encodeURIComponent(functionUid)}`, { token }));
  });

program
  .command("lint [dir]")
  .description(
    "check a repository offline: config, every manifest, policy; prints file:line problems (exit 1) and warnings (exit 0)",
  )
  .option("--config-path <path>", "topics file inside the repository", "config.json")
  .option("--banned-kinds <kinds>", "space-separated kinds to refuse", DEFAULT_BANNED_KINDS.join(" "))
  .option("--namespace <name>", "gitfaas's namespace", "default")
  .option("--scope <scope>", "namespaced or clusterWide", "namespaced")
  .action(
    async (
      dir: string | undefined,
      options: { configPath: string; bannedKinds: string; namespace: string; scope: string },
    ) => {
      const root = resolve(dir ?? ".");
      const found = await lintCatalog(root, options.configPath);
      // A warning names text that renders as written but looks like a mistake: shown, never a failure.
      const warnings = found
        .filter((problem) => problem.warning)
        .map((problem) => formatProblem({ ...problem, message: `warning: ${problem.message}` }));
      const problems = found.filter((problem) => !problem.warning).map(formatProblem);
      let summary = "";
      if (problems.length === 0) {
        const catalog = await loadCatalog(root, options.configPath);
        const policy = {
          bannedKinds: options.bannedKinds.split(/[\s,]+/).filter(Boolean),
          namespace: options.namespace,
          scope: options.scope === "clusterWide" ? ("clusterWide" as const) : ("namespaced" as const),
        };
        const seen = new Set<string>();
        for (const topic of catalog.topics.values()) {
          for (const manifest of topic.manifests) {
            if (seen.has(manifest.path)) continue;
            seen.add(manifest.path);
            problems.push(...lintPolicy(manifest, policy));
          }
        }
        summary = `ok: ${catalog.topics.size} topics, ${seen.size} manifests`;
      }
      for (const line of [...problems, ...warnings]) process.stderr.write(`${line}\n`);
      if (problems.length > 0) {
        process.exitCode = 1;
        return;
      }
      print(warnings.length === 0 ? summary : `${summary}, ${warnings.length} warning(s)`);
    },
  );

program
  .command("init [dir]")
  .description(
    "write a starter repository (config.json, a Python and a Node lambda) into a new or empty folder",
  )
  .action(async (dir: string | undefined) => {
    const target = dir ?? ".";
    const written = await initRepository(target);
    print(`wrote ${written.length} files into ${target}:\n  ${written.join("\n  ")}`);
    print(`next: gitfaas lint ${target} && gitfaas serve --repo ${target}`);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  const code = isGitfaasError(error) ? `${error.code}: ` : "";
  process.stderr.write(`gitfaas: ${code}${describeError(error)}\n`);
  process.exit(2);
});
