import { describe, expect, it } from "vitest";
import { SECRET_KEYS, redact } from "../../src/common/redact.js";
import { findCredentials } from "../support/canary.js";

/**
 * The one redaction pass: every credential shape is masked wherever it sits (headers, JSON bodies,
 * query strings, connection strings, URLs), and ordinary text — filters, run ids, blob paths, the
 * word "token" in an error message — comes out exactly as it went in.
 */

const JWT =
  "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2FwaS5wYXJ0bmVyY2VudGVyLm1pY3Jvc29mdC5jb20ifQ.dGhlLXNpZ25hdHVyZS1vZi10aGUtdG9rZW4tMDEyMw";
const OPAQUE = "pc-at-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e";
const REFRESH = "0.ARoAv4j5cvGGr0GRqy180BHbR1x2cHRnRzE4bDN5OTlr";
const SIM_REFRESH = "sim-rt.Q2hhbmdlZC1yZWZyZXNoLXRva2VuLTAxMjM0NTY";
const CLIENT_SECRET = "Qx~8Q~abcDEF123.ghiJKL456_mnoPQR789-stu";
const SIG = "I8tFoSRBgxvjcjOhdZgtY5YEZxFQFNe%2Fy8sQKDrRcLk%3D";
const ACCOUNT_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const BASIC = "dXNlcjpwYXNzd29yZA==";
const DEVICE_CODE = "DAQABAAEAAAD--DLA3VO7QrddgJg7WevrSUxFHXv3kQ";
const AUTH_CODE = "0.AXoAv4j5cvGGr0GRqy180BHbRzE4bDN5OTlrY2Rl";

/** Credential-bearing texts and what must come out of each. */
const SECRET_CASES: readonly (readonly [name: string, input: string, expected: string])[] = [
  // Headers.
  ["Authorization header, bearer JWT", `Authorization: Bearer ${JWT}`, "Authorization: Bearer [redacted]"],
  [
    "authorization header, opaque bearer",
    `authorization: bearer ${OPAQUE}\r\nx-ms-version: 2026-10-06`,
    "authorization: bearer [redacted]\r\nx-ms-version: 2026-10-06",
  ],
  ["Authorization header, basic", `Authorization: Basic ${BASIC}`, "Authorization: Basic [redacted]"],
  ["Authorization header without a scheme", `Authorization: ${OPAQUE}`, "Authorization: [redacted]"],
  [
    "storage SharedKey header",
    `Authorization: SharedKey devstoreaccount1:${ACCOUNT_KEY}`,
    "Authorization: SharedKey [redacted]",
  ],
  [
    "Proxy-Authorization header",
    `Proxy-Authorization: Basic ${BASIC}`,
    "Proxy-Authorization: Basic [redacted]",
  ],
  [
    "copy-source authorization header",
    `x-ms-copy-source-authorization: Bearer ${OPAQUE}`,
    "x-ms-copy-source-authorization: Bearer [redacted]",
  ],
  ["bearer value in prose", `retrying with Bearer ${OPAQUE} now`, "retrying with Bearer [redacted] now"],
  ["bearer value ending a sentence", `rejected Bearer ${OPAQUE}.`, "rejected Bearer [redacted]."],
  [
    "parameter before a colon",
    `refresh_token=${SIM_REFRESH}: is not a known field`,
    "refresh_token=[redacted]: is not a known field",
  ],
  ["basic value in prose", `sent Basic ${BASIC}.`, "sent Basic [redacted]."],
  // JWTs on their own, whole or cut short.
  ["a bare JWT", `token ${JWT} rejected`, "token [redacted-jwt] rejected"],
  ["a JWT cut short", `echo: ${JWT.slice(0, 60)}`, "echo: [redacted-jwt]"],
  // JSON bodies.
  [
    "JSON authorization header",
    `{"headers":{"Authorization":"Bearer ${OPAQUE}","accept":"application/json"}}`,
    '{"headers":{"Authorization":"Bearer [redacted]","accept":"application/json"}}',
  ],
  [
    "token response",
    `{"token_type":"Bearer","access_token":"${JWT}","refresh_token":"${REFRESH}","id_token":"${JWT}","expires_in":3599}`,
    '{"token_type":"Bearer","access_token":"[redacted]","refresh_token":"[redacted]","id_token":"[redacted]","expires_in":3599}',
  ],
  [
    "camel-case credentials",
    `{"accessToken": "${OPAQUE}", "refreshToken": "${SIM_REFRESH}", "clientSecret": "${CLIENT_SECRET}"}`,
    '{"accessToken": "[redacted]", "refreshToken": "[redacted]", "clientSecret": "[redacted]"}',
  ],
  [
    "client secret and assertion properties",
    `{"client_secret":"${CLIENT_SECRET}","client_assertion":"${OPAQUE}"}`,
    '{"client_secret":"[redacted]","client_assertion":"[redacted]"}',
  ],
  [
    "MSAL cache entry and Key Vault secret body",
    `{"credential_type":"RefreshToken","secret":"${REFRESH}"} {"value":"${CLIENT_SECRET}","id":"https://kv.vault.azure.net/secrets/pc-token-cache"}`,
    '{"credential_type":"RefreshToken","secret":"[redacted]"} {"value":"[redacted]","id":"https://kv.vault.azure.net/secrets/pc-token-cache"}',
  ],
  [
    "device code response",
    `{"user_code":"ABCD-EFGH","device_code":"${DEVICE_CODE}","verification_uri":"https://microsoft.com/devicelogin"}`,
    '{"user_code":"ABCD-EFGH","device_code":"[redacted]","verification_uri":"https://microsoft.com/devicelogin"}',
  ],
  [
    "JSON inside a JSON string",
    `{"body":"{\\"refresh_token\\":\\"${REFRESH}\\",\\"scope\\":\\"x\\"}"}`,
    '{"body":"{\\"refresh_token\\":\\"[redacted]\\",\\"scope\\":\\"x\\"}"}',
  ],
  [
    "a printed object",
    `{ refresh_token: '${SIM_REFRESH}', expires_in: 3599 }`,
    "{ refresh_token: '[redacted]', expires_in: 3599 }",
  ],
  // Form bodies and query strings.
  [
    "refresh token request",
    `grant_type=refresh_token&refresh_token=${REFRESH}&client_id=c0ffee&client_secret=${CLIENT_SECRET}&scope=openid`,
    "grant_type=refresh_token&refresh_token=[redacted]&client_id=c0ffee&client_secret=[redacted]&scope=openid",
  ],
  [
    "client assertion request",
    `client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=${OPAQUE}`,
    "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=[redacted]",
  ],
  [
    "auth code callback",
    `http://127.0.0.1:53100/?code=${AUTH_CODE}&state=s1&session_state=x`,
    "http://127.0.0.1:53100/?code=[redacted]&state=s1&session_state=x",
  ],
  [
    "device code poll",
    `grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=${DEVICE_CODE}&client_id=c0ffee`,
    "grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=[redacted]&client_id=c0ffee",
  ],
  [
    "PKCE verifier and token parameters",
    `code_verifier=${OPAQUE}&access_token=${OPAQUE}&id_token=${JWT}`,
    "code_verifier=[redacted]&access_token=[redacted]&id_token=[redacted]",
  ],
  // URLs with a SAS, connection strings, user info.
  [
    "blob read link (SAS)",
    `https://acct.blob.core.windows.net/referrals/contoso/latest/referrals.csv?sv=2026-10-06&spr=https&se=2026-11-24T10%3A30%3A00Z&sr=b&sp=r&sig=${SIG}`,
    "https://acct.blob.core.windows.net/referrals/contoso/latest/referrals.csv?sv=2026-10-06&spr=https&se=2026-11-24T10%3A30%3A00Z&sr=b&sp=r&sig=[redacted]",
  ],
  [
    "SAS at the end of a JSON string",
    `{"readLink":"https://127.0.0.1:10000/devstoreaccount1/c/a.json?sv=2026-10-06&sig=${SIG}"}`,
    '{"readLink":"https://127.0.0.1:10000/devstoreaccount1/c/a.json?sv=2026-10-06&sig=[redacted]"}',
  ],
  [
    "storage connection string",
    `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`,
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=[redacted];BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
  ],
  [
    "SAS connection string",
    `BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2026-10-06&ss=b&sig=${SIG}`,
    "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=[redacted]",
  ],
  [
    "password in a URL",
    "proxy https://svc-user:Pa55w0rd%21@127.0.0.1:8080/ refused",
    "proxy https://svc-user:[redacted]@127.0.0.1:8080/ refused",
  ],
  // Everything at once: an upstream error body that echoes the request.
  [
    "an upstream error echoing its request",
    `Partner Center answered 400: bad request (error 600123): Authorization: Bearer ${JWT}; body refresh_token=${SIM_REFRESH}; source ?sv=2026-10-06&sig=${SIG} (MS-RequestId 3f2b)`,
    "Partner Center answered 400: bad request (error 600123): Authorization: Bearer [redacted]; body refresh_token=[redacted]; source ?sv=2026-10-06&sig=[redacted] (MS-RequestId 3f2b)",
  ],
];

/** Texts with nothing to mask: they come out unchanged. */
const INNOCENT: readonly string[] = [
  "status eq 'Won'",
  "status eq 'Won' and customerMarket eq 'US' and createdDate ge 2026-01-01T00:00:00Z",
  "20261124T020000Z-k3x9qa",
  "runs/20261124T020000Z-k3x9qa.json",
  "contoso-won/2026/11/24/20261124T020000Z-k3x9qa/referrals.csv",
  "https://127.0.0.1:10000/devstoreaccount1/referrals/contoso-won/latest/_manifest.json",
  "The access token has expired.",
  "The access token is not valid for this API.",
  "The Authorization header is missing; send a Bearer token for the user_impersonation scope.",
  "Bearer token authentication is not permitted for non-TLS protected (non-https) URLs.",
  "Basic authentication is not supported.",
  "Partner Center rejected the token (401): token expired; run auth login",
  "The refresh token was revoked; sign in again with auth login. Token cache secret: pc-token-cache",
  "TOKEN_CACHE_SECRET_NAME must name a Key Vault secret (1-127 characters of a-z, A-Z, 0-9 and '-')",
  'www-authenticate: Bearer authorization="https://127.0.0.1:1/t", resource="https://vault.azure.net"',
  'WWW-Authenticate: Bearer error="invalid_token", error_description="The access token expired"',
  "Partner Center answered 400: The request is not valid. (MS-RequestId 4d1c9e2a-0b7f-4a43-9f55-3b8f0f6e6a11, MS-CorrelationId ?)",
  '{"code":"BadRequest","description":"top: must be an integer from 1 to 10000","data":[],"source":"PartnerCenter"}',
  "error_code=400 status_code=429 exit code 1",
  "Export 20261124T020000Z-k3x9qa failed (upstream): Partner Center failed with 503 until the retries ran out",
  "Enter the code ABCD-EFGH at https://microsoft.com/devicelogin to sign in.",
  // Masks already applied (ours and the Azure SDK's) stay as they are.
  "authorization: REDACTED",
  '{"authorization":"REDACTED"}',
  "GET https://acct.blob.core.windows.net/referrals/a.csv?sv=2026-10-06&sp=r&sig=REDACTED",
  "Bearer [redacted] [redacted-jwt] refresh_token=[redacted]",
];

describe("redact", () => {
  it.each(SECRET_CASES)("masks %s", (_name, input, expected) => {
    const out = redact(input);
    expect(out).toBe(expected);
    // Whatever the canary would call a credential is gone, and a second pass changes nothing.
    expect(findCredentials(out, [])).toEqual([]);
    expect(redact(out)).toBe(out);
  });

  it.each(INNOCENT)("leaves %j unchanged", (text) => {
    expect(redact(text)).toBe(text);
  });

  it("masks every occurrence, not only the first", () => {
    const out = redact(`sig=${SIG} and sig=${SIG}; Bearer ${OPAQUE}, Bearer ${OPAQUE}`);
    expect(out).toBe("sig=[redacted] and sig=[redacted]; Bearer [redacted], Bearer [redacted]");
  });

  it("names the fields whose values are never shown", () => {
    for (const key of ["authorization", "refreshToken", "client_secret", "password", "sig", "accountKey"])
      expect(SECRET_KEYS.test(key), key).toBe(true);
    for (const key of ["runId", "profile", "status", "rows", "blobPath", "reason"])
      expect(SECRET_KEYS.test(key), key).toBe(false);
  });
});
