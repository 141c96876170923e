/**
 * What gitfaas holds for git that must never be shown: the HTTP token, and the user name it is sent
 * with (which, with the token, makes the Basic credentials). SSH keys are read by ssh from a file and
 * gitfaas supports no key passphrase, so nothing of theirs passes through here.
 */
export interface GitSecrets {
  readonly username: string;
  readonly token: string | undefined;
}

const MASK = "***";
// Shorter base64 fragments would match ordinary text; a token this short is not a real one anyway.
const MIN_FRAGMENT_LENGTH = 8;
// Either alphabet: standard base64 and base64url.
const BASE64_CHAR = "[A-Za-z0-9+/_-]";

// "Authorization: Basic <credentials>" (or Bearer, token…) as a server or curl's trace may echo it.
const AUTHORIZATION_HEADER =
  /\b((?:proxy-)?authorization[ \t]*[:=][ \t]*)(?:([a-z][a-z0-9-]*)[ \t]+)?[^\s"',;]+/gi;
// scheme://user[:password]@ in any URL a message quotes.
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@'"]+@/gi;

/**
 * Removes from text every form in which a secret could come back: as it is, URL-encoded (upper or
 * lower case hex, or as a form field), inside base64 (the Basic credentials `user:token`, or any longer
 * base64 text holding the token, whatever its alignment), an Authorization header's value, and a URL's
 * user-info. One instance knows every secret given to git, so every place scrubs the same way.
 */
export class Scrubber {
  private readonly pattern: RegExp | undefined;

  constructor(secrets: GitSecrets) {
    // Longest first: the alternation then always removes the whole of an encoded form, not a piece.
    const whole = [...secretForms(secrets)].sort((a, b) => b.length - a.length).map(escapeRegExp);
    // The base64 groups either side of a fragment mix bytes of the token with bytes around it: they go too.
    const fragments = base64Fragments(secrets.token ?? "").map(
      (fragment) => `${BASE64_CHAR}{0,4}${escapeRegExp(fragment)}${BASE64_CHAR}{0,4}=*`,
    );
    const alternatives = [...whole, ...fragments];
    this.pattern = alternatives.length > 0 ? new RegExp(alternatives.join("|"), "g") : undefined;
  }

  scrub(text: string): string {
    const withoutSecrets = this.pattern === undefined ? text : text.replace(this.pattern, MASK);
    return withoutSecrets
      .replace(AUTHORIZATION_HEADER, (_match, header: string, scheme: string | undefined) =>
        scheme === undefined ? `${header}${MASK}` : `${header}${scheme} ${MASK}`,
      )
      .replace(URL_USER_INFO, `$1${MASK}@`);
  }
}

function secretForms({ username, token }: GitSecrets): Set<string> {
  const forms = new Set<string>();
  if (token === undefined || token === "") return forms;
  const basic = `${username}:${token}`;
  for (const text of [token, basic]) {
    const encoded = encodeURIComponent(text);
    forms.add(text);
    forms.add(encoded);
    forms.add(encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()));
    forms.add(new URLSearchParams({ x: text }).toString().slice("x=".length));
  }
  for (const text of [basic, token]) {
    const base64 = Buffer.from(text, "utf8").toString("base64");
    forms.add(base64);
    forms.add(Buffer.from(text, "utf8").toString("base64url"));
  }
  return forms;
}

/**
 * Base64 turns each 3 bytes into 4 characters, so the token inside a longer base64 text reads
 * differently depending on its offset modulo 3. For each offset, the characters that encode only
 * bytes of the token are the same whatever surrounds it: those are returned.
 */
function base64Fragments(token: string): string[] {
  const bytes = Buffer.from(token, "utf8");
  const fragments: string[] = [];
  if (bytes.length === 0) return fragments;
  for (let offset = 0; offset < 3; offset += 1) {
    const shifted = Buffer.concat([Buffer.alloc(offset), bytes]);
    const firstGroup = offset === 0 ? 0 : 1;
    const endGroup = Math.floor(shifted.length / 3);
    const fragment = shifted
      .subarray(0, endGroup * 3)
      .toString("base64")
      .slice(firstGroup * 4, endGroup * 4);
    if (fragment.length < MIN_FRAGMENT_LENGTH) continue;
    fragments.push(fragment, fragment.replaceAll("+", "-").replaceAll("/", "_"));
  }
  return fragments;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
