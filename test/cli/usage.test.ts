import { describe, expect, it } from "vitest";
import { SettingsError } from "../../src/config/settings.js";
import { MAX_LIST_LIMIT } from "../../src/runs/runStore.js";
import { RUNS_LIST_MAX } from "../../src/cli/help.js";
import { UsageError, isUsageError } from "../../src/cli/io.js";
import { cli, closedPort, PACKAGE_VERSION } from "./cliHarness.js";

/**
 * Arguments are checked before settings, settings all at once, and whatever the CLI prints passes
 * the product's redaction. No storage or network is needed: every case stops before either.
 */

const STORAGE_SETTING = /EXPORT_STORAGE_(ACCOUNT_URL|CONNECTION_STRING)/;

describe("usage errors come before settings", () => {
  // No environment at all: the only setting problem would be the storage one.
  const cases: [name: string, argv: string[], message: RegExp][] = [
    ["an unknown format", ["export", "--format", "xlsx"], /--format: must be one of csv, json, parquet/],
    ["--profile without its value", ["export", "--profile"], /--profile.*argument missing/],
    [
      "a filter that does not parse",
      ["export", "--filter", "bogus eq 'x'"],
      /--filter: unknown field 'bogus'/,
    ],
    [
      "a profile with a filter",
      ["export", "--profile", "p", "--filter", "status eq 'Won'"],
      /--filter: cannot be combined/,
    ],
    ["an unknown export option", ["export", "--bogus"], /Unknown option '--bogus'/],
    ["a runs limit of 0", ["runs", "list", "--limit", "0"], /--limit must be a whole number from 1 to 50/],
    ["an unknown runs command", ["runs", "show"], /unknown runs command 'show'/],
    ["--port without --auth-code", ["auth", "login", "--port", "8400"], /--port goes with --auth-code/],
    [
      "both login flows",
      ["auth", "login", "--device-code", "--auth-code"],
      /choose one of --device-code and --auth-code/,
    ],
    [
      "an option auth status does not have",
      ["auth", "status", "--device-code"],
      /Unknown option '--device-code'/,
    ],
    ["an unknown command", ["exprot"], /unknown command 'exprot'/],
  ];

  it.each(cases)("%s -> exit 2 naming it, not the storage setting", async (_name, argv, message) => {
    const result = await cli(argv, {});
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.err).not.toMatch(STORAGE_SETTING);
    expect(result.err).not.toMatch(/Invalid settings/);
    expect(result.out).toBe("");
  });

  it("points a usage error at the command's own help", async () => {
    expect((await cli(["export", "--format", "xlsx"])).err).toMatch(/Run 'referrals-export help export'/);
    expect((await cli(["auth", "login", "--port", "1"])).err).toMatch(
      /Run 'referrals-export help auth login'/,
    );
  });

  it("keeps an argument with control characters on one printable line", async () => {
    const result = await cli(["export", "--na\nme\u001b[2J"]);
    expect(result.code).toBe(2);
    expect(result.errLines).toHaveLength(2);
    expect(result.err).not.toContain("\u001b");
    expect(result.err).toContain("\\u000a");
  });
});

describe("settings are checked in one pass", () => {
  it("names every problem in one message: bad values, storage and the sign-in settings", async () => {
    const result = await cli(["export", "--profile", "all-referrals"], {
      EXPORT_PAGE_SIZE: "0",
      PARTNER_CENTER_CLOUD: "china",
      LOG_LEVEL: "trace",
    });
    expect(result.code).toBe(2);
    expect(result.errLines).toHaveLength(1);
    const text = result.err;
    expect(text.match(/Invalid settings/g)).toHaveLength(1);
    for (const name of [
      /EXPORT_PAGE_SIZE must be between 1 and 10000/,
      /China \(21Vianet\)/,
      /LOG_LEVEL must be error, warn, info or debug/,
      /EXPORT_STORAGE_ACCOUNT_URL is missing/,
      /AZURE_TENANT_ID is missing/,
      /PARTNER_CENTER_CLIENT_ID is missing/,
      /KEY_VAULT_URL is missing/,
    ])
      expect(text).toMatch(name);
  });

  it("runs list needs no sign-in settings", async () => {
    const result = await cli(["runs", "list"], {});
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/EXPORT_STORAGE_ACCOUNT_URL is missing/);
    expect(result.err).not.toMatch(/AZURE_TENANT_ID/);
  });

  it("resolves the profile after the settings, before any storage call", async () => {
    // Storage points at a closed port: reaching it would end in a storage message, not this one.
    const port = await closedPort();
    const result = await cli(["export", "--profile", "nope"], {
      EXPORT_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:${port}/devstoreaccount1`,
      EXPORT_PROFILES: '[{"name":"won-deals","filter":"status eq \'Won\'"}]',
      AZURE_TENANT_ID: "t",
      PARTNER_CENTER_CLIENT_ID: "c",
      KEY_VAULT_URL: "https://vault.example",
    });
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/--profile: unknown profile 'nope'; configured profiles: won-deals/);
    expect(result.err).not.toMatch(/Azure Storage/);
  });
});

describe("what the CLI prints passes redaction", () => {
  it("masks a key and a token in an error's message, and keeps control characters out", async () => {
    const result = await cli(
      ["runs", "list"],
      { EXPORT_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true" },
      {
        openApp: () => {
          throw new Error(
            "could not open AccountKey=c2VjcmV0LWtleS12YWx1ZQ==;BlobEndpoint=x with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\u001b[31m",
          );
        },
      },
    );
    expect(result.code).toBe(1);
    expect(result.err).toContain("AccountKey=[redacted]");
    expect(result.err).not.toContain("c2VjcmV0LWtleS12YWx1ZQ");
    expect(result.err).not.toContain("eyJhbGciOiJIUzI1NiJ9");
    expect(result.err).not.toContain("\u001b");
  });
});

describe("UsageError", () => {
  it("carries the reason 'usage' and is recognised by its guard", () => {
    const error = new UsageError("--limit must be a whole number");
    expect(error.reason).toBe("usage");
    expect(error.name).toBe("UsageError");
    expect(isUsageError(error)).toBe(true);
    expect(isUsageError(new Error("--limit must be a whole number"))).toBe(false);
    expect(isUsageError(new SettingsError(["x"]))).toBe(false);
    expect(isUsageError({ reason: "usage", message: "x" })).toBe(false);
  });
});

describe("--version", () => {
  it.each([["--version"], ["-V"]])("%s prints package.json's version", async (flag) => {
    const result = await cli([flag]);
    expect(result.code).toBe(0);
    expect(result.out).toBe(PACKAGE_VERSION);
    expect(result.err).toBe("");
  });
});

/** The lines under "Examples:" that run the command. */
function examples(text: string, command: string): string[] {
  const section = text.split("Examples:")[1]?.split("\n\n")[0] ?? "";
  return section.split("\n").filter((line) => line.trim().startsWith(`referrals-export ${command}`));
}

describe("help", () => {
  const commands: [topic: string[], options: string[], command: string][] = [
    [
      ["export"],
      ["--profile", "--filter", "--groupby", "--aggregation-level", "--format", "--name", "--json", "--help"],
      "export",
    ],
    [["runs", "list"], ["--profile", "--limit", "--json", "--help"], "runs list"],
    [["auth", "login"], ["--device-code", "--auth-code", "--port", "--help"], "auth login"],
    [["auth", "status"], ["--json", "--help"], "auth status"],
    [
      ["simulate"],
      ["--port", "--rows", "--seed", "--latency-ms", "--faults", "--next-link", "--no-storage", "--help"],
      "simulate",
    ],
  ];

  it.each(commands)(
    "help %j and the command's --help print that command alone, with every option, examples and exit codes",
    async (topic, options, command) => {
      const viaHelp = await cli(["help", ...topic]);
      const viaFlag = await cli([...topic, "--help"]);
      const viaShort = await cli([...topic, "-h"]);
      expect(viaHelp.code).toBe(0);
      expect(viaFlag.code).toBe(0);
      expect(viaFlag.out).toBe(viaHelp.out);
      expect(viaShort.out).toBe(viaHelp.out);
      const text = viaHelp.out;
      expect(text.startsWith(`Usage: referrals-export ${command}`)).toBe(true);
      // Explained: the option starts a line of the options list, with text after it.
      for (const option of options) expect(text).toMatch(new RegExp(`^ {2}(-h, )?${option}\\b.*\\S`, "m"));
      expect(examples(text, command).length).toBeGreaterThanOrEqual(2);
      expect(text).toMatch(/^Exit codes:\n {2}0 /m);
      // No other command's usage.
      expect(text.match(/Usage: referrals-export/g)).toHaveLength(1);
    },
  );

  it("export's help is not the overview or the auth help", async () => {
    const text = (await cli(["help", "export"])).out;
    expect(text).toMatch(/--aggregation-level/);
    expect(text).not.toMatch(/Usage: referrals-export auth/);
    expect(text).not.toMatch(/--auth-code/);
    expect(text).not.toMatch(/^Commands:/m);
  });

  it("auth status --help is the status help, not the login help", async () => {
    const text = (await cli(["auth", "status", "--help"])).out;
    expect(text).toMatch(/^Usage: referrals-export auth status \[--json\]/);
    expect(text).not.toMatch(/--auth-code|--port/);
  });

  it("runs list's --limit range is the run store's", async () => {
    expect(RUNS_LIST_MAX).toBe(MAX_LIST_LIMIT);
    expect((await cli(["help", "runs", "list"])).out).toContain(`1-${MAX_LIST_LIMIT}`);
  });

  it("--help prints the overview: every command with an example, exit codes and help <command>", async () => {
    const result = await cli(["--help"]);
    expect(result.code).toBe(0);
    const text = result.out;
    for (const command of ["export", "runs list", "auth login", "auth status", "simulate"]) {
      expect(text).toMatch(new RegExp(`^ {2}${command} `, "m"));
      expect(text).toMatch(new RegExp(`^ +referrals-export ${command}\\b`, "m"));
    }
    expect(text).toContain("Exit codes:");
    expect(text).toContain("referrals-export help <command>");
    expect(text).toContain("--version");
    expect(text).toContain(PACKAGE_VERSION);
    expect((await cli(["help"])).out).toBe(text);
  });

  it("no command prints the overview on stderr with exit 2; help for an unknown command is a usage error", async () => {
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.out).toBe("");
    expect(none.err).toContain("Exit codes:");
    const unknown = await cli(["help", "deploy"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/no help for 'deploy'/);
  });
});
