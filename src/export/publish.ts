import type { ContainerClient } from "@azure/storage-blob";
import { dataFileName, latestFolder, MANIFEST_NAME } from "./layout.js";
import type { Manifest } from "./manifest.js";
import { EXPORT_FORMATS } from "../config/profiles.js";

/**
 * Points `latest/` at a finished run: the data files are copied server-side first and
 * the manifest last, so a reader that finds `latest/_manifest.json` finds its files.
 * Formats the profile no longer produces are removed from `latest/`.
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
