import type { InvocationContext } from "@azure/functions";
import { redact } from "../common/redact.js";
import { isJobMessageError, decodeJobMessage, type JobMessage } from "../runs/jobQueue.js";
import { invocationLogger, type FunctionDefinition, type FunctionHost } from "./runtime.js";

/** Connection setting of the queue trigger: the host's storage (identity-based in Azure). */
export const QUEUE_CONNECTION = "AzureWebJobsStorage";

/**
 * The worker: runs one export job. Transient failures throw so the host redelivers the job
 * (after host.json `visibilityTimeout`) and, after `maxDequeueCount` attempts, moves it to
 * `export-jobs-poison`; the run is marked failed on that last attempt.
 */
export function exportWorkerFunction(host: FunctionHost): FunctionDefinition {
  return {
    kind: "storageQueue",
    name: "exportWorker",
    options: {
      queueName: host.jobQueueName,
      connection: QUEUE_CONNECTION,
      handler: (entry, context) => runJob(host, entry, context),
    },
  };
}

export async function runJob(host: FunctionHost, entry: unknown, context: InvocationContext): Promise<void> {
  const log = invocationLogger(context, host.settings.logLevel);
  const dequeueCount = readDequeueCount(context.triggerMetadata?.dequeueCount);
  const app = await host.app();

  let message: JobMessage;
  try {
    message = decodeJobMessage(entry);
  } catch (error) {
    if (!isJobMessageError(error)) throw error;
    // Retrying cannot fix a message nobody can read: keep it in the poison queue for a person.
    log.error("Queue message is not an export job; moved to the poison queue", {
      error: error.message,
      runId: error.runId,
    });
    await app.jobs.sendToPoison(typeof entry === "string" ? entry : JSON.stringify(entry));
    if (error.runId)
      await app.runs.markFailed(error.runId, { reason: "bad_request", message: error.message });
    return;
  }

  const outcome = await app.runs.execute(message, {
    dequeueCount,
    ...(host.abortSignal ? { abortSignal: host.abortSignal } : {}),
    logger: log,
  });
  if (outcome.kind === "retry") {
    const next = outcome.final ? "the job moves to the poison queue" : "the job will be retried";
    throw new Error(
      `Export ${message.runId} failed (${outcome.error.reason}); ${next}: ${redact(outcome.error.message)}`,
    );
  }
}

function readDequeueCount(value: unknown): number {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value) : NaN;
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/**
 * Watches the poison queue: a job lands there after `maxDequeueCount` deliveries, also when its
 * process died on the last one (then no code of ours saw it fail). Its run is recorded as failed
 * at once, with the last error and the delivery count, instead of staying queued. Never throws:
 * a message here has nowhere further to go.
 */
export function poisonedJobFunction(host: FunctionHost): FunctionDefinition {
  return {
    kind: "storageQueue",
    name: "exportPoisoned",
    options: {
      queueName: `${host.jobQueueName}-poison`,
      connection: QUEUE_CONNECTION,
      handler: (entry, context) => recordPoisonedJob(host, entry, context),
    },
  };
}

export async function recordPoisonedJob(
  host: FunctionHost,
  entry: unknown,
  context: InvocationContext,
): Promise<void> {
  const log = invocationLogger(context, host.settings.logLevel);
  let message: JobMessage;
  try {
    message = decodeJobMessage(entry);
  } catch (error) {
    // The worker put it here itself (and marked a readable run failed then).
    log.warn("A message that is not an export job is in the poison queue", { error });
    return;
  }
  try {
    const app = await host.app();
    const run = await app.runs.markPoisoned(message.runId, `${host.jobQueueName}-poison`);
    if (run) log.error("Export job poisoned; its run is recorded as failed", { runId: message.runId });
  } catch (error) {
    log.error("Could not record a poisoned export job's run as failed", { runId: message.runId, error });
  }
}
