import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { AccessToken, TokenCredential } from "@azure/core-auth";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../cli/cliHarness.js";

/**
 * `remote export --dataset` builds its body with the local export's parser: the dataset goes to the
 * deployed API as the body's `dataset`, and a query the dataset refuses never leaves the machine.
 */
const RUN_ID = "20261124T020000Z-k3x9qa";
const API_CLIENT_ID = "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8";
const bodies: string[] = [];
let apiUrl = "";
let close: () => void = () => undefined;

const credential: TokenCredential = {
  getToken: (): Promise<AccessToken> =>
    Promise.resolve({ token: "remote-dataset-token", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

beforeAll(async () => {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(Buffer.concat(chunks).toString("utf8"));
      res.writeHead(202, {
        "content-type": "application/json",
        location: `/api/exports/${RUN_ID}`,
        "retry-after": "5",
      });
      res.end(
        JSON.stringify({
          runId: RUN_ID,
          profile: "adhoc-subscriptions",
          status: "queued",
          statusUrl: `/api/exports/${RUN_ID}`,
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => {
  close();
});
beforeEach(() => {
  bodies.length = 0;
});

const env = (): Record<string, string> => ({ REFERRALS_EXPORT_API_URL: apiUrl, API_CLIENT_ID });

describe("remote export --dataset", () => {
  it("sends the dataset with the canonical request fields", async () => {
    const result = await cli(
      ["remote", "export", "--dataset", "subscriptions", "--filter", "autoRenewEnabled eq true"],
      env(),
      { apiCredential: credential },
    );
    expect(result.code).toBe(0);
    expect(result.out).toContain(`Export ${RUN_ID} queued (profile adhoc-subscriptions)`);
    expect(bodies.map((b) => JSON.parse(b) as unknown)).toEqual([
      { dataset: "subscriptions", filter: "autoRenewEnabled eq true" },
    ]);
  });

  it.each([
    [
      ["--dataset", "subscriptions", "--filter", "customerName eq 'Contoso'"],
      "--filter: operator 'eq' is not allowed on 'customerName' in dataset subscriptions (allowed on it: contains())",
    ],
    [["--dataset", "azure"], '--dataset: unknown dataset "azure"; known datasets: referrals, search,'],
    [
      ["--dataset", "licensesUsage", "--groupby", "channel", "--aggregation-level", "day"],
      "--aggregation-level: is not offered by dataset licensesUsage",
    ],
  ])("refuses %j before any request", async (flags, message) => {
    const result = await cli(["remote", "export", ...flags], env(), { apiCredential: credential });
    expect(result.code).toBe(2);
    expect(result.err).toContain(message);
    expect(bodies).toEqual([]);
  });
});
