/**
 * The one redaction pass for every text that leaves the process: log lines, run records, HTTP
 * responses and CLI messages. It masks anything shaped like a credential wherever it appears —
 * an upstream error body may echo the request that carried it — and leaves prose alone, so an
 * error still says what went wrong ("Bearer token expired", "status eq 'Won'").
 */

const MASK = "[redacted]";

/** Form and query parameters whose value is a credential (token requests, callbacks, SAS). */
const PARAMETER_NAMES = [
  "access_token",
  "refresh_token",
  "id_token",
  "client_secret",
  "client_assertion",
  "code_verifier",
  "device_code",
  "assertion",
  "code",
  "sig",
  "secret",
  "password",
].join("|");

/**
 * JSON (and printed object) properties whose string value is a credential: token responses, MSAL's
 * cache entries (`secret`), device code responses and Key Vault secret bodies (`value`). `code` is
 * not among them: Partner Center's error bodies name their error code with it.
 */
const PROPERTY_NAMES = [
  "access_?token",
  "accessToken",
  "refresh_?token",
  "refreshToken",
  "id_?token",
  "idToken",
  "client_?secret",
  "clientSecret",
  "client_?assertion",
  "clientAssertion",
  "device_?code",
  "deviceCode",
  "secret",
  "password",
  "value",
].join("|");

/** Values that are masks already (ours, or the Azure SDK's `REDACTED`): left as they are, so redaction is idempotent. */
function isMask(value: string): boolean {
  return /^(?:\[redacted[^\]]*\]?|redacted|\*{3,})$/i.test(value);
}

/**
 * Whether the word after `Bearer`/`Basic` is a credential rather than prose ("Bearer token",
 * "Basic authentication"): credentials hold digits, base64 symbols or mixed case, or are long.
 */
function looksLikeCredential(value: string): boolean {
  const core = value.replace(/[=.]+$/, "");
  return (
    /[0-9+/~]/.test(core) ||
    /[a-z][A-Z]/.test(core) ||
    (core.length >= 16 && /[-._]/.test(core)) ||
    core.length >= 24
  );
}

/** A pattern and what its match becomes; `groups` are its capture groups, `next` the character after it. */
type Rule = readonly [
  RegExp,
  (match: string, groups: readonly (string | undefined)[], next: string) => string,
];

/**
 * Applied in order. Values end before a closing `.` or `:`: that is the sentence's punctuation,
 * which stays readable ("refresh_token=[redacted]: is not a known field").
 */
const RULES: readonly Rule[] = [
  // Credentials in a URL's user info: `https://user:password@host/`.
  [
    /\b([a-z][a-z0-9+.-]*:\/\/[^/?#\s:@"']+:)([^/?#\s@"']+)@/gi,
    (m, [head, pass]) => (isMask(pass ?? "") ? m : `${head ?? ""}${MASK}@`),
  ],
  // `Authorization: Bearer x`, `"authorization":"Basic x"`, `x-ms-copy-source-authorization: ...`:
  // the credential after the scheme. A challenge's `authorization="https://..."` is a URL, not one.
  [
    /\b((?:proxy-)?authorization(?:\\?["'])?[ \t]*[:=][ \t]*(?:\\?["'])?)(?!https?:\/\/)(?:([A-Za-z][\w-]*)[ \t]+)?(\[redacted[\w-]*\]|[^\s"',;&<>{}[\]\\]*[^\s"',;&<>{}[\]\\.:])/gi,
    (m, [head = "", scheme, value = ""]) => {
      if (isMask(value)) return m;
      // A scheme is a short word (Bearer, Basic, SharedKey); anything else before the value is masked too.
      return scheme && /^[A-Za-z][A-Za-z-]{1,23}$/.test(scheme)
        ? `${head}${scheme} ${MASK}`
        : `${head}${MASK}`;
    },
  ],
  // Bearer and Basic credentials anywhere else; a challenge parameter (`Bearer error="..."`) is not one.
  [
    /\b(Bearer|Basic)([ \t]+)([A-Za-z0-9\-._~+/]*[A-Za-z0-9\-_~+/]=*)/gi,
    (m, [scheme, space, value = ""], next) => {
      const challenge = next === '"' && /^[A-Za-z_]+=$/.test(value);
      return challenge || isMask(value) || !looksLikeCredential(value)
        ? m
        : `${scheme ?? ""}${space ?? ""}${MASK}`;
    },
  ],
  // Form and query parameters: token requests, authorization codes, SAS signatures (`sig=`).
  [
    new RegExp(`\\b(${PARAMETER_NAMES})=([^&\\s"'<>;,)\\\\]*[^&\\s"'<>;,)\\\\.:])`, "gi"),
    (m, [name, value]) => (isMask(value ?? "") ? m : `${name ?? ""}=${MASK}`),
  ],
  // The same credentials as JSON properties, also inside JSON that is itself a string (`\"`), and as
  // printed objects (`{ refresh_token: 'x' }`).
  [
    new RegExp(
      `((?:\\\\?["'])?\\b(?:${PROPERTY_NAMES})(?:\\\\?["'])?[ \\t]*:[ \\t]*)(?:"((?:[^"\\\\]|\\\\.)*)"|\\\\"([^"\\\\]*)\\\\"|'([^'\\\\]*)')`,
      "gi",
    ),
    (m, [head = "", plain, escaped, single]) => {
      if (isMask(plain ?? escaped ?? single ?? "")) return m;
      if (plain !== undefined) return `${head}"${MASK}"`;
      if (escaped !== undefined) return `${head}\\"${MASK}\\"`;
      return `${head}'${MASK}'`;
    },
  ],
  // Storage account keys and shared access signatures in connection strings.
  [
    /\b(AccountKey|SharedAccessKey|SharedAccessSignature)=([^;\s"']*[^;\s"'.:])/gi,
    (m, [name, value]) => (isMask(value ?? "") ? m : `${name ?? ""}=${MASK}`),
  ],
  // JWTs (access and id tokens, client assertions), whole or cut short, wherever no name above gave them away.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?/g, () => "[redacted-jwt]"],
];

/** `text` with every credential-shaped part masked; everything else unchanged. */
export function redact(text: string): string {
  let out = text;
  for (const [pattern, replace] of RULES)
    out = out.replace(pattern, (match: string, ...args: unknown[]) => {
      // The capture groups come first, then the match's offset (the first number) and the whole text.
      const at = args.findIndex((a) => typeof a === "number");
      const offset = args[at] as number;
      const whole = args[at + 1] as string;
      return replace(match, args.slice(0, at) as (string | undefined)[], whole.charAt(offset + match.length));
    });
  return out;
}

/** Field names whose values are never shown, whatever they hold. */
export const SECRET_KEYS =
  /authorization|token|secret|password|assertion|client_?secret|refresh|cookie|sig$|signature|account_?key/i;
