/**
 * Entry point the Functions host loads (package.json `main`). Settings are checked before any
 * function is registered: a bad setting makes loading fail with one message naming all of them.
 */
import azureFunctions from "@azure/functions";
import { ManagedIdentityCredential } from "@azure/identity";
import { shutdownAzureMonitor, useAzureMonitor } from "@azure/monitor-opentelemetry";
import { JOB_QUEUE, createApp, lazyApp } from "../app/app.js";
import { appFunctions, loadAppSettings } from "./app.js";
import { registerFunctions, type FunctionHost } from "./runtime.js";
import { stopOnTerminate } from "./terminate.js";

type Env = Readonly<Record<string, string | undefined>>;

const { settings, schedule } = loadAppSettings(process.env);
const telemetryStarted = startAzureMonitor(process.env);
const shutdown = new AbortController();
const app = lazyApp(() => createApp(settings));

const host: FunctionHost = { settings, jobQueueName: JOB_QUEUE, app, abortSignal: shutdown.signal };

registerFunctions(appFunctions(host, schedule));
const stopExports = stopOnTerminate(shutdown, app);
azureFunctions.app.hook.appTerminate(async () => {
  await stopExports();
  // After the exports: their `export.run` events are flushed on the way out, not lost with the instance.
  if (telemetryStarted) await shutdownAzureMonitor().catch(() => undefined);
});

/**
 * Sends the run and consent events (OpenTelemetry log records) to Application Insights when the
 * app has a connection string. The template turns the component's local auth off, so the exporter
 * signs in with the app's managed identity: the one APPLICATIONINSIGHTS_AUTHENTICATION_STRING names
 * (`ClientId=...;Authorization=AAD`), else AZURE_CLIENT_ID's, else the system-assigned one.
 */
function startAzureMonitor(env: Env): boolean {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!connectionString) return false;
  const clientId =
    authenticationClientId(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING) ?? env.AZURE_CLIENT_ID;
  useAzureMonitor({
    azureMonitorExporterOptions: {
      connectionString,
      credential: new ManagedIdentityCredential(clientId ? { clientId } : {}),
    },
    // Every run event is kept, whichever trace it falls in: alerts count them.
    enableTraceBasedSamplingForLogs: false,
  });
  return true;
}

/** `ClientId` of an authentication string such as `ClientId=<guid>;Authorization=AAD`. */
function authenticationClientId(text: string | undefined): string | undefined {
  for (const pair of (text ?? "").split(";")) {
    const [key, value] = pair.split("=", 2).map((part) => part.trim());
    if (key?.toLowerCase() === "clientid" && value) return value;
  }
  return undefined;
}
