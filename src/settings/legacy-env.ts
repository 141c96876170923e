import { GitfaasError } from "../errors/index.js";

/**
 * A variable of the original (Python) gitfaas that still sets one of our settings, so that its
 * deployments start unchanged. Declared on the setting it stands for, in SERVE_SETTINGS.
 */
export interface LegacyEnv {
  /** The original's variable, e.g. GIT_URL. */
  readonly name: string;
  /** The variable it fills when not the setting's own (a secret is never a flag: GITFAAS_GIT_TOKEN). */
  readonly target?: string;
  /**
   * The original's value in our terms; undefined: nothing to set. Throws an Error whose message says
   * why the value cannot be honoured (it never repeats a secret: secrets have no convert).
   */
  readonly convert?: (value: string) => string | undefined;
}

/** A line to log once the logger exists: settings are parsed before it. */
export interface SettingNotice {
  readonly level: "info" | "warn";
  readonly message: string;
}

interface LegacySpec {
  readonly flag: string;
  readonly legacy?: LegacyEnv;
}

// Kubernetes gives every pod <SERVICE>_PORT=tcp://<cluster ip>:<port> for each Service of its namespace
// (docker links' format): a Service named gitfaas turns GITFAAS_PORT into an address, not a port.
const SERVICE_LINK = /^(tcp|udp|sctp):\/\/[^\s/]+:\d+$/i;

export function envName(flag: string): string {
  return `GITFAAS_${flag.toUpperCase().replaceAll("-", "_")}`;
}

function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== "";
}

/**
 * The environment parseSettings reads: service-link values of our variables dropped, and the
 * original's variables copied to ours where neither a flag nor our own variable says otherwise.
 * `values` holds the flags given on the command line only.
 */
export function effectiveEnv(
  specs: readonly LegacySpec[],
  values: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
): { env: Record<string, string | undefined>; notices: SettingNotice[] } {
  const result: Record<string, string | undefined> = { ...env };
  const notices: SettingNotice[] = [];
  for (const spec of specs) {
    const name = envName(spec.flag);
    const value = result[name];
    if (value !== undefined && name.endsWith("_PORT") && SERVICE_LINK.test(value.trim())) {
      const service = name.slice(0, -"_PORT".length).toLowerCase().replaceAll("_", "-");
      notices.push({
        level: "info",
        message: `${name}=${value} is a Kubernetes service link (a Service named ${service} in this namespace), not a setting: ignored`,
      });
      result[name] = undefined;
    }
  }
  for (const spec of specs) {
    if (spec.legacy !== undefined) applyLegacy(spec.flag, spec.legacy, values, result, notices);
  }
  return { env: result, notices };
}

function applyLegacy(
  flag: string,
  legacy: LegacyEnv,
  values: Readonly<Record<string, string | undefined>>,
  env: Record<string, string | undefined>,
  notices: SettingNotice[],
): void {
  const value = env[legacy.name];
  if (!isSet(value)) return;
  const target = legacy.target ?? envName(flag);
  const replacement = legacy.target === undefined ? `${target} (--${flag})` : `${target} (or --${flag})`;
  const winners =
    legacy.target === undefined ? `--${flag} or ${target}` : `${target}, --${flag} or ${envName(flag)}`;
  const given = values[flag] !== undefined || isSet(env[envName(flag)]) || isSet(env[target]);
  if (given) {
    notices.push({
      level: "warn",
      message: `${legacy.name} is the original gitfaas's name, deprecated: ignored, as ${winners} is set`,
    });
    return;
  }
  let converted: string | undefined;
  try {
    converted = legacy.convert === undefined ? value : legacy.convert(value);
  } catch (error) {
    throw new GitfaasError(
      "INVALID_SETTING",
      `${legacy.name} (the original gitfaas's name for ${replacement}) cannot be honoured: ${(error as Error).message}`,
      { setting: flag },
    );
  }
  notices.push({
    level: "warn",
    message: `${legacy.name} is the original gitfaas's name, deprecated: use ${replacement}`,
  });
  if (converted !== undefined) env[target] = converted;
}

/** The original's POLLING_INTERVAL: a whole number of minutes above 0 (its int(); "5m" made it exit). */
export function legacyMinutes(value: string): string {
  if (!/^\s*\d+\s*$/.test(value) || Number(value) < 1) {
    throw new Error(`'${value}' is not a whole number of minutes above 0`);
  }
  return `${Number(value)}m`;
}

/** The original's EXPIRATION_TIME: digits, in seconds (its str.isdigit()), as ours. */
export function legacySeconds(value: string): string {
  if (!/^\d+$/.test(value)) throw new Error(`'${value}' is not a whole number of seconds`);
  return value;
}

/** The original's yes/no values (its checks compared with "yes" and "no"). */
function yesNo(value: string): "yes" | "no" {
  const answer = value.trim().toLowerCase();
  if (answer !== "yes" && answer !== "no") throw new Error(`'${value}' is not yes or no`);
  return answer;
}

export function legacyYesNo(value: string): string {
  return yesNo(value);
}

/** The original took DEBUG, INFO or WARN and fell back to INFO on anything else; we refuse instead. */
export function legacyLogLevel(value: string): string {
  const level = value.trim().toLowerCase();
  if (!["debug", "info", "warn", "error"].includes(level)) {
    throw new Error(`'${value}' is not DEBUG, INFO, WARN or ERROR`);
  }
  return level;
}

/**
 * The original's GIT_USE_SSH_KEY=yes cloned with ssh's default key, ~/.ssh/id_rsa, which its chart
 * mounted at /home/gitfaas/.ssh/id_rsa. We take the key's path instead (the image's home is /tmp), so
 * `yes` without one cannot be honoured; `no` meant HTTP with a token, which the URL already says.
 */
export function legacyUseSshKey(value: string): string | undefined {
  if (yesNo(value) === "no") return undefined;
  throw new Error(
    "set GITFAAS_SSH_KEY_FILE to the private key's path (the original read ~/.ssh/id_rsa, " +
      "mounted at /home/gitfaas/.ssh/id_rsa by its chart) and GITFAAS_SSH_KNOWN_HOSTS_FILE to the known_hosts",
  );
}
