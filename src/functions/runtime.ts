import azureFunctions, {
  type HttpFunctionOptions,
  type HttpMethod,
  type InvocationContext,
  type StorageQueueFunctionOptions,
  type TimerFunctionOptions,
} from "@azure/functions";
import type { App } from "../app/app.js";
import type { Settings } from "../config/settings.js";
import type { ApiTokenValidator } from "./apiToken.js";
import { createLogger, type Logger } from "../logging/logger.js";

/**
 * What each trigger file builds its functions from. Settings are at hand synchronously, so bad
 * input is refused before any storage client is touched; the app is built on first use.
 */
export interface FunctionHost {
  readonly settings: Settings;
  /** The wired app; the first call may create containers and queues. */
  readonly app: () => Promise<App>;
  /** Queue the worker listens on (`export-jobs` in Azure). */
  readonly jobQueueName: string;
  /** Checks callers' bearer tokens; by default against the tenant's Entra ID (settings.apiAuth). */
  readonly apiTokens?: ApiTokenValidator;
  /** Aborts running exports when the host shuts down (Azure's appTerminate hook, the dev host's Ctrl-C). */
  readonly abortSignal?: AbortSignal;
}

/**
 * A logger whose lines go through the invocation's context, so the Functions host files them
 * under the invocation (and Application Insights can correlate them).
 */
export function invocationLogger(context: InvocationContext, level: Settings["logLevel"]): Logger {
  return createLogger(
    level,
    (line, lvl) => {
      if (lvl === "error") context.error(line);
      else if (lvl === "warn") context.warn(line);
      else if (lvl === "debug") context.debug(line);
      else context.info(line);
    },
    { invocationId: context.invocationId, function: context.functionName },
  );
}

/** One function as both registries see it: Azure Functions (`app.*`) and the dev host's table. */
export type FunctionDefinition =
  | {
      readonly kind: "http";
      readonly name: string;
      readonly options: HttpFunctionOptions & { readonly route: string; readonly methods: HttpMethod[] };
    }
  | { readonly kind: "timer"; readonly name: string; readonly options: TimerFunctionOptions }
  | { readonly kind: "storageQueue"; readonly name: string; readonly options: StorageQueueFunctionOptions };

/** Registers the definitions with the Azure Functions host. */
export function registerFunctions(definitions: readonly FunctionDefinition[]): void {
  const { app } = azureFunctions;
  for (const definition of definitions) {
    switch (definition.kind) {
      case "http":
        app.http(definition.name, definition.options);
        break;
      case "timer":
        app.timer(definition.name, definition.options);
        break;
      case "storageQueue":
        app.storageQueue(definition.name, definition.options);
        break;
    }
  }
}
