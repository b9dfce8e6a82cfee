import { parseFaultSpec } from "../simulator/faults.js";
import { startLocalCloud } from "../simulator/localCloud.js";
import { UsageError, type CliIo, parseCliArgs } from "./io.js";

export const SIMULATE_HELP = `Usage: referrals-export simulate [--port P] [--rows N] [--seed S] [--latency-ms L] [--faults SPEC] [--next-link relative|absolute]

Serves Partner Center referrals analytics, an Entra ID token endpoint and a Key Vault secrets
endpoint over HTTPS on 127.0.0.1, with a deterministic data set of N referrals. Prints the
settings that point the exporter at it. Stops on Ctrl-C.`;

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
  const cloud = await startLocalCloud({
    port: intOption("port", values.port, 0, 65_535, 0),
    rows: intOption("rows", values.rows, 0, 50_000_000, 10_000),
    seed: intOption("seed", values.seed, 0, 2 ** 31 - 1, 1),
    latencyMs: intOption("latency-ms", values["latency-ms"], 0, 600_000, 0),
    ...(values.faults !== undefined ? { faults: values.faults } : {}),
    ...(nextLink !== undefined ? { nextLinkMode: nextLink } : {}),
  });
  io.out(`Simulator listening on ${cloud.url} (Partner Center, Entra ID, Key Vault)`);
  io.out("Point the exporter at it with these settings:");
  for (const [k, v] of Object.entries(cloud.settingsEnv())) io.out(`export ${k}='${v}'`);
  io.out("Then consent once: referrals-export auth login --device-code   (the simulator approves it)");
  await new Promise<void>((resolve) => {
    const done = (): void => {
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
    stop?.addEventListener("abort", done, { once: true });
  });
  await cloud.close();
  return 0;
}
