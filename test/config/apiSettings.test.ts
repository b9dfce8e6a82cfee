import { describe, expect, it } from "vitest";
import { loadSettings, SettingsError } from "../../src/config/settings.js";

const base = { EXPORT_STORAGE_ACCOUNT_URL: "https://acct.blob.core.windows.net" };
const API = "C4D5E6F7-A8B9-4C0D-9E1F-2A3B4C5D6E7F";

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadSettings({ ...base, ...env });
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  return [];
}

describe("who may call the API, and how much they may make it do", () => {
  it("defaults: no API registration (the API then serves no one), 3 active runs per profile, 12 ad-hoc runs an hour", () => {
    const s = loadSettings(base);
    expect(s.apiAuth).toBeUndefined();
    expect(s.limits).toEqual({ maxActiveRunsPerProfile: 3, maxAdhocRunsPerHour: 12 });
    expect(s.consentRedirectUri).toBeUndefined();
  });

  it("API_CLIENT_ID accepts the client id and its application id URI as audiences; API_AUDIENCE adds one", () => {
    expect(loadSettings({ ...base, API_CLIENT_ID: API }).apiAuth).toEqual({
      clientId: API.toLowerCase(),
      audiences: [API.toLowerCase(), `api://${API.toLowerCase()}`],
    });
    expect(
      loadSettings({ ...base, API_CLIENT_ID: API, API_AUDIENCE: "api://exports.contoso.example" }).apiAuth
        ?.audiences,
    ).toContain("api://exports.contoso.example");
  });

  it("names each bad value", () => {
    expect(problems({ API_CLIENT_ID: "exports-api" })).toEqual([
      "API_CLIENT_ID must be the API app registration's application (client) id, a GUID",
    ]);
    expect(problems({ API_AUDIENCE: "api://x" })).toEqual([
      "API_AUDIENCE is set without API_CLIENT_ID; set the API app registration's client id too",
    ]);
    expect(problems({ API_CLIENT_ID: API, API_AUDIENCE: "https://evil.example" })).toEqual([
      "API_AUDIENCE must be the API's application id URI, e.g. api://<client id>",
    ]);
    expect(problems({ MAX_ACTIVE_RUNS_PER_PROFILE: "0", MAX_ADHOC_RUNS_PER_HOUR: "5000" })).toEqual([
      "MAX_ACTIVE_RUNS_PER_PROFILE must be between 1 and 100",
      "MAX_ADHOC_RUNS_PER_HOUR must be between 0 and 1000",
    ]);
    expect(problems({ CONSENT_REDIRECT_URI: "http://exports.contoso.example/api/consent/callback" })).toEqual(
      ["CONSENT_REDIRECT_URI must use https (http is only allowed with LOCAL_MODE=true)"],
    );
  });

  it("the consent redirect URI: CONSENT_REDIRECT_URI, else App Service's host name; never a local host name", () => {
    expect(loadSettings({ ...base, WEBSITE_HOSTNAME: "func-abc.azurewebsites.net" }).consentRedirectUri).toBe(
      "https://func-abc.azurewebsites.net/api/consent/callback",
    );
    const custom = "https://exports.contoso.example/api/consent/callback";
    expect(
      loadSettings({ ...base, WEBSITE_HOSTNAME: "func-abc.azurewebsites.net", CONSENT_REDIRECT_URI: custom })
        .consentRedirectUri,
    ).toBe(custom);
    // Core Tools set localhost:7071: not an address Entra ID could send a browser back to in Azure.
    expect(loadSettings({ ...base, WEBSITE_HOSTNAME: "localhost:7071" }).consentRedirectUri).toBeUndefined();
  });
});
