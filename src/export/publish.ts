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
import { EXPORT_FORMATS } from "../config/profiles.js";

/**
 * Points `latest/` at a finished run: the data files, the JSON Schema and the change feed are
 * copied server-side first and the manifest last, so a reader that finds `latest/_manifest.json`
 * finds its files. Formats the profile no longer produces, and a change feed a grouped profile
 * does not have, are removed from `latest/`.
 */
export async function publishLatest(
  container: ContainerClient,
  profile: string,
  manifest: Manifest,
  manifestText: string,
): Promise<void> {
  const latest = latestFolder(profile);
  // Hide the old manifest while files change underneath it.
  await container.getBlockBlobClient(`${latest}${MANIFEST_NAME}`).deleteIfExists();
  for (const file of manifest.files) {
    const source = container.getBlockBlobClient(file.path);
    const target = container.getBlockBlobClient(`${latest}${dataFileName(file.format)}`);
    const poller = await target.beginCopyFromURL(source.url);
    const result = await poller.pollUntilDone();
    if (result.copyStatus !== "success")
      throw new Error(`copy of ${file.path} to latest/ ended ${result.copyStatus ?? "unknown"}`);
  }
  await copyInto(container, manifest.schemaFile.path, `${latest}${SCHEMA_FILE_NAME}`);
  const changeFiles = manifest.changes?.files ?? [];
  for (const file of changeFiles)
    await copyInto(container, file.path, `${latest}${file.path.slice(file.path.lastIndexOf("/") + 1)}`);
  if (changeFiles.length === 0)
    for (const format of CHANGE_FEED_FORMATS)
      await container.getBlockBlobClient(`${latest}${changesFileName(format)}`).deleteIfExists();
  const produced = new Set(manifest.files.map((f) => f.format));
  for (const format of EXPORT_FORMATS)
    if (!produced.has(format))
      await container.getBlockBlobClient(`${latest}${dataFileName(format)}`).deleteIfExists();
  await container
    .getBlockBlobClient(`${latest}${MANIFEST_NAME}`)
    .upload(manifestText, Buffer.byteLength(manifestText), {
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
