import { AzureLogger, setLogLevel } from "@azure/logger";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPartnerCenterCredential } from "../../src/auth/credential.js";
import { PARTNER_CENTER_SCOPE } from "../../src/auth/options.js";
import { authLogin, authStatus, type CliIo } from "../../src/cli/authCommands.js";
import { startAuthFixture, type AuthFixture } from "../support/authFixture.js";

describe("log canary", () => {
  let fx: AuthFixture;
  const captured: string[] = [];
  const restore: (() => void)[] = [];

  beforeAll(async () => {
    fx = await startAuthFixture({ lockContainer: "auth-canary-locks" });
    for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
      const original = Object.getOwnPropertyDescriptor(console, method);
      console[method] = (...args: unknown[]) => {
        captured.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
      };
      restore.push(() => {
        if (original) Object.defineProperty(console, method, original);
      });
    }
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = (chunk: string | Uint8Array, ...rest: unknown[]) => {
        captured.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
        return (original as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
      };
      restore.push(() => {
        stream.write = original;
      });
    }
    // The Azure SDK's own logging (Key Vault, identity, storage) at its most verbose.
    const originalAzureLog = AzureLogger.log.bind(AzureLogger);
    AzureLogger.log = (...args: unknown[]) => {
      captured.push(args.map(String).join(" "));
    };
    setLogLevel("verbose");
    restore.push(() => {
      setLogLevel("warning");
      AzureLogger.log = originalAzureLog;
    });
  });

  afterAll(async () => {
    for (const undo of restore.reverse()) undo();
    await fx.close();
  });

  it("no access token, refresh token, client secret or Authorization value reaches any log during consent, refresh and status", async () => {
    const io: CliIo = {
      out: (line) => {
        captured.push(line);
        // The "browser" for the auth-code login: follow the printed sign-in URL.
        if (line.startsWith("https://")) void fetch(line).then((r) => r.body?.cancel());
      },
      err: (line) => captured.push(line),
    };
    const options = fx.options({ msalLogLevel: "verbose" });
    fx.registry.revokeRotatedRefreshTokens = true;
    fx.registry.accessTokenLifetimeSeconds = 1;

    expect(await authLogin(options, { kind: "device-code" }, io)).toBe(0);
    const afterDeviceCode = await createPartnerCenterCredential(options).getToken(PARTNER_CENTER_SCOPE);
    expect(fx.registry.verify(`Bearer ${afterDeviceCode.token}`)).toBe("ok");

    expect(await authLogin(options, { kind: "auth-code" }, io)).toBe(0);
    const credential = createPartnerCenterCredential(options);
    await credential.getToken(PARTNER_CENTER_SCOPE);
    await credential.getToken(PARTNER_CENTER_SCOPE);
    expect(await authStatus(options, io)).toBe(0);
    expect(fx.registry.counters.refreshGrants).toBeGreaterThanOrEqual(3);

    const lines = [...captured, ...fx.logs.map((l) => `${l.level} ${l.message}`)];
    // The capture worked: MSAL's verbose log and the SDK's request log are in there.
    expect(fx.logs.some((l) => l.message.startsWith("msal:"))).toBe(true);
    expect(lines.some((l) => /keyvault|azure:core-rest-pipeline|Request:/i.test(l))).toBe(true);
    const text = lines.join("\n");
    const secrets = [...fx.registry.issuedTokenStrings(), fx.clientSecret, fx.keyVaultClientSecret];
    expect(secrets.length).toBeGreaterThan(6);
    for (const secret of secrets) {
      expect(text.includes(secret), `a secret of length ${secret.length} appeared in the logs`).toBe(false);
    }
    // Any Authorization header that was logged is redacted.
    const logged = [
      ...text.matchAll(/"authorization"\s*:\s*"([^"]*)"/gi),
      ...text.matchAll(/^\s*authorization:\s*(\S+)/gim),
    ];
    expect(logged.length).toBeGreaterThan(0);
    for (const match of logged) expect(match[1]).toBe("REDACTED");
  });
});
