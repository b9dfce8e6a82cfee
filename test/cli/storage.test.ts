import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { AuthenticationError, ChainedTokenCredential, CredentialUnavailableError } from "@azure/identity";
import { BlobServiceClient } from "@azure/storage-blob";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app/app.js";
import type { CliDeps } from "../../src/cli/main.js";
import { cli, closedPort } from "./cliHarness.js";

/**
 * Storage that cannot be used stops a command at once with exit 2 and one message naming the
 * setting, the endpoint and what to do — not after the SDK's retries, and not as a stack of causes.
 */

const KEY = "c3RvcmFnZS1hY2NvdW50LWtleS1mb3ItdGhlLXRlc3Q=";
const SIGN_IN = {
  AZURE_TENANT_ID: "00000000-0000-0000-0000-000000000001",
  PARTNER_CENTER_CLIENT_ID: "00000000-0000-0000-0000-000000000002",
  KEY_VAULT_URL: "https://vault.example",
};

async function closedStorage(): Promise<{
  env: Record<string, string>;
  blobPort: number;
  queuePort: number;
}> {
  const blobPort = await closedPort();
  const queuePort = await closedPort();
  return {
    blobPort,
    queuePort,
    env: {
      ...SIGN_IN,
      EXPORT_STORAGE_CONNECTION_STRING: [
        "DefaultEndpointsProtocol=http",
        "AccountName=devstoreaccount1",
        `AccountKey=${KEY}`,
        `BlobEndpoint=http://127.0.0.1:${blobPort}/devstoreaccount1`,
        `QueueEndpoint=http://127.0.0.1:${queuePort}/devstoreaccount1`,
      ].join(";"),
    },
  };
}

describe("storage that does not answer", () => {
  it.each([
    [["export", "--profile", "all-referrals"]],
    [["export", "--filter", "status eq 'Won'", "--json"]],
    [["runs", "list"]],
    [["auth", "status"]],
  ])(
    "%j -> exit 2 within seconds, naming the setting, the endpoint and how to start Azurite",
    async (argv) => {
      const { env, blobPort } = await closedStorage();
      const result = await cli(argv, env);
      expect(result.code).toBe(2);
      expect(result.ms).toBeLessThan(8_000);
      expect(result.out).toBe("");
      expect(result.errLines).toHaveLength(1);
      expect(result.err).toMatch(
        new RegExp(
          `^referrals-export: Azure Storage is not reachable at 127\\.0\\.0\\.1:${blobPort} \\(the blob endpoint of EXPORT_STORAGE_CONNECTION_STRING\\): connection refused`,
        ),
      );
      expect(result.err).toMatch(
        /Start it with: npx azurite --inMemoryPersistence --skipApiVersionCheck --blobPort \d+/,
      );
      expect(result.err).not.toContain(KEY);
      expect(result.err).not.toMatch(/ECONNREFUSED|\n\s+at /);
    },
  );

  it("an export also names the queue endpoint, with the ports Azurite should listen on", async () => {
    const { env, blobPort, queuePort } = await closedStorage();
    const result = await cli(["export", "--profile", "all-referrals"], env);
    expect(result.code).toBe(2);
    expect(result.err).toContain(
      `127.0.0.1:${queuePort} (the queue endpoint of EXPORT_STORAGE_CONNECTION_STRING)`,
    );
    expect(result.err).toContain(`--blobPort ${blobPort} --queuePort ${queuePort}`);
  });
});

/** The app as the CLI builds it, with the storage clients signing in through `credential`. */
function signingInWith(credential: TokenCredential): CliDeps {
  return {
    openApp: (settings, logger) => {
      const app = createApp(settings, { logger });
      return { ...app, blobService: new BlobServiceClient(app.blobService.url, credential) };
    },
  };
}

const failing = (error: Error): TokenCredential => ({
  getToken: (): Promise<AccessToken | null> => Promise.reject(error),
});

const ACCOUNT_URL_ENV = {
  ...SIGN_IN,
  EXPORT_STORAGE_ACCOUNT_URL: "https://referralsexample.blob.core.windows.net",
};

describe("no Azure sign-in for EXPORT_STORAGE_ACCOUNT_URL", () => {
  it("a credential chain that finds no sign-in -> exit 2 with one line naming what to set", async () => {
    // What DefaultAzureCredential throws on a machine without `az login` or AZURE_* settings.
    const chain = new ChainedTokenCredential(
      failing(
        new CredentialUnavailableError(
          "EnvironmentCredential is unavailable. No underlying credential could be used.",
        ),
      ),
      failing(
        new CredentialUnavailableError(
          "Azure CLI could not be found. Please visit https://aka.ms/azure-cli.",
        ),
      ),
    );
    for (const argv of [
      ["export", "--profile", "all-referrals"],
      ["runs", "list"],
    ]) {
      const result = await cli(argv, ACCOUNT_URL_ENV, signingInWith(chain));
      expect(result.code).toBe(2);
      expect(result.errLines).toHaveLength(1);
      expect(result.err).not.toContain("\n");
      expect(result.err).toMatch(
        /referralsexample\.blob\.core\.windows\.net:443 \(EXPORT_STORAGE_ACCOUNT_URL\)/,
      );
      expect(result.err).toContain("az login");
      expect(result.err).toContain("AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET");
      expect(result.err).toContain("EXPORT_STORAGE_CONNECTION_STRING");
      expect(result.err).not.toMatch(/ChainedTokenCredential|EnvironmentCredential is unavailable/);
    }
  });

  it("a refused sign-in is named as such", async () => {
    const refused = failing(
      new AuthenticationError(401, {
        error: "invalid_client",
        error_description: "AADSTS7000215: Invalid client secret.",
      }),
    );
    const result = await cli(["runs", "list"], ACCOUNT_URL_ENV, signingInWith(refused));
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/Azure refused the sign-in\. Sign in with `az login`/);
  });

  it("is recognised by the error's class, not by its words", async () => {
    const lookalike = failing(
      new Error("ChainedTokenCredential authentication failed. CredentialUnavailableError: none"),
    );
    const result = await cli(["runs", "list"], ACCOUNT_URL_ENV, signingInWith(lookalike));
    expect(result.code).toBe(1);
    expect(result.err).not.toContain("az login");
  });
});
