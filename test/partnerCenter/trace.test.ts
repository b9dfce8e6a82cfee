import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trustLocalCa } from "../../src/config/localTrust.js";
import { createLogger } from "../../src/logging/logger.js";
import { PartnerCenterClient } from "../../src/partnerCenter/client.js";
import { isPartnerCenterError } from "../../src/partnerCenter/errors.js";
import { validateQuery } from "../../src/partnerCenter/query.js";
import { createDataset } from "../../src/simulator/dataset.js";
import { createPartnerCenterRoute } from "../../src/simulator/partnerCenterRoute.js";
import { startSimulatorServer, type SimulatorServer } from "../../src/simulator/server.js";
import { createSimulatorTls } from "../../src/simulator/tls.js";
import { fixtureCredential, fixtureVerifier } from "../support/exportFixture.js";

/**
 * What Microsoft support asks for about a failed request: its MS-RequestId, MS-CorrelationId and
 * MS-CV. The error a run fails with names all three; the page log names them for pages that arrived.
 */
let api: SimulatorServer;

beforeAll(async () => {
  const tls = await createSimulatorTls(join(tmpdir(), "referrals-export-test-tls"));
  trustLocalCa(tls.caFile);
  const route = createPartnerCenterRoute({
    dataset: createDataset({ size: 300, seed: 5 }),
    tokenVerifier: fixtureVerifier,
    // The first page arrives; the second is refused as a bad request (not retried).
    faults: "400@2",
  });
  api = await startSimulatorServer({ routes: [route.route], tls: { key: tls.key, cert: tls.cert } });
});
afterAll(async () => {
  await api.close();
});

describe("Partner Center's request ids", () => {
  it("a refused request's error names its MS-RequestId, MS-CorrelationId and MS-CV; each page's log line its own", async () => {
    const lines: Record<string, unknown>[] = [];
    const client = new PartnerCenterClient({
      baseUrl: api.url,
      credential: fixtureCredential,
      pageSize: 100,
      maxRetries: 2,
      retryBaseDelayMs: 1,
      logger: createLogger("debug", (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
    });
    const correlationId = randomUUID();
    const pages = client.readReferralPages(validateQuery({}), {
      correlationId,
      deadline: Date.now() + 30_000,
    });
    const error = await (async () => {
      for await (const page of pages) expect(page.rowCount).toBe(100);
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPartnerCenterError(error), String(error)).toBe(true);
    if (!isPartnerCenterError(error)) return;
    const cv = error.trace.cv;
    expect(cv).toMatch(/^[A-Za-z0-9_-]+\.0$/);
    expect(error.message).toMatch(
      new RegExp(
        `\\(MS-RequestId [0-9a-f-]{36}, MS-CorrelationId ${correlationId}, MS-CV ${cv!.replace(/[.]/g, "\\.")}\\)$`,
      ),
    );

    const received = lines.filter((l) => l.msg === "Partner Center page received");
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ index: 0, requestId: expect.any(String) as unknown });
    expect(received[0]?.cv).toMatch(/^[A-Za-z0-9_-]+\.0$/);
    expect(received[0]?.cv).not.toBe(cv);
  });
});
