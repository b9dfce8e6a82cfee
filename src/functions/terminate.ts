import type { LazyApp } from "../app/app.js";

/** How long the host's shutdown waits for aborted exports to clean up (Azure allows a few more seconds). */
export const TERMINATE_GRACE_MS = 20_000;

/**
 * The `appTerminate` hook: scale-in, restart or a deployment stops the worker. Running exports are
 * aborted the way Ctrl-C stops the dev host (partial files removed, lock released, the run
 * recorded as failed, saying it was stopped), and the hook waits for that within a grace period.
 */
export function stopOnTerminate(
  shutdown: AbortController,
  app: LazyApp,
  graceMs: number = TERMINATE_GRACE_MS,
): () => Promise<void> {
  return async () => {
    shutdown.abort(new Error("the Functions host is shutting down (scale-in, restart or deployment)"));
    // An app never built has no export running.
    await app.current()?.runs.settled(graceMs);
  };
}
