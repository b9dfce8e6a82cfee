/**
 * Entry point the Functions host loads (package.json `main`). Settings are checked before any
 * function is registered: a bad setting makes loading fail with one message naming all of them.
 */
import azureFunctions from "@azure/functions";
import { JOB_QUEUE, createApp, lazyApp } from "../app/app.js";
import { appFunctions, loadAppSettings } from "./app.js";
import { registerFunctions, type FunctionHost } from "./runtime.js";
import { stopOnTerminate } from "./terminate.js";

const { settings, schedule } = loadAppSettings(process.env);
const shutdown = new AbortController();
const app = lazyApp(() => createApp(settings));

const host: FunctionHost = { settings, jobQueueName: JOB_QUEUE, app, abortSignal: shutdown.signal };

registerFunctions(appFunctions(host, schedule));
azureFunctions.app.hook.appTerminate(stopOnTerminate(shutdown, app));
