import { describe, expect, it } from "vitest";
import { loadSettings, SettingsError } from "../../src/config/settings.js";

const base = { EXPORT_STORAGE_ACCOUNT_URL: "https://acct.blob.core.windows.net" };

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof SettingsError) return error.problems;
    throw error;
  }
  return [];
}

describe("settings", () => {
  it("uses documented defaults", () => {
    const s = loadSettings(base);
    expect(s.cloud).toBe("global");
    expect(s.partnerCenterBaseUrl).toBe("https://api.partnercenter.microsoft.com");
    expect(s.exportContainer).toBe("referrals");
    expect(s.schedule).toBe("0 0 2 * * *");
    expect(s.pageSize).toBe(10_000);
    expect(s.httpReadLinkMinutes).toBe(0);
    expect(s.profiles.map((p) => p.name)).toEqual(["all-referrals"]);
    expect(s.storage).toEqual({
      kind: "accountUrl",
      blobUrl: "https://acct.blob.core.windows.net",
      queueUrl: "https://acct.queue.core.windows.net",
    });
  });

  it("names every bad setting in one error, first-pass and second-pass problems together", () => {
    const list = problems({ PARTNER_CENTER_CLOUD: "china", EXPORT_PAGE_SIZE: "0", EXPORT_PROFILES: "[{}]" });
    expect(list.join("\n")).toMatch(/China \(21Vianet\)/);
    expect(list.join("\n")).toMatch(/EXPORT_PAGE_SIZE must be between 1 and 10000/);
    expect(list.join("\n")).toMatch(/EXPORT_STORAGE_ACCOUNT_URL is missing/);
    expect(list.join("\n")).toMatch(/EXPORT_PROFILES\[0\]\.name/);
  });

  it.each([
    [
      { PARTNER_CENTER_BASE_URL: "http://api.partnercenter.microsoft.com" },
      /PARTNER_CENTER_BASE_URL must use https/,
    ],
    [{ PARTNER_CENTER_BASE_URL: "https://127.0.0.1:8443" }, /points at this machine.*LOCAL_MODE/],
    [{ KEY_VAULT_URL: "https://localhost/" }, /KEY_VAULT_URL points at this machine/],
    [{ LOCAL_CA_CERT_FILE: "/tmp/ca.pem" }, /LOCAL_CA_CERT_FILE is only allowed with LOCAL_MODE=true/],
    [{ EXPORT_PROFILES: '[{"name":"adhoc"}]' }, /'adhoc' is reserved/],
    [{ EXPORT_PROFILES: '[{"name":"a"},{"name":"a"}]' }, /defined twice/],
    [
      { EXPORT_PROFILES: '[{"name":"x","filter":"status eq \'Won"}]' },
      /EXPORT_PROFILES\[0\]\.filter: unterminated/,
    ],
    [{ EXPORT_PROFILES: "not json" }, /EXPORT_PROFILES is not valid JSON/],
    [{ EXPORT_SCHEDULE: "0 2 * * *" }, /six-field NCRONTAB/],
    [{ EXPORT_CONTAINER: "Bad_Name" }, /EXPORT_CONTAINER must be a valid container name/],
    [{ EXPORT_CSV_BOM: "yes" }, /EXPORT_CSV_BOM must be true or false/],
    [
      { HTTP_READ_LINK_MINUTES: "1441" },
      /HTTP_READ_LINK_MINUTES must be a whole number of minutes from 1 to 1440/,
    ],
    [{ HTTP_READ_LINK_MINUTES: "-5" }, /HTTP_READ_LINK_MINUTES .*or 0 to turn read links off/],
    [{ HTTP_READ_LINK_MINUTES: "15.5" }, /HTTP_READ_LINK_MINUTES must be a whole number/],
    [{ HTTP_READ_LINK_MINUTES: "an hour" }, /HTTP_READ_LINK_MINUTES must be a whole number/],
    [{ HTTP_READ_LINK_MINUTES: "9999999999" }, /HTTP_READ_LINK_MINUTES must be a whole number/],
  ])("rejects %j", (env, message) => {
    expect(problems({ ...base, ...env }).join("\n")).toMatch(message);
  });

  it("refuses a profile filter under 2,000 characters whose canonical form is longer, at start-up", () => {
    // Written without the spaces the canonical form puts in: 1,997 characters become 2,196.
    const filter = Array.from({ length: 100 }, (_, i) => `status eq'${String(i).padStart(6, "0")}'`).join(
      "or ",
    );
    const list = problems({ ...base, EXPORT_PROFILES: JSON.stringify([{ name: "compact", filter }]) });
    expect(list).toEqual([
      "EXPORT_PROFILES[0].filter: longer than 2000 characters once written in canonical form, with single spaces between its parts (got 2196)",
    ]);
  });

  it("reads HTTP_READ_LINK_MINUTES: 0 turns read links off, 1 to 1440 is their lifetime", () => {
    expect(loadSettings({ ...base, HTTP_READ_LINK_MINUTES: "0" }).httpReadLinkMinutes).toBe(0);
    expect(loadSettings({ ...base, HTTP_READ_LINK_MINUTES: "1" }).httpReadLinkMinutes).toBe(1);
    expect(loadSettings({ ...base, HTTP_READ_LINK_MINUTES: "1440" }).httpReadLinkMinutes).toBe(1_440);
    // A bad value is named together with every other bad setting.
    const list = problems({ ...base, HTTP_READ_LINK_MINUTES: "2000", EXPORT_PAGE_SIZE: "0" });
    expect(list.some((p) => p.startsWith("HTTP_READ_LINK_MINUTES"))).toBe(true);
    expect(list.some((p) => p.startsWith("EXPORT_PAGE_SIZE"))).toBe(true);
  });

  describe("Partner Center and Entra ID origins outside local mode", () => {
    const simulatorOnly = /LOCAL_MODE=true is only for the local simulator/;

    it.each([
      ["global", "https://evil.example", "evil.example"],
      [
        "global",
        "https://api.partnercenter.microsoft.com.evil.example",
        "api.partnercenter.microsoft.com.evil.example",
      ],
      ["global", "https://evil.example/partner/v1", "evil.example"],
      ["global", "https://api.partnercenter.microsoft.com:8443", "api.partnercenter.microsoft.com:8443"],
      ["global", "https://partnercenter.microsoft.com", "partnercenter.microsoft.com"],
      ["global", "https://api.partnercenter.microsoft.com/elsewhere", "api.partnercenter.microsoft.com"],
      ["usgov", "https://api.partnercenter.microsoft.us", "api.partnercenter.microsoft.us"],
    ])("PARTNER_CENTER_CLOUD=%s refuses PARTNER_CENTER_BASE_URL=%s", (cloud, value, host) => {
      const list = problems({ ...base, PARTNER_CENTER_CLOUD: cloud, PARTNER_CENTER_BASE_URL: value });
      const problem = list.find((p) => p.startsWith("PARTNER_CENTER_BASE_URL"));
      expect(problem).toContain(`points at ${host};`);
      expect(problem).toContain("must be exactly https://api.partnercenter.microsoft.com");
      expect(problem).toMatch(simulatorOnly);
    });

    it.each([
      ["global", "https://login.evil.example", "login.evil.example", "https://login.microsoftonline.com"],
      [
        "global",
        "https://login.microsoftonline.com.evil.example",
        "login.microsoftonline.com.evil.example",
        "https://login.microsoftonline.com",
      ],
      [
        "global",
        "https://login.microsoftonline.us",
        "login.microsoftonline.us",
        "https://login.microsoftonline.com",
      ],
      [
        "usgov",
        "https://login.microsoftonline.com",
        "login.microsoftonline.com",
        "https://login.microsoftonline.us",
      ],
    ])("PARTNER_CENTER_CLOUD=%s refuses PARTNER_CENTER_AUTHORITY_HOST=%s", (cloud, value, host, allowed) => {
      const list = problems({ ...base, PARTNER_CENTER_CLOUD: cloud, PARTNER_CENTER_AUTHORITY_HOST: value });
      const problem = list.find((p) => p.startsWith("PARTNER_CENTER_AUTHORITY_HOST"));
      expect(problem).toContain(`points at ${host};`);
      expect(problem).toContain(`must be exactly ${allowed}`);
      expect(problem).toMatch(simulatorOnly);
    });

    it("names both with every other bad setting in one error at start-up", () => {
      const error = (() => {
        try {
          return loadSettings({
            ...base,
            PARTNER_CENTER_BASE_URL: "https://evil.example",
            PARTNER_CENTER_AUTHORITY_HOST: "https://login.evil.example",
            EXPORT_PAGE_SIZE: "0",
          });
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(SettingsError);
      const list = (error as SettingsError).problems;
      expect(list.filter((p) => p.startsWith("PARTNER_CENTER_BASE_URL"))).toHaveLength(1);
      expect(list.filter((p) => p.startsWith("PARTNER_CENTER_AUTHORITY_HOST"))).toHaveLength(1);
      expect(list.some((p) => p.startsWith("EXPORT_PAGE_SIZE"))).toBe(true);
    });

    it.each([
      ["global", "https://api.partnercenter.microsoft.com", "https://login.microsoftonline.com"],
      ["global", "https://API.PartnerCenter.Microsoft.com/", "https://LOGIN.microsoftonline.com/"],
      ["global", "https://api.partnercenter.microsoft.com.:443/", "https://login.microsoftonline.com."],
      ["usgov", "https://api.partnercenter.microsoft.com", "https://login.microsoftonline.us"],
    ])("PARTNER_CENTER_CLOUD=%s accepts %s and %s, in canonical form", (cloud, baseUrl, authority) => {
      const s = loadSettings({
        ...base,
        PARTNER_CENTER_CLOUD: cloud,
        PARTNER_CENTER_BASE_URL: baseUrl,
        PARTNER_CENTER_AUTHORITY_HOST: authority,
      });
      expect(s.partnerCenterBaseUrl).toBe("https://api.partnercenter.microsoft.com");
      // The sign-in uses the cloud's own authority; no override outside local mode.
      expect(s.authorityHost).toBeUndefined();
    });
  });

  it("allows the simulator's loopback endpoints in local mode", () => {
    const s = loadSettings({
      ...base,
      LOCAL_MODE: "true",
      PARTNER_CENTER_BASE_URL: "https://127.0.0.1:8443/",
      KEY_VAULT_URL: "https://127.0.0.1:8443",
    });
    expect(s.partnerCenterBaseUrl).toBe("https://127.0.0.1:8443");
  });

  it("allows any https Partner Center and authority origin in local mode", () => {
    const s = loadSettings({
      ...base,
      LOCAL_MODE: "true",
      PARTNER_CENTER_BASE_URL: "https://pc.simulator.example:8443/",
      PARTNER_CENTER_AUTHORITY_HOST: "https://127.0.0.1:8443/",
    });
    expect(s.partnerCenterBaseUrl).toBe("https://pc.simulator.example:8443");
    expect(s.authorityHost).toBe("https://127.0.0.1:8443");
  });
});
