import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { PartnerCenterClient } from "../../src/partnerCenter/client.js";
import { PartnerCenterError, isPartnerCenterError } from "../../src/partnerCenter/errors.js";
import { validateQuery } from "../../src/partnerCenter/query.js";
import { isRetryableListingFailure } from "../../src/partnerCenter/retry.js";
import { createDataset } from "../../src/simulator/dataset.js";
import { createPartnerCenterRoute } from "../../src/simulator/partnerCenterRoute.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import { fixtureCredential, fixtureVerifier } from "../support/exportFixture.js";

let api: SimulatorServer;
/** Another loopback origin, where the hostile @nextLink points. */
let elsewhere: SimulatorServer;

beforeAll(async () => {
  const tls = await createSimulatorTls(join(tmpdir(), "referrals-export-test-tls"));
  trustLocalCa(tls.caFile);
  elsewhere = await startSimulatorServer({ routes: [], tls: { key: tls.key, cert: tls.cert } });
  const route = createPartnerCenterRoute({
    dataset: createDataset({ size: 1_200, seed: 3 }),
    tokenVerifier: fixtureVerifier,
    nextLinkMode: "absolute",
    absoluteOrigin: elsewhere.url,
  });
  api = await startSimulatorServer({ routes: [route.route], tls: { key: tls.key, cert: tls.cert } });
});
afterAll(async () => {
  await api.close();
  await elsewhere.close();
});

describe("which listing failures are worth another run", () => {
  it("a @nextLink off the API's origin: one request for the page, refused, and not retryable", async () => {
    const client = new PartnerCenterClient({
      baseUrl: api.url,
      credential: fixtureCredential,
      pageSize: 500,
      maxRetries: 4,
      retryBaseDelayMs: 1,
    });
    const pages = client.readReferralPages(validateQuery({}), {
      correlationId: randomUUID(),
      deadline: Date.now() + 30_000,
    });
    const error = await (async () => {
      for await (const page of pages) expect(page.index).toBe(0);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPartnerCenterError(error)).toBe(true);
    expect(error).toMatchObject({ reason: "next_link" });
    expect((error as Error).message).toBe(
      `Partner Center returned a @nextLink to ${elsewhere.url}, not ${api.url}; refusing to send the token there`,
    );
    expect(isRetryableListingFailure(error)).toBe(false);
    // However the run wraps it.
    expect(isRetryableListingFailure(new Error("export failed", { cause: error }))).toBe(false);
    expect(api.requests.filter((r) => r.path === "/partner/v1/analytics/referrals")).toHaveLength(1);
    expect(elsewhere.requests).toEqual([]);
  });

  it("other failures stay retryable", () => {
    expect(isRetryableListingFailure(new PartnerCenterError("server", "503"))).toBe(true);
    expect(isRetryableListingFailure(new PartnerCenterError("network", "reset"))).toBe(true);
    expect(isRetryableListingFailure(new Error("socket hang up"))).toBe(true);
    expect(isRetryableListingFailure(undefined)).toBe(true);
  });
});
