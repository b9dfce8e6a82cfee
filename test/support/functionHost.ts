import { randomBytes } from "node:crypto";
import azureFunctions from "@azure/functions";
import { createApp, type App, type AppOptions } from "../../src/app/app.js";
import type { FunctionHost } from "../../src/functions/runtime.js";
import { testApiTokens } from "./apiTokens.js";
import { fixtureCredential, type ExportFixture } from "./exportFixture.js";

const { InvocationContext } = azureFunctions;

/**
 * The app over a fixture's settings, with containers and a job queue of its own (names tagged
 * with `tag`, the process and a random suffix), created and ready, and the Functions host over it.
 */
export async function startFunctionHost(
  fixture: ExportFixture,
  tag: string,
  options: AppOptions = {},
): Promise<{ runtime: App; host: FunctionHost }> {
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const runtime = createApp(fixture.settings, {
    partnerCenterCredential: fixtureCredential,
    logger: fixture.services.logger,
    runsContainer: `runs-${tag}-${id}`,
    locksContainer: `locks-${tag}-${id}`,
    jobQueue: `jobs-${tag}-${id}`,
    ...options,
  });
  await runtime.ensureStorage();
  const host: FunctionHost = {
    settings: fixture.settings,
    app: () => Promise.resolve(runtime),
    jobQueueName: runtime.jobQueueName,
    apiTokens: testApiTokens(),
  };
  return { runtime, host };
}

/** An invocation of `functionName` whose log lines go to `logs`. */
export function invocationContext(
  functionName: string,
  logs: string[],
  triggerMetadata?: Record<string, unknown>,
): InstanceType<typeof InvocationContext> {
  return new InvocationContext({
    invocationId: `inv-${randomBytes(4).toString("hex")}`,
    functionName,
    ...(triggerMetadata ? { triggerMetadata } : {}),
    logHandler: (_level, ...args) => logs.push(args.map(String).join(" ")),
  });
}
