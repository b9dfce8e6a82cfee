/**
 * The one redaction pass for every text that leaves the process: log lines, run records, HTTP
 * responses and CLI messages. It masks anything shaped like a credential wherever it appears —
 * an upstream error body may echo the request that carried it.
 */

const PARAMETER_NAMES =
  "access_token|refresh_token|id_token|client_secret|client_assertion|code_verifier|device_code|assertion|code|sig|secret|password";

const PATTERNS: readonly (readonly [RegExp, string])[] = [
  // `Authorization: Bearer x`, `"authorization":"Basic x"` and the like: the whole value.
  [/\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)[^"'\r\n,}]+/gi, "$1[redacted]"],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, "$1 [redacted]"],
  // JWTs (access and id tokens), whole or cut short.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g, "[redacted-jwt]"],
  // Form and query parameters: token requests, SAS signatures (`sig=`).
  [new RegExp(`\\b(${PARAMETER_NAMES})=[^&\\s"'<>]+`, "gi"), "$1=[redacted]"],
  // The same names as JSON properties (token responses, Key Vault secret bodies).
  [
    /("(?:access_token|refresh_token|id_token|client_secret|client_assertion|secret|password|value)"\s*:\s*)"[^"]*"/gi,
    '$1"[redacted]"',
  ],
  // Storage account keys in connection strings.
  [/\b(AccountKey|SharedAccessSignature)=[^;\s"']+/gi, "$1=[redacted]"],
];

export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** Field names whose values are never shown, whatever they hold. */
export const SECRET_KEYS =
  /authorization|token|secret|password|assertion|client_?secret|refresh|cookie|sig$/i;
