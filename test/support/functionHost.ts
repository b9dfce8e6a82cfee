import { randomBytes } from "node:crypto";
import azureFunctions from "@azure/functions";
import {
  createFunctionRuntime,
  ensureRuntimeStorage,
  type FunctionHost,
  type FunctionRuntime,
  type RuntimeOptions,
} from "../../src/functions/runtime.js";
import type { ExportFixture } from "./exportFixture.js";

const { InvocationContext } = azureFunctions;

/**
 * The Functions runtime over a fixture's services, with containers and a job queue of its own
 * (names tagged with `tag`, the process and a random suffix), created and ready.
 */
export async function startFunctionHost(
  fixture: ExportFixture,
  tag: string,
  options: RuntimeOptions = {},
): Promise<{ runtime: FunctionRuntime; host: FunctionHost }> {
  const id = `${process.pid}-${randomBytes(3).toString("hex")}`;
  const runtime = createFunctionRuntime(fixture.services, {
    runsContainer: `runs-${tag}-${id}`,
    locksContainer: `locks-${tag}-${id}`,
    jobQueue: `jobs-${tag}-${id}`,
    ...options,
  });
  await ensureRuntimeStorage(runtime);
  const host: FunctionHost = {
    settings: fixture.settings,
    runtime: () => Promise.resolve(runtime),
    jobQueueName: `jobs-${tag}-${id}`,
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
