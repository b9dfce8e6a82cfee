import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { printable } from "../io.js";

/** A token is asked for again this long before it expires, so none expires in flight. */
const REFRESH_BEFORE_MS = 2 * 60_000;
/** Longest reason quoted from a credential's error. */
const MAX_REASON_CHARS = 300;

/** No token could be obtained; the message is one line and never holds a token. */
export class TokenError extends Error {
  override readonly name = "TokenError";
}

/**
 * Bearer tokens for one scope, from `credential` (built on first use, so `--help` and usage errors
 * never load the identity library), reused until shortly before they expire: a long `--wait` polls
 * every few seconds, and each Azure CLI token costs a process start.
 */
export class ApiTokens {
  private cached: AccessToken | undefined;
  private credential: Promise<TokenCredential> | undefined;

  constructor(
    readonly scope: string,
    private readonly makeCredential: () => Promise<TokenCredential>,
  ) {}

  async token(): Promise<string> {
    if (this.cached && this.cached.expiresOnTimestamp - Date.now() > REFRESH_BEFORE_MS)
      return this.cached.token;
    let token: AccessToken | null;
    try {
      this.credential ??= this.makeCredential();
      token = await (await this.credential).getToken(this.scope);
    } catch (error) {
      throw new TokenError(
        `could not get a token for ${this.scope}: ${credentialReason(error)} — run \`az login\``,
      );
    }
    if (!token)
      throw new TokenError(
        `could not get a token for ${this.scope}: the credential returned none — run \`az login\``,
      );
    this.cached = token;
    return token.token;
  }
}

/**
 * `DefaultAzureCredential`: environment, managed identity, then the Azure CLI's sign-in (`az login`).
 * An AZURE_AUTHORITY_HOST on this machine (the dev host's simulated Entra ID) is used as it is:
 * instance discovery would ask login.microsoftonline.com to vouch for it and refuse.
 */
export async function defaultCredential(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import("@azure/identity");
  const host = env.AZURE_AUTHORITY_HOST;
  const loopback =
    host !== undefined &&
    URL.canParse(host) &&
    ["127.0.0.1", "[::1]", "localhost"].includes(new URL(host).hostname);
  return new DefaultAzureCredential(loopback ? { disableInstanceDiscovery: true, authorityHost: host } : {});
}

/**
 * One line saying why: a chained credential lists every credential it tried, one per line; the
 * Azure CLI's is the one `az login` fixes, so it is preferred, else the first line.
 */
function credentialReason(error: unknown): string {
  const nested = (error as { errors?: unknown } | null)?.errors;
  const messages = Array.isArray(nested)
    ? nested.map((e) => (e instanceof Error ? e.message : String(e)))
    : [];
  const own = error instanceof Error ? error.message : String(error);
  const chosen =
    messages.find((m) => /azure cli|az login/i.test(m)) ??
    messages[0] ??
    own.split("\n").find((l) => l.trim() !== "") ??
    own;
  const line = printable(chosen.replace(/\s+/g, " ").trim());
  return line.length > MAX_REASON_CHARS ? `${line.slice(0, MAX_REASON_CHARS)}…` : line || "no reason given";
}
