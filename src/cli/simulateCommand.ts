import { createServer } from "node:net";
import { startAzurite, type AzuriteHandle } from "../simulator/azurite.js";
import { parseFaultSpec } from "../simulator/faults.js";
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from "../simulator/localCloud.js";
import { SetupError, UsageError, type CliIo, parseCliArgs } from "./io.js";

/**
 * Azurite's default ports. The storage SDKs expand `UseDevelopmentStorage=true` to the well-known
 * development account on exactly these, so the printed setting holds no key (every CLI line passes
 * redaction, which would mask one) and works as pasted.
 */
const AZURITE_BLOB_PORT = 10_000;
const AZURITE_QUEUE_PORT = 10_001;
const DEVELOPMENT_STORAGE = "UseDevelopmentStorage=true";
const AZURITE_COMMAND = `npx azurite --inMemoryPersistence --skipApiVersionCheck --blobPort ${AZURITE_BLOB_PORT} --queuePort ${AZURITE_QUEUE_PORT} --tablePort 10002`;

function intOption(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max)
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
}

/**
 * `simulate`: the local cloud (Partner Center, Entra ID, Key Vault) and, unless --no-storage,
 * Azurite, until Ctrl-C (or `stop`). Prints every setting the exporter needs as `export NAME=value`
 * lines; all other lines are shell comments, so the whole output can be pasted.
 */
export async function simulateCommand(
  args: readonly string[],
  io: CliIo,
  stop?: AbortSignal,
): Promise<number> {
  const { values } = parseCliArgs({
    args: [...args],
    options: {
      port: { type: "string" },
      rows: { type: "string" },
      seed: { type: "string" },
      "latency-ms": { type: "string" },
      faults: { type: "string" },
      "next-link": { type: "string" },
      "no-storage": { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const nextLink = values["next-link"];
  if (nextLink !== undefined && nextLink !== "relative" && nextLink !== "absolute")
    throw new UsageError("--next-link must be relative or absolute");
  if (values.faults !== undefined) {
    try {
      parseFaultSpec(values.faults);
    } catch (error) {
      throw new UsageError(`--faults: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const options: LocalCloudOptions = {
    port: intOption("port", values.port, 0, 65_535, 0),
    rows: intOption("rows", values.rows, 0, 50_000_000, 10_000),
    seed: intOption("seed", values.seed, 0, 2 ** 31 - 1, 1),
    latencyMs: intOption("latency-ms", values["latency-ms"], 0, 600_000, 0),
    ...(values.faults !== undefined ? { faults: values.faults } : {}),
    ...(nextLink !== undefined ? { nextLinkMode: nextLink } : {}),
  };
  const withStorage = !values["no-storage"];
  if (withStorage) {
    const busy = await portsInUse([AZURITE_BLOB_PORT, AZURITE_QUEUE_PORT]);
    if (busy.length > 0)
      throw new SetupError(
        `Azurite's port${busy.length > 1 ? "s" : ""} ${busy.join(" and ")} on 127.0.0.1 ${busy.length > 1 ? "are" : "is"} in use. ` +
          `If that is an Azurite already running, use it: run 'referrals-export simulate --no-storage' and set EXPORT_STORAGE_CONNECTION_STRING=${DEVELOPMENT_STORAGE}; otherwise stop what listens there.`,
      );
  }

  let azurite: AzuriteHandle | undefined;
  let cloud: LocalCloud | undefined;
  try {
    if (withStorage)
      azurite = await startAzurite({ blobPort: AZURITE_BLOB_PORT, queuePort: AZURITE_QUEUE_PORT });
    cloud = await startLocalCloud(options);
    printSettings(cloud, azurite, options.rows, io);
    await stopped(stop);
  } finally {
    await cloud?.close();
    await azurite?.stop();
  }
  return 0;
}

function printSettings(cloud: LocalCloud, azurite: AzuriteHandle | undefined, rows: number, io: CliIo): void {
  io.out(
    `# Simulator on ${cloud.url}: Partner Center (${rows.toLocaleString("en-US")} referrals), Entra ID, Key Vault`,
  );
  if (azurite)
    io.out(
      `# Azurite on 127.0.0.1: Blob ${azurite.blobPort}, Queue ${azurite.queuePort} (in memory; stops with the simulator)`,
    );
  else io.out(`# Storage: start Azurite in another terminal: ${AZURITE_COMMAND}`);
  io.out("# Paste these settings into the shell that runs referrals-export:");
  const settings = { ...cloud.settingsEnv(), EXPORT_STORAGE_CONNECTION_STRING: DEVELOPMENT_STORAGE };
  for (const [name, value] of Object.entries(settings)) io.out(`export ${name}=${shellQuote(value)}`);
  io.out("# Then consent once (the simulator approves it): referrals-export auth login --device-code");
  io.out("# and export: referrals-export export --profile all-referrals");
  io.out("# Stop with Ctrl-C.");
}

/** A value bash reads back unchanged: single quotes, with a single quote inside written as '\''. */
function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Resolves on Ctrl-C, SIGTERM or `stop`, and leaves no listener behind. */
function stopped(stop: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      stop?.removeEventListener("abort", done);
      resolve();
    };
    if (stop?.aborted) {
      resolve();
      return;
    }
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
    stop?.addEventListener("abort", done, { once: true });
  });
}

/** The loopback ports among `ports` that something listens on already. */
async function portsInUse(ports: readonly number[]): Promise<number[]> {
  const busy = await Promise.all(
    ports.map(
      (port) =>
        new Promise<boolean>((resolve) => {
          const server = createServer();
          server.once("error", () => {
            resolve(true);
          });
          server.listen(port, "127.0.0.1", () => {
            server.close(() => {
              resolve(false);
            });
          });
        }),
    ),
  );
  return ports.filter((_, i) => busy[i]);
}
