import { asciiLower } from "./text";

// The one URL shape the agent accepts for an environment: scheme://host[:port][/path], no
// user info, query or fragment. A reset answer names a host, and the allow-list decides by
// exact host, so the parse must not be fooled by `https://good.example@evil.example`.

export const ENV_MAX_BYTES: i32 = 128;

export class ParsedUrl {
  ok: bool = false;
  error: string = "";
  url: string = "";  // the text parsed, as given
  base: string = ""; // the text without a trailing slash: `base + "/api/..."` has one slash
  https: bool = false;
  host: string = ""; // lower case
  port: i32 = 0;     // 0: the scheme's default
}

function isHostChar(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x2d;
}

function isPathChar(c: i32): bool {
  // Printable ASCII without space, quote, angle brackets, backslash, ?, #.
  return c > 0x20 && c < 0x7f && c != 0x22 && c != 0x3c && c != 0x3e && c != 0x5c && c != 0x3f && c != 0x23 && c != 0x60;
}

export function parseEnvironment(url: string): ParsedUrl {
  const r = new ParsedUrl();
  r.url = url;
  if (String.UTF8.byteLength(url) > ENV_MAX_BYTES) { r.error = "longer than 128 bytes"; return r; }
  let rest: string;
  if (url.startsWith("https://")) { r.https = true; rest = url.substring(8); }
  else if (url.startsWith("http://")) { rest = url.substring(7); }
  else { r.error = "not an http(s):// URI"; return r; }
  let authEnd = rest.indexOf("/");
  if (authEnd < 0) authEnd = rest.length;
  const authority = asciiLower(rest.substring(0, authEnd));
  const path = rest.substring(authEnd);
  let host = authority;
  const colon = authority.indexOf(":");
  if (colon >= 0) {
    host = authority.substring(0, colon);
    const portText = authority.substring(colon + 1);
    if (portText.length < 1 || portText.length > 5) { r.error = "bad port"; return r; }
    let port = 0;
    for (let i = 0; i < portText.length; i++) {
      const d = portText.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) { r.error = "bad port"; return r; }
      port = port * 10 + d;
    }
    if (port < 1 || port > 65535) { r.error = "bad port"; return r; }
    r.port = port;
  }
  if (host.length == 0) { r.error = "no host"; return r; }
  for (let i = 0; i < host.length; i++) {
    if (!isHostChar(host.charCodeAt(i))) { r.error = "bad character in host"; return r; }
  }
  if (host.startsWith(".") || host.endsWith(".") || host.includes("..")) { r.error = "bad host"; return r; }
  for (let i = 0; i < path.length; i++) {
    if (!isPathChar(path.charCodeAt(i))) { r.error = "query, fragment or bad character in path"; return r; }
  }
  r.host = host;
  r.base = trimTrailingSlash(url);
  r.ok = true;
  return r;
}

function trimTrailingSlash(url: string): string {
  let end = url.length;
  while (end > 0 && url.charCodeAt(end - 1) == 0x2f) end--;
  return url.substring(0, end);
}
