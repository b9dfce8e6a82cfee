import type { ContainerClient } from "@azure/storage-blob";
import {
  CHANGE_FEED_FORMATS,
  changesFileName,
  dataFileName,
  latestFolder,
  MANIFEST_NAME,
  SCHEMA_FILE_NAME,
} from "./layout.js";
import type { Manifest } from "./manifest.js";
import { EXPORT_FORMATS } from "./layout.js";

/** Every name `latest/` may hold besides the manifest. */
const LATEST_NAMES = [
  ...EXPORT_FORMATS.map(dataFileName),
  SCHEMA_FILE_NAME,
  ...CHANGE_FEED_FORMATS.map(changesFileName),
];

/** latest/ file name -> the run file it is a copy of. */
function latestSources(manifest: Manifest): Map<string, string> {
  const sources = new Map<string, string>();
  for (const file of manifest.files) sources.set(dataFileName(file.format), file.path);
  // Manifests written before the schema file existed have none.
  const schemaFile = manifest.schemaFile as Manifest["schemaFile"] | undefined;
  if (schemaFile) sources.set(SCHEMA_FILE_NAME, schemaFile.path);
  for (const file of manifest.changes?.files ?? [])
    sources.set(file.path.slice(file.path.lastIndexOf("/") + 1), file.path);
  return sources;
}

/**
 * Points `latest/` at a finished run: the data files, the JSON Schema and the change feed are
 * copied server-side first and the manifest last, so a reader that finds `latest/_manifest.json`
 * finds its files. Names the run does not produce (a dropped format, the change feed of a grouped
 * profile) are removed. If any step fails, `latest/` is put back to the previous run's files
 * and manifest before the error is passed on, so a failed publish leaves the old snapshot.
 */
export async function publishLatest(
  container: ContainerClient,
  profile: string,
  manifest: Manifest,
  manifestText: string,
): Promise<void> {
  const latest = latestFolder(profile);
  const manifestBlob = container.getBlockBlobClient(`${latest}${MANIFEST_NAME}`);
  const previousText = (await manifestBlob.exists())
    ? (await manifestBlob.downloadToBuffer()).toString("utf8")
    : undefined;
  const touched = new Set<string>();
  try {
    await pointLatestAt(container, latest, latestSources(manifest), manifestText, touched);
  } catch (error) {
    await restoreLatest(container, latest, touched, previousText);
    throw error;
  }
}

async function pointLatestAt(
  container: ContainerClient,
  latest: string,
  sources: ReadonlyMap<string, string>,
  manifestText: string,
  touched: Set<string>,
): Promise<void> {
  // Hide the manifest while files change underneath it.
  await container.getBlockBlobClient(`${latest}${MANIFEST_NAME}`).deleteIfExists();
  // A copy or delete that throws changed nothing, so only completed steps need undoing.
  for (const [name, source] of sources) {
    await copyInto(container, source, `${latest}${name}`);
    touched.add(name);
  }
  for (const name of LATEST_NAMES)
    if (!sources.has(name)) {
      await container.getBlockBlobClient(`${latest}${name}`).deleteIfExists();
      touched.add(name);
    }
  await uploadManifest(container, latest, manifestText);
}

/** Puts back what a failed publish replaced, from the previous run's folder, then its manifest. */
async function restoreLatest(
  container: ContainerClient,
  latest: string,
  touched: ReadonlySet<string>,
  previousText: string | undefined,
): Promise<void> {
  try {
    const previous =
      previousText === undefined
        ? new Map<string, string>()
        : latestSources(JSON.parse(previousText) as Manifest);
    for (const name of touched) {
      const source = previous.get(name);
      if (source) await copyInto(container, source, `${latest}${name}`);
      else await container.getBlockBlobClient(`${latest}${name}`).deleteIfExists();
    }
    if (previousText !== undefined) await uploadManifest(container, latest, previousText);
  } catch {
    // The restore failed too: latest/ has no manifest, which readers take as "not ready";
    // the next successful run publishes a complete latest/ again.
  }
}

async function uploadManifest(container: ContainerClient, latest: string, text: string): Promise<void> {
  await container.getBlockBlobClient(`${latest}${MANIFEST_NAME}`).upload(text, Buffer.byteLength(text), {
    blobHTTPHeaders: { blobContentType: "application/json; charset=utf-8" },
  });
}

async function copyInto(container: ContainerClient, sourcePath: string, targetPath: string): Promise<void> {
  const poller = await container
    .getBlockBlobClient(targetPath)
    .beginCopyFromURL(container.getBlockBlobClient(sourcePath).url);
  const result = await poller.pollUntilDone();
  if (result.copyStatus !== "success")
    throw new Error(`copy of ${sourcePath} to latest/ ended ${result.copyStatus ?? "unknown"}`);
}
