import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { freePort } from "./ports.js";

/** Azurite's well-known development account (public, documented by Microsoft). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export interface AzuriteHandle {
  readonly blobPort: number;
  readonly queuePort: number;
  readonly connectionString: string;
  /** The Azurite process (to measure it from outside). */
  readonly pid: number | undefined;
  /** Stops the Azurite process and waits until it has exited. */
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  readonly blobPort?: number;
  readonly queuePort?: number;
  readonly startTimeoutMs?: number;
  /**
   * Directory for Azurite's data. When set, blobs and queues are kept on disk there, so Azurite can be
   * stopped and started again (on the same ports) without losing them; otherwise they live in memory.
   */
  readonly location?: string;
}

function azuriteEntry(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("azurite/package.json")), "dist", "src", "azurite.js");
}

export function azuriteConnectionString(blobPort: number, queuePort: number): string {
  return [
    "DefaultEndpointsProtocol=http",
    `AccountName=${AZURITE_ACCOUNT}`,
    `AccountKey=${AZURITE_KEY}`,
    `BlobEndpoint=http://127.0.0.1:${blobPort}/${AZURITE_ACCOUNT}`,
    `QueueEndpoint=http://127.0.0.1:${queuePort}/${AZURITE_ACCOUNT}`,
  ].join(";");
}

/**
 * Starts Azurite (Blob + Queue) as a child process on free loopback ports, with in-memory
 * persistence unless `location` names a data directory. Its own entry point is started with
 * this node, not through npx, so stopping it really stops it.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteHandle> {
  const blobPort = options.blobPort ?? (await freePort());
  const queuePort = options.queuePort ?? (await freePort());
  const tablePort = await freePort();
  const child = spawn(
    process.execPath,
    [
      azuriteEntry(),
      // Azurite refuses --location together with in-memory mode.
      ...(options.location === undefined ? ["--inMemoryPersistence"] : ["--location", options.location]),
      "--skipApiVersionCheck",
      "--disableProductStyleUrl",
      "--silent",
      "--blobHost",
      "127.0.0.1",
      "--queueHost",
      "127.0.0.1",
      "--tableHost",
      "127.0.0.1",
      "--blobPort",
      String(blobPort),
      "--queuePort",
      String(queuePort),
      "--tablePort",
      String(tablePort),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  await waitUntilListening(child, options.startTimeoutMs ?? 30_000);
  return {
    blobPort,
    queuePort,
    connectionString: azuriteConnectionString(blobPort, queuePort),
    pid: child.pid,
    stop: () => stopChild(child),
  };
}

async function waitUntilListening(child: ChildProcess, timeoutMs: number): Promise<void> {
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      finish(new Error(`Azurite did not start within ${timeoutMs} ms. Output: ${output.slice(-2000)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      const ready = ["Blob", "Queue"].every((s) =>
        new RegExp(`${s} service is successfully listening`).test(output),
      );
      if (ready) finish();
    };
    const onExit = (code: number | null): void => {
      finish(
        new Error(
          `Azurite exited with code ${String(code)} before it was ready. Output: ${output.slice(-2000)}`,
        ),
      );
    };
    function finish(error?: Error): void {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      if (error) {
        child.kill("SIGKILL");
        reject(error);
      } else {
        // Keep draining so a chatty child never blocks on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve();
      }
    }
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
