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

  it("reads HTTP_READ_LINK_MINUTES: 0 turns read links off, 1 to 1440 is their lifetime", () => {
    expect(loadSettings({ ...base, HTTP_READ_LINK_MINUTES: "0" }).httpReadLinkMinutes).toBe(0);
    expect(loadSettings({ ...base, HTTP_READ_LINK_MINUTES: "1" }).httpReadLinkMinutes).toBe(1);
    expect(loadSettings({ ...base, HTTP_READ_LINK_MINUTES: "1440" }).httpReadLinkMinutes).toBe(1_440);
    // A bad value is named together with every other bad setting.
    const list = problems({ ...base, HTTP_READ_LINK_MINUTES: "2000", EXPORT_PAGE_SIZE: "0" });
    expect(list.some((p) => p.startsWith("HTTP_READ_LINK_MINUTES"))).toBe(true);
    expect(list.some((p) => p.startsWith("EXPORT_PAGE_SIZE"))).toBe(true);
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
});
