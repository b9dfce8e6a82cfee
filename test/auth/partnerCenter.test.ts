import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
} from "@azure/core-rest-pipeline";
import { ConfidentialClientApplication } from "@azure/msal-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPartnerCenterCredential } from "../../src/auth/credential.js";
import { PARTNER_CENTER_SCOPE } from "../../src/auth/options.js";
import { createDataset } from "../../src/simulator/dataset.js";
import { createPartnerCenterRoute } from "../../src/simulator/partnerCenterRoute.js";
import { startAuthFixture, type AuthFixture } from "../support/authFixture.js";

describe("delegated token against the Partner Center route", () => {
  let fx: AuthFixture;
  beforeAll(async () => {
    fx = await startAuthFixture({
      lockContainer: "auth-partner-center-locks",
      extraRoutes: (registry) => [
        createPartnerCenterRoute({ dataset: createDataset({ size: 20, seed: 7 }), tokenVerifier: registry })
          .route,
      ],
    });
  });
  afterAll(async () => {
    await fx.close();
  });

  it("the credential behind the SDK bearer policy is accepted; an app-only token is refused with 403", async () => {
    await fx.consentWithDeviceCode();
    const pipeline = createEmptyPipeline();
    pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({
        credential: createPartnerCenterCredential(fx.options()),
        scopes: PARTNER_CENTER_SCOPE,
      }),
    );
    const client = createDefaultHttpClient();
    const url = `${fx.server.url}/partner/v1/analytics/referrals?top=5`;
    const ok = await pipeline.sendRequest(client, createPipelineRequest({ url }));
    expect(ok.status).toBe(200);

    const app = new ConfidentialClientApplication({
      auth: {
        clientId: fx.clientId,
        authority: `${fx.server.url}/${fx.tenantId}`,
        knownAuthorities: [new URL(fx.server.url).host],
        clientSecret: fx.clientSecret,
      },
    });
    const appOnly = await app.acquireTokenByClientCredential({
      scopes: ["https://api.partnercenter.microsoft.com/.default"],
    });
    const refused = await client.sendRequest(
      createPipelineRequest({
        url,
        headers: createHttpHeaders({ authorization: `Bearer ${appOnly?.accessToken ?? ""}` }),
      }),
    );
    expect(refused.status).toBe(403);
  });
});
