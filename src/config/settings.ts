import { z } from "zod";
import {
  entraAuthorityHost,
  isSameOrigin,
  partnerCenterBaseUrl,
  type Cloud,
} from "../partnerCenter/clouds.js";
import { isQueryValidationError } from "../partnerCenter/query.js";
import type { ExportProfile } from "../runs/profiles.js";
import { exportProfileSchema, toExportProfile } from "./profiles.js";

export type StorageTarget =
  | { readonly kind: "connectionString"; readonly connectionString: string }
  | { readonly kind: "accountUrl"; readonly blobUrl: string; readonly queueUrl: string };

export type AppCredentialSetting =
  | { readonly kind: "managed-identity"; readonly managedIdentityClientId?: string }
  | { readonly kind: "secret"; readonly secretName: string }
  | { readonly kind: "certificate"; readonly certificateName: string };

/** Typed product settings, read once from app settings / environment variables. */
export interface Settings {
  readonly cloud: Cloud;
  readonly partnerCenterBaseUrl: string;
  readonly authorityHost?: string;
  readonly tenantId?: string;
  readonly clientId?: string;
  readonly appCredential: AppCredentialSetting;
  readonly keyVaultUrl?: string;
  readonly tokenCacheSecretName: string;
  readonly storage: StorageTarget;
  readonly exportContainer: string;
  readonly profiles: readonly ExportProfile[];
  readonly schedule: string;
  readonly pageSize: number;
  readonly prefetchPages: number;
  readonly maxRetries: number;
  readonly csvFormulaGuard: boolean;
  readonly csvBom: boolean;
  readonly deadlineSeconds: number;
  readonly onCountMismatch: "fail" | "warn";
  /** Lifetime of the read links the status API signs on request; 0 turns them off. */
  readonly httpReadLinkMinutes: number;
  /** Who may call the HTTP API; absent when API_CLIENT_ID is not set (the API then refuses every call). */
  readonly apiAuth?: ApiAuthSettings;
  /** What callers can make the app do. */
  readonly limits: RunLimits;
  /** Where Entra ID sends the browser back after consent through the app (POST /api/consent). */
  readonly consentRedirectUri?: string;
  readonly localMode: boolean;
  readonly localCaCertFile?: string;
  readonly logLevel: "error" | "warn" | "info" | "debug";
}

/** The API's app registration: callers' bearer tokens must be issued for it. */
export interface ApiAuthSettings {
  /** Application (client) id of the API's app registration. */
  readonly clientId: string;
  /** Accepted `aud` values: the client id (v2.0 tokens) and the application id URI. */
  readonly audiences: readonly string[];
}

export interface RunLimits {
  /** Runs of one profile that may be queued or running at once; more are refused with 429. */
  readonly maxActiveRunsPerProfile: number;
  /** Ad-hoc runs (profile-less, named) the app accepts in any rolling hour. */
  readonly maxAdhocRunsPerHour: number;
}

export class SettingsError extends Error {
  override readonly name = "SettingsError";
  readonly reason = "invalid_settings";
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = problems;
  }
}

export function isSettingsError(error: unknown): error is SettingsError {
  return error instanceof SettingsError;
}

export const DEFAULT_SCHEDULE = "0 0 2 * * *";
export const MAX_PAGE_SIZE = 10_000;
/** Longest lifetime of a status API read link: one day. */
export const MAX_READ_LINK_MINUTES = 1_440;

const bool = (name: string) =>
  z
    .enum(["true", "false", "1", "0"], { error: () => `${name} must be true or false` })
    .transform((v) => v === "true" || v === "1");

const intIn = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `${name} must be between ${min} and ${max}`);

const httpsUrl = (name: string) =>
  z
    .url({ error: () => `${name} must be an absolute URL` })
    .refine((u) => !/[?#]/.test(u), `${name} must not carry a query or fragment`)
    // `https://api.partnercenter.microsoft.com@evil.example` goes to evil.example: never legitimate here.
    .refine(
      (u) => !URL.canParse(u) || (new URL(u).username === "" && new URL(u).password === ""),
      `${name} must not contain a user name or password (text before '@' in the host)`,
    );

const READ_LINK_MINUTES_RULE = `HTTP_READ_LINK_MINUTES must be a whole number of minutes from 1 to ${MAX_READ_LINK_MINUTES}, or 0 to turn read links off`;

/** Six-field NCRONTAB (with seconds), as Azure Functions timers use. */
const ncrontab = z
  .string()
  .refine(
    (v) => v.trim().split(/\s+/).length === 6 && /^[\d*/,\- A-Za-z]+$/.test(v),
    "EXPORT_SCHEDULE must be a six-field NCRONTAB expression such as '0 0 2 * * *' (sec min hour day month weekday)",
  );

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const envSchema = z.object({
  PARTNER_CENTER_CLOUD: z
    .string()
    .default("global")
    .superRefine((v, ctx) => {
      if (v === "china")
        ctx.addIssue({
          code: "custom",
          message:
            "PARTNER_CENTER_CLOUD=china: Partner Center referrals analytics is not offered in the China (21Vianet) cloud",
        });
      else if (v !== "global" && v !== "usgov")
        ctx.addIssue({ code: "custom", message: `PARTNER_CENTER_CLOUD must be global or usgov, not '${v}'` });
    })
    .transform((v) => v as Cloud),
  PARTNER_CENTER_BASE_URL: httpsUrl("PARTNER_CENTER_BASE_URL").optional(),
  PARTNER_CENTER_AUTHORITY_HOST: httpsUrl("PARTNER_CENTER_AUTHORITY_HOST").optional(),
  AZURE_TENANT_ID: z.string().min(1).optional(),
  PARTNER_CENTER_CLIENT_ID: z.string().min(1).optional(),
  PARTNER_CENTER_CREDENTIAL: z
    .enum(["managed-identity", "secret", "certificate"], {
      error: () => "PARTNER_CENTER_CREDENTIAL must be managed-identity, secret or certificate",
    })
    .default("managed-identity"),
  PARTNER_CENTER_CLIENT_SECRET_NAME: z.string().default("partner-center-client-secret"),
  PARTNER_CENTER_CERTIFICATE_NAME: z.string().default("partner-center-client-certificate"),
  AZURE_CLIENT_ID: z.string().min(1).optional(),
  KEY_VAULT_URL: httpsUrl("KEY_VAULT_URL").optional(),
  TOKEN_CACHE_SECRET_NAME: z
    .string()
    .regex(
      /^[0-9a-zA-Z-]{1,127}$/,
      "TOKEN_CACHE_SECRET_NAME must be 1-127 characters of 0-9, a-z, A-Z and '-'",
    )
    .default("partner-center-token-cache"),
  EXPORT_STORAGE_ACCOUNT_URL: httpsUrl("EXPORT_STORAGE_ACCOUNT_URL").optional(),
  EXPORT_STORAGE_CONNECTION_STRING: z.string().min(1).optional(),
  EXPORT_CONTAINER: z
    .string()
    .regex(
      /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
      "EXPORT_CONTAINER must be a valid container name (3-63 of a-z, 0-9, '-')",
    )
    .default("referrals"),
  EXPORT_PROFILES: z.string().default('[{"name":"all-referrals"}]'),
  EXPORT_SCHEDULE: ncrontab.default(DEFAULT_SCHEDULE),
  EXPORT_PAGE_SIZE: intIn("EXPORT_PAGE_SIZE", 1, MAX_PAGE_SIZE).default(MAX_PAGE_SIZE),
  EXPORT_PREFETCH_PAGES: intIn("EXPORT_PREFETCH_PAGES", 1, 16).default(4),
  EXPORT_MAX_RETRIES: intIn("EXPORT_MAX_RETRIES", 0, 20).default(8),
  EXPORT_CSV_FORMULA_GUARD: bool("EXPORT_CSV_FORMULA_GUARD").default(true),
  EXPORT_CSV_BOM: bool("EXPORT_CSV_BOM").default(false),
  EXPORT_DEADLINE_SECONDS: intIn("EXPORT_DEADLINE_SECONDS", 10, 86_400).default(1_800),
  EXPORT_ON_COUNT_MISMATCH: z
    .enum(["fail", "warn"], { error: () => "EXPORT_ON_COUNT_MISMATCH must be fail or warn" })
    .default("fail"),
  HTTP_READ_LINK_MINUTES: z
    .string()
    .regex(/^\d{1,5}$/, READ_LINK_MINUTES_RULE)
    .transform(Number)
    .refine((n) => n <= MAX_READ_LINK_MINUTES, READ_LINK_MINUTES_RULE)
    .default(0),
  API_CLIENT_ID: z
    .string()
    .regex(GUID, "API_CLIENT_ID must be the API app registration's application (client) id, a GUID")
    .optional(),
  API_AUDIENCE: z
    .string()
    .regex(
      /^api:\/\/[^\s/?#]{1,200}$/,
      "API_AUDIENCE must be the API's application id URI, e.g. api://<client id>",
    )
    .optional(),
  CONSENT_REDIRECT_URI: httpsUrl("CONSENT_REDIRECT_URI").optional(),
  MAX_ACTIVE_RUNS_PER_PROFILE: intIn("MAX_ACTIVE_RUNS_PER_PROFILE", 1, 100).default(3),
  MAX_ADHOC_RUNS_PER_HOUR: intIn("MAX_ADHOC_RUNS_PER_HOUR", 0, 1000).default(12),
  LOCAL_MODE: bool("LOCAL_MODE").default(false),
  LOCAL_CA_CERT_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z
    .enum(["error", "warn", "info", "debug"], { error: () => "LOG_LEVEL must be error, warn, info or debug" })
    .default("info"),
});

type Env = Readonly<Record<string, string | undefined>>;

const KNOWN = Object.keys(envSchema.shape);

/**
 * Reads and validates every setting at once; throws SettingsError naming every bad
 * setting so a misconfigured app fails at start-up with one actionable message.
 */
export function loadSettings(env: Env = process.env): Settings {
  // Empty app settings mean "not set", as the portal leaves them.
  const raw = Object.fromEntries(KNOWN.map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const problems: string[] = [];
  let parsed = envSchema.safeParse(raw);
  if (!parsed.success) {
    const bad = new Set<string>();
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? "");
      bad.add(key);
      problems.push(issue.message.startsWith(key) ? issue.message : `${key}: ${issue.message}`);
    }
    // Carry on with defaults in place of the bad values, so one start-up names every bad setting.
    parsed = envSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([k]) => !bad.has(k))));
    if (!parsed.success) throw new SettingsError(problems);
  }
  const e = parsed.data;
  const localMode = e.LOCAL_MODE;

  const cloud = e.PARTNER_CENTER_CLOUD;
  const baseUrl = e.PARTNER_CENTER_BASE_URL ?? partnerCenterBaseUrl(cloud);
  for (const [name, value, allowed] of [
    ["PARTNER_CENTER_BASE_URL", baseUrl, partnerCenterBaseUrl(cloud)],
    ["PARTNER_CENTER_AUTHORITY_HOST", e.PARTNER_CENTER_AUTHORITY_HOST, entraAuthorityHost(cloud)],
    ["KEY_VAULT_URL", e.KEY_VAULT_URL, undefined],
    ["EXPORT_STORAGE_ACCOUNT_URL", e.EXPORT_STORAGE_ACCOUNT_URL, undefined],
    ["CONSENT_REDIRECT_URI", e.CONSENT_REDIRECT_URI, undefined],
  ] as const) {
    if (value === undefined) continue;
    const problem =
      remoteUrlProblem(name, value, localMode) ??
      (localMode || allowed === undefined ? undefined : foreignOriginProblem(name, value, allowed, cloud));
    if (problem) problems.push(problem);
  }
  if (e.LOCAL_CA_CERT_FILE && !localMode)
    problems.push("LOCAL_CA_CERT_FILE is only allowed with LOCAL_MODE=true");

  let storage: StorageTarget | undefined;
  if (e.EXPORT_STORAGE_CONNECTION_STRING && e.EXPORT_STORAGE_ACCOUNT_URL) {
    problems.push("EXPORT_STORAGE_ACCOUNT_URL and EXPORT_STORAGE_CONNECTION_STRING are both set; set one");
  } else if (e.EXPORT_STORAGE_CONNECTION_STRING) {
    storage = { kind: "connectionString", connectionString: e.EXPORT_STORAGE_CONNECTION_STRING };
  } else if (e.EXPORT_STORAGE_ACCOUNT_URL) {
    const blobUrl = e.EXPORT_STORAGE_ACCOUNT_URL.replace(/\/+$/, "");
    storage = { kind: "accountUrl", blobUrl, queueUrl: blobUrl.replace(".blob.", ".queue.") };
  } else {
    problems.push(
      "EXPORT_STORAGE_ACCOUNT_URL is missing (https://<account>.blob.core.windows.net), or set EXPORT_STORAGE_CONNECTION_STRING for Azurite",
    );
  }

  const profiles = parseProfiles(e.EXPORT_PROFILES, cloud, problems);

  let appCredential: AppCredentialSetting;
  if (e.PARTNER_CENTER_CREDENTIAL === "secret")
    appCredential = { kind: "secret", secretName: e.PARTNER_CENTER_CLIENT_SECRET_NAME };
  else if (e.PARTNER_CENTER_CREDENTIAL === "certificate")
    appCredential = { kind: "certificate", certificateName: e.PARTNER_CENTER_CERTIFICATE_NAME };
  else
    appCredential = e.AZURE_CLIENT_ID
      ? { kind: "managed-identity", managedIdentityClientId: e.AZURE_CLIENT_ID }
      : { kind: "managed-identity" };

  if (e.API_AUDIENCE && !e.API_CLIENT_ID)
    problems.push("API_AUDIENCE is set without API_CLIENT_ID; set the API app registration's client id too");
  const apiAuth: ApiAuthSettings | undefined = e.API_CLIENT_ID
    ? {
        clientId: e.API_CLIENT_ID.toLowerCase(),
        audiences: [
          ...new Set([
            e.API_CLIENT_ID.toLowerCase(),
            `api://${e.API_CLIENT_ID.toLowerCase()}`,
            e.API_AUDIENCE ?? "",
          ]),
        ].filter((a) => a !== ""),
      }
    : undefined;

  // App Service sets WEBSITE_HOSTNAME to the app's default host name (Core Tools to localhost:port,
  // which local mode does not use: the dev host answers consent on the address it was called at).
  const hostName = env.WEBSITE_HOSTNAME;
  const consentRedirectUri =
    e.CONSENT_REDIRECT_URI ??
    (!localMode && hostName && /^[A-Za-z0-9.-]{1,253}$/.test(hostName)
      ? `https://${hostName.toLowerCase()}/api/consent/callback`
      : undefined);

  if (problems.length > 0 || !storage) throw new SettingsError(problems);

  return {
    cloud,
    // Outside local mode both were checked to be the cloud's own origin: keep its canonical form,
    // and leave the authority to the sign-in's built-in mapping (which allows no override there).
    partnerCenterBaseUrl: localMode ? baseUrl.replace(/\/+$/, "") : partnerCenterBaseUrl(cloud),
    ...(e.PARTNER_CENTER_AUTHORITY_HOST && localMode
      ? { authorityHost: e.PARTNER_CENTER_AUTHORITY_HOST.replace(/\/+$/, "") }
      : {}),
    ...(e.AZURE_TENANT_ID ? { tenantId: e.AZURE_TENANT_ID } : {}),
    ...(e.PARTNER_CENTER_CLIENT_ID ? { clientId: e.PARTNER_CENTER_CLIENT_ID } : {}),
    appCredential,
    ...(e.KEY_VAULT_URL ? { keyVaultUrl: e.KEY_VAULT_URL.replace(/\/+$/, "") } : {}),
    tokenCacheSecretName: e.TOKEN_CACHE_SECRET_NAME,
    storage,
    exportContainer: e.EXPORT_CONTAINER,
    profiles,
    schedule: e.EXPORT_SCHEDULE,
    pageSize: e.EXPORT_PAGE_SIZE,
    prefetchPages: e.EXPORT_PREFETCH_PAGES,
    maxRetries: e.EXPORT_MAX_RETRIES,
    csvFormulaGuard: e.EXPORT_CSV_FORMULA_GUARD,
    csvBom: e.EXPORT_CSV_BOM,
    deadlineSeconds: e.EXPORT_DEADLINE_SECONDS,
    onCountMismatch: e.EXPORT_ON_COUNT_MISMATCH,
    httpReadLinkMinutes: e.HTTP_READ_LINK_MINUTES,
    ...(apiAuth ? { apiAuth } : {}),
    limits: {
      maxActiveRunsPerProfile: e.MAX_ACTIVE_RUNS_PER_PROFILE,
      maxAdhocRunsPerHour: e.MAX_ADHOC_RUNS_PER_HOUR,
    },
    ...(consentRedirectUri ? { consentRedirectUri } : {}),
    localMode,
    ...(e.LOCAL_CA_CERT_FILE ? { localCaCertFile: e.LOCAL_CA_CERT_FILE } : {}),
    logLevel: e.LOG_LEVEL,
  };
}

/** Settings that the export path needs; auth-only settings are checked where auth is used. */
export function requireAuthSettings(settings: Settings): void {
  const missing: string[] = [];
  if (!settings.tenantId) missing.push("AZURE_TENANT_ID is missing (the partner's Entra tenant id)");
  if (!settings.clientId)
    missing.push("PARTNER_CENTER_CLIENT_ID is missing (the app registration's client id)");
  if (!settings.keyVaultUrl) missing.push("KEY_VAULT_URL is missing (https://<vault>.vault.azure.net)");
  if (missing.length > 0) throw new SettingsError(missing);
}

/**
 * Outside local mode only HTTPS to a non-loopback host is allowed, so a mistyped or
 * hostile setting can never send a token in clear text or to this machine.
 */
function remoteUrlProblem(name: string, value: string, localMode: boolean): string | undefined {
  const url = new URL(value);
  if (localMode) {
    if (url.protocol !== "https:" && url.protocol !== "http:") return `${name} must be an http(s) URL`;
    return undefined;
  }
  if (url.protocol !== "https:") return `${name} must use https (http is only allowed with LOCAL_MODE=true)`;
  if (isLoopbackHost(url.hostname))
    return `${name} points at this machine (${url.hostname}); that needs LOCAL_MODE=true`;
  return undefined;
}

/**
 * Outside local mode the delegated token and the sign-in go only to the cloud's own Partner Center
 * and Entra ID origins: any other host (look-alikes such as `api.partnercenter.microsoft.com.evil.example`
 * included) would receive them.
 */
function foreignOriginProblem(
  name: string,
  value: string,
  allowed: string,
  cloud: Cloud,
): string | undefined {
  if (isSameOrigin(value, allowed)) return undefined;
  const what = name === "PARTNER_CENTER_BASE_URL" ? "Partner Center API" : "Entra ID sign-in authority";
  return (
    `${name} points at ${new URL(value).host}; without LOCAL_MODE=true it must be exactly ${allowed} ` +
    `(the ${what} origin of the ${cloud} cloud, no path). LOCAL_MODE=true is only for the local simulator`
  );
}

export function isLoopbackHost(hostname: string): boolean {
  // A trailing dot names the same host (`localhost.`); brackets wrap IPv6 literals.
  const h = hostname
    .replace(/^\[|\]$/g, "")
    .toLowerCase()
    .replace(/\.+$/, "");
  if (h === "localhost" || h.endsWith(".localhost") || /^127\./.test(h) || h === "0.0.0.0") return true;
  // ::1, and :: (the unspecified address, which reaches this machine).
  if (h === "::1" || h === "::") return true;
  // IPv4-mapped IPv6: the URL parser writes [::ffff:127.0.0.1] as [::ffff:7f00:1].
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (mapped) {
    const high = parseInt(mapped[1] ?? "0", 16);
    return high >> 8 === 127 || (high === 0 && parseInt(mapped[2] ?? "0", 16) === 0);
  }
  return false;
}

function parseProfiles(text: string, cloud: Cloud, problems: string[]): ExportProfile[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    problems.push(
      `EXPORT_PROFILES is not valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
    return [];
  }
  const list = z.array(z.unknown()).min(1).safeParse(json);
  if (!list.success) {
    problems.push("EXPORT_PROFILES must be a JSON array with at least one profile");
    return [];
  }
  const profiles: ExportProfile[] = [];
  const seen = new Set<string>();
  list.data.forEach((item, i) => {
    const at = `EXPORT_PROFILES[${i}]`;
    const parsed = exportProfileSchema.safeParse(item);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const path = issue.path.length > 0 ? `.${issue.path.join(".")}` : "";
        problems.push(`${at}${path}: ${issue.message}`);
      }
      return;
    }
    const p = parsed.data;
    if (seen.has(p.name)) {
      problems.push(`${at}.name: profile '${p.name}' is defined twice`);
      return;
    }
    seen.add(p.name);
    try {
      // The profile's dataset and its query, checked for that dataset and this cloud.
      profiles.push(toExportProfile(p, cloud));
    } catch (error) {
      if (isQueryValidationError(error)) problems.push(`${at}.${error.message}`);
      else throw error;
    }
  });
  return profiles;
}
