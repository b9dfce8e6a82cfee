import type { InvocationContext } from "@azure/functions";
import type { ConsentStatus } from "../app/app.js";
import { invocationLogger, type FunctionDefinition, type FunctionHost } from "./runtime.js";

/** Daily, UTC, half an hour before the default nightly export: a lapsed consent shows before the runs fail. */
export const CONSENT_REPORT_SCHEDULE = "0 30 1 * * *";

/**
 * Once a day, the stored consent's state as a `consent.state` event (alerts watch it: consent
 * needed, or not refreshed for weeks). Checking obtains a token, which also keeps the sign-in used.
 */
export function consentReportFunction(host: FunctionHost): FunctionDefinition {
  return {
    kind: "timer",
    name: "consentReport",
    options: {
      schedule: CONSENT_REPORT_SCHEDULE,
      runOnStartup: false,
      useMonitor: true,
      handler: async (_timer, context) => {
        await reportConsent(host, context);
      },
    },
  };
}

export async function reportConsent(host: FunctionHost, context: InvocationContext): Promise<ConsentStatus> {
  const log = invocationLogger(context, host.settings.logLevel);
  const app = await host.app();
  const consent = await app.consent();
  // Only the contract's fields: the message stays in the invocation's log.
  app.telemetry.emitConsent({
    state: consent.state,
    account: consent.account,
    lastRefreshAt: consent.lastRefreshAt,
    ageHours: consent.ageHours,
    clientType: consent.clientType,
  });
  const fields = { state: consent.state, lastRefreshAt: consent.lastRefreshAt, ageHours: consent.ageHours };
  if (consent.state === "ok") log.info("Consent checked", fields);
  else log.warn("Consent needs attention", { ...fields, message: consent.message });
  return consent;
}
