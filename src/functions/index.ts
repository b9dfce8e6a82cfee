/**
 * Entry point the Functions host loads (package.json `main`). Settings are checked before any
 * function is registered: a bad setting makes loading fail with one message naming all of them.
 */
import { trustLocalCa } from "../config/localTrust.js";
import { createLogger } from "../logging/logger.js";
import { JOB_QUEUE, createServices } from "../wiring/services.js";
import { appFunctions, loadAppSettings } from "./app.js";
import {
  createFunctionRuntime,
  delegatedCredentialOverrides,
  lazyRuntime,
  registerFunctions,
  type FunctionHost,
} from "./runtime.js";

const { settings, schedule } = loadAppSettings(process.env);
if (settings.localCaCertFile) trustLocalCa(settings.localCaCertFile);

const host: FunctionHost = {
  settings,
  jobQueueName: JOB_QUEUE,
  runtime: lazyRuntime(() =>
    createFunctionRuntime(
      createServices(settings, delegatedCredentialOverrides(createLogger(settings.logLevel))),
    ),
  ),
};

registerFunctions(appFunctions(host, schedule));
