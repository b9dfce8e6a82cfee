import { RestError } from "@azure/core-rest-pipeline";
import type { ContainerClient } from "@azure/storage-blob";
import { z } from "zod";
import { DATASETS } from "../partnerCenter/datasets/index.js";
import {
  CHANGE_FEED_FORMATS,
  changesFileName,
  dataFileName,
  EXPORT_FORMATS,
  type ExportFormat,
  latestFolder,
  MANIFEST_NAME,
  runFolder,
  schemaFileName,
} from "./layout.js";
import type { Manifest } from "./manifest.js";

/**
 * Publishing a run into `latest/` takes several storage calls, and a process can die between any
 * two of them. Before the first change to `latest/`, an intent record names the run being
 * published and the run `latest/` held until then; it is deleted only once `latest/` is whole
 * again. Whoever next holds the profile's lock finds a leftover intent and puts `latest/` back to
 * the previous run (or finishes the publish, if the previous run's files are gone), so `latest/`
 * never stays mixed. docs/reliability.md describes the design and the tests that prove it.
 */

/**
 * Every name `latest/` may hold besides the manifest: each dataset's files (a profile may move to
 * another dataset, and the old dataset's files must not linger beside the new ones) and the feed.
 */
const LATEST_NAMES: ReadonlySet<string> = new Set([
  ...DATASETS.flatMap((d) => [
    ...EXPORT_FORMATS.map((f) => dataFileName(f, d.fileStem)),
    schemaFileName(d.fileStem),
  ]),
  ...CHANGE_FEED_FORMATS.map(changesFileName),
]);
/** More blobs than `latest/` ever holds: listing it stops there. */
const MAX_LATEST_BLOBS = 1_000;

/** `{profile}/_publishing.json`: outside `latest/` and the Hive partitions, so no reader lists it. */
export function publishIntentName(profile: string): string {
  return `${profile}/_publishing.json`;
}

const intentSchema = z.object({
  schemaVersion: z.literal(1),
  /** The run being published. */
  runId: z.string(),
  /** The run `latest/` held before (its folder holds the same files), or null for a first publish. */
  previousRunId: z.string().nullable(),
  startedAt: z.string(),
});
export type PublishIntent = z.infer<typeof intentSchema>;

/** Where a publish is, for whoever watches it (the process-kill tests stop the process at each step). */
export type PublishStep =
  | { readonly kind: "intent" }
  | { readonly kind: "manifest-hidden" }
  | { readonly kind: "copied"; readonly name: string }
  | { readonly kind: "deleted"; readonly name: string }
  | { readonly kind: "manifest" }
  | { readonly kind: "done" };

export interface PublishOptions {
  /** The run's signal (the profile lock's among others): once aborted, `latest/` is not changed further. */
  readonly signal?: AbortSignal;
  /** Renews the profile lock and throws if it is lost; called before each change to `latest/`. */
  readonly confirmLock?: () => Promise<void>;
  /** Putting a previous run back: files that are already its copies are left as they are. */
  readonly restoring?: boolean;
  /** Called after each storage call that changes `latest/` or the intent. */
  readonly onStep?: (step: PublishStep) => void | Promise<void>;
  readonly now?: () => Date;
}

/** What settling an interrupted publish did. */
export type SettledPublish =
  | { readonly kind: "none" }
  /** `latest/` holds the previous run again (or nothing, when there was none). */
  | { readonly kind: "rolled-back"; readonly runId: string; readonly restoredRunId: string | null }
  /** The previous run's files were gone; the interrupted publish was finished instead. */
  | { readonly kind: "rolled-forward"; readonly runId: string };

/** What a manifest says about its files (read back leniently from older runs too). */
interface PublishedFiles {
  readonly files: readonly { readonly path: string; readonly format: ExportFormat }[];
  readonly schemaFile?: { readonly path: string } | undefined;
  readonly changes?: { readonly files: readonly { readonly path: string }[] } | null | undefined;
}

const baseName = (path: string): string => path.slice(path.lastIndexOf("/") + 1);

/** latest/ file name -> the run file it is a copy of (the same name: `referrals.csv`, `search.csv`, …). */
function latestSources(manifest: PublishedFiles): Map<string, string> {
  const sources = new Map<string, string>();
  for (const file of manifest.files) sources.set(baseName(file.path), file.path);
  // Manifests written before the schema file existed have none.
  if (manifest.schemaFile !== undefined)
    sources.set(baseName(manifest.schemaFile.path), manifest.schemaFile.path);
  for (const file of manifest.changes?.files ?? []) sources.set(baseName(file.path), file.path);
  return sources;
}

/** The names of LATEST_NAMES that `latest/` holds now (one listing, rather than a delete per name). */
async function latestNamesPresent(
  container: ContainerClient,
  latest: string,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const present: string[] = [];
  let seen = 0;
  for await (const blob of container.listBlobsFlat({
    prefix: latest,
    ...(signal ? { abortSignal: signal } : {}),
  })) {
    const name = blob.name.slice(latest.length);
    if (LATEST_NAMES.has(name)) present.push(name);
    if (++seen >= MAX_LATEST_BLOBS) break;
  }
  return present;
}

/**
 * Points `latest/` at a finished run: an intent is recorded, the manifest hidden, the files copied
 * server-side (side by side, so `latest/` is without a manifest for as short a time as storage
 * allows), names the run does not produce removed, the manifest written last and the intent
 * deleted. A failure on the way puts the previous run back before the error is passed on; a
 * process that dies on the way leaves the intent for the next holder of the lock to settle.
 */
export async function publishLatest(
  container: ContainerClient,
  profile: string,
  manifest: Manifest,
  manifestText: string,
  options: PublishOptions = {},
): Promise<void> {
  const signal = options.signal;
  // An intent left by a publisher that died: settle it first, so `previous` below is whole.
  await settleInterruptedPublish(container, profile, options);
  await beforeChange(options);
  const previous = await readManifestRunId(container, `${latestFolder(profile)}${MANIFEST_NAME}`, signal);
  const intent: PublishIntent = {
    schemaVersion: 1,
    runId: manifest.runId,
    previousRunId: previous,
    startedAt: (options.now?.() ?? new Date()).toISOString(),
  };
  await writeIntent(container, profile, intent, signal);
  await options.onStep?.({ kind: "intent" });
  try {
    await pointLatestAt(container, profile, latestSources(manifest), manifestText, options);
  } catch (error) {
    // Put the previous run back now if storage lets us and the lock is still ours; otherwise the
    // intent stays for the next holder of the lock.
    if (signal?.aborted !== true)
      await settleInterruptedPublish(container, profile, {
        ...(options.confirmLock ? { confirmLock: options.confirmLock } : {}),
      }).catch(() => undefined);
    throw error;
  }
  await container.getBlockBlobClient(publishIntentName(profile)).deleteIfExists({
    ...(signal ? { abortSignal: signal } : {}),
  });
  await options.onStep?.({ kind: "done" });
}

/**
 * Finishes or rolls back a publish whose process died (an intent is left): `latest/` is pointed at
 * the previous run again from that run's own folder, or, if that folder is gone, at the interrupted
 * run; with neither, `latest/` is emptied. Call it holding the profile's lock.
 */
export async function settleInterruptedPublish(
  container: ContainerClient,
  profile: string,
  options: PublishOptions = {},
): Promise<SettledPublish> {
  const intent = await readIntent(container, profile, options.signal);
  if (!intent) return { kind: "none" };
  const quiet: PublishOptions = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.confirmLock ? { confirmLock: options.confirmLock } : {}),
    restoring: true,
  };
  const previous =
    intent.previousRunId === null
      ? undefined
      : await readRunManifest(container, profile, intent.previousRunId);
  let settled: SettledPublish;
  if (intent.previousRunId === null) {
    await clearLatest(container, profile, quiet);
    settled = { kind: "rolled-back", runId: intent.runId, restoredRunId: null };
  } else if (previous) {
    await pointLatestAt(container, profile, latestSources(previous.manifest), previous.text, quiet);
    settled = { kind: "rolled-back", runId: intent.runId, restoredRunId: intent.previousRunId };
  } else {
    const interrupted = await readRunManifest(container, profile, intent.runId);
    if (interrupted) {
      await pointLatestAt(container, profile, latestSources(interrupted.manifest), interrupted.text, quiet);
      settled = { kind: "rolled-forward", runId: intent.runId };
    } else {
      await clearLatest(container, profile, quiet);
      settled = { kind: "rolled-back", runId: intent.runId, restoredRunId: null };
    }
  }
  await container.getBlockBlobClient(publishIntentName(profile)).deleteIfExists();
  return settled;
}

async function pointLatestAt(
  container: ContainerClient,
  profile: string,
  sources: ReadonlyMap<string, string>,
  manifestText: string,
  options: PublishOptions,
): Promise<void> {
  const latest = latestFolder(profile);
  const abort = options.signal ? { abortSignal: options.signal } : {};
  // Hide the manifest while files change underneath it.
  await beforeChange(options);
  await container.getBlockBlobClient(`${latest}${MANIFEST_NAME}`).deleteIfExists(abort);
  await options.onStep?.({ kind: "manifest-hidden" });
  await beforeChange(options);
  await Promise.all(
    [...sources].map(async ([name, source]) => {
      await copyInto(container, source, `${latest}${name}`, options.signal, options.restoring === true);
      await options.onStep?.({ kind: "copied", name });
    }),
  );
  await beforeChange(options);
  const stale = (await latestNamesPresent(container, latest, options.signal)).filter((n) => !sources.has(n));
  await Promise.all(
    stale.map(async (name) => {
      const deleted = await container.getBlockBlobClient(`${latest}${name}`).deleteIfExists(abort);
      if (deleted.succeeded) await options.onStep?.({ kind: "deleted", name });
    }),
  );
  await beforeChange(options);
  await container
    .getBlockBlobClient(`${latest}${MANIFEST_NAME}`)
    .upload(manifestText, Buffer.byteLength(manifestText), {
      blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" },
      ...abort,
    });
  await options.onStep?.({ kind: "manifest" });
}

/**
 * Before each change to `latest/`: the run must not be aborted, and the profile's lock must still be
 * ours (renewed now), so a holder that lost the profile never writes after another took it.
 */
async function beforeChange(options: PublishOptions): Promise<void> {
  const abortError = (): DOMException => {
    const reason: unknown = options.signal?.reason;
    return new DOMException(
      reason instanceof Error ? reason.message : "the publish was cancelled",
      "AbortError",
    );
  };
  if (options.signal?.aborted) throw abortError();
  await options.confirmLock?.();
  if (options.signal?.aborted) throw abortError();
}

/** Removes everything `latest/` may hold, the manifest first. */
async function clearLatest(
  container: ContainerClient,
  profile: string,
  options: PublishOptions,
): Promise<void> {
  const latest = latestFolder(profile);
  const abort = options.signal ? { abortSignal: options.signal } : {};
  await beforeChange(options);
  await container.getBlockBlobClient(`${latest}${MANIFEST_NAME}`).deleteIfExists(abort);
  const present = await latestNamesPresent(container, latest, options.signal);
  await Promise.all(
    present.map((name) => container.getBlockBlobClient(`${latest}${name}`).deleteIfExists(abort)),
  );
}

async function writeIntent(
  container: ContainerClient,
  profile: string,
  intent: PublishIntent,
  signal: AbortSignal | undefined,
): Promise<void> {
  const text = JSON.stringify(intent, null, 2);
  await container.getBlockBlobClient(publishIntentName(profile)).upload(text, Buffer.byteLength(text), {
    blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" },
    ...(signal ? { abortSignal: signal } : {}),
  });
}

async function readIntent(
  container: ContainerClient,
  profile: string,
  signal: AbortSignal | undefined,
): Promise<PublishIntent | undefined> {
  const text = await readText(container, publishIntentName(profile), signal);
  if (text === undefined) return undefined;
  const parsed = intentSchema.safeParse(safeJson(text));
  // An intent nobody can read still means latest/ may be mixed: treat it as a first publish.
  return parsed.success
    ? parsed.data
    : { schemaVersion: 1, runId: "unknown", previousRunId: null, startedAt: new Date(0).toISOString() };
}

const runManifestSchema = z.object({
  runId: z.string(),
  files: z.array(z.object({ path: z.string(), format: z.enum(EXPORT_FORMATS) })),
  schemaFile: z.object({ path: z.string() }).optional(),
  changes: z
    .object({ files: z.array(z.object({ path: z.string() })) })
    .nullable()
    .optional(),
});

/** A run folder's manifest, when it and every file it names are still there. */
async function readRunManifest(
  container: ContainerClient,
  profile: string,
  runId: string,
): Promise<{ manifest: PublishedFiles; text: string } | undefined> {
  let folder: string;
  try {
    folder = runFolder(profile, runId);
  } catch {
    return undefined;
  }
  const text = await readText(container, `${folder}${MANIFEST_NAME}`, undefined);
  if (text === undefined) return undefined;
  const parsed = runManifestSchema.safeParse(safeJson(text));
  if (!parsed.success || parsed.data.runId !== runId) return undefined;
  const manifest = parsed.data;
  for (const source of latestSources(manifest).values())
    if (!(await container.getBlockBlobClient(source).exists())) return undefined;
  return { manifest, text };
}

async function readManifestRunId(
  container: ContainerClient,
  path: string,
  signal: AbortSignal | undefined,
): Promise<string | null> {
  const text = await readText(container, path, signal);
  if (text === undefined) return null;
  const parsed = z.object({ runId: z.string() }).safeParse(safeJson(text));
  return parsed.success ? parsed.data.runId : null;
}

async function readText(
  container: ContainerClient,
  path: string,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  try {
    const body = await container
      .getBlobClient(path)
      .downloadToBuffer(undefined, undefined, signal ? { abortSignal: signal } : {});
    return body.toString("utf8");
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) return undefined;
    throw error;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Whether `targetPath` is already a finished copy of `sourcePath` (its recorded copy source). Putting
 * `latest/` back then leaves the files a failed publish never replaced alone — one it could not
 * replace (held by a lease, say) would refuse the copy back just the same.
 */
async function isCopyOf(
  container: ContainerClient,
  targetPath: string,
  sourcePath: string,
): Promise<boolean> {
  try {
    const props = await container.getBlockBlobClient(targetPath).getProperties();
    return (
      props.copyStatus === "success" && props.copySource === container.getBlockBlobClient(sourcePath).url
    );
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) return false;
    throw error;
  }
}

async function copyInto(
  container: ContainerClient,
  sourcePath: string,
  targetPath: string,
  signal: AbortSignal | undefined,
  skipIfCopied = false,
): Promise<void> {
  if (skipIfCopied && (await isCopyOf(container, targetPath, sourcePath))) return;
  const poller = await container
    .getBlockBlobClient(targetPath)
    .beginCopyFromURL(container.getBlockBlobClient(sourcePath).url, signal ? { abortSignal: signal } : {});
  const result = await poller.pollUntilDone();
  if (result.copyStatus !== "success")
    throw new Error(`copy of ${sourcePath} to latest/ ended ${result.copyStatus ?? "unknown"}`);
}
