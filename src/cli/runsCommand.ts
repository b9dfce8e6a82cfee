import { loadSettings, type Settings } from "../config/settings.js";
import type { Services } from "../wiring/services.js";
import { PROFILE_NAME } from "../config/profiles.js";
import type { Manifest } from "../export/manifest.js";
import { EXIT, UsageError, type CliIo, parseCliArgs } from "./io.js";
import { openServices } from "./openServices.js";

export const RUNS_HELP = `Usage: referrals-export runs list [--profile NAME] [--limit N] [--json]

Lists published snapshots, newest first, read from their manifests in the export container.`;

/** `runs list`: reads `_manifest.json` files, so it shows exactly what readers can see. */
export async function runsCommand(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
  open: (settings: Settings) => Services = openServices,
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== "list")
    throw new UsageError(`unknown runs command '${(sub ?? "").slice(0, 40)}' (try: runs list)`);
  const { values } = parseCliArgs({
    args: rest,
    options: {
      profile: { type: "string" },
      limit: { type: "string", default: "20" },
      json: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError("--limit must be a whole number from 1 to 1000");
  const settings = loadSettings(env);
  const profiles = values.profile !== undefined ? [values.profile] : settings.profiles.map((p) => p.name);
  for (const p of profiles) {
    if (!PROFILE_NAME.safeParse(p).success)
      throw new UsageError(`--profile '${p.slice(0, 80)}' is not a valid profile name`);
  }
  const { exportContainer } = open(settings);
  const manifests: Manifest[] = [];
  if (await exportContainer.exists()) {
    for (const profile of profiles) {
      const names: string[] = [];
      let scanned = 0;
      for await (const blob of exportContainer.listBlobsFlat({ prefix: `${profile}/snapshot_date=` })) {
        if (blob.name.endsWith("/_manifest.json")) names.push(blob.name);
        if (++scanned > 100_000) break;
      }
      // run ids sort by time, and so do their paths
      for (const name of names.sort().reverse().slice(0, limit)) {
        const body = await exportContainer.getBlobClient(name).downloadToBuffer();
        manifests.push(JSON.parse(body.toString("utf8")) as Manifest);
      }
    }
  }
  manifests.sort((a, b) => (a.runId < b.runId ? 1 : -1));
  const shown = manifests.slice(0, limit);
  if (values.json) {
    io.out(
      JSON.stringify(
        shown.map(({ runId, profile, trigger, rowCount, startedAt, completedAt, files }) => ({
          runId,
          profile,
          trigger,
          rowCount,
          startedAt,
          completedAt,
          files,
        })),
        null,
        2,
      ),
    );
    return EXIT.ok;
  }
  if (shown.length === 0) {
    io.out("No published runs yet.");
    return EXIT.ok;
  }
  io.out(
    ["run id".padEnd(24), "profile".padEnd(20), "trigger".padEnd(7), "rows".padStart(10), "completed"].join(
      "  ",
    ),
  );
  for (const m of shown)
    io.out(
      [
        m.runId.padEnd(24),
        m.profile.padEnd(20),
        m.trigger.padEnd(7),
        String(m.rowCount).padStart(10),
        m.completedAt,
      ].join("  "),
    );
  return EXIT.ok;
}
