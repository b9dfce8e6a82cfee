import { RestError } from "@azure/core-rest-pipeline";
import type { ContainerClient } from "@azure/storage-blob";
import { z } from "zod";
import { querySpecSchema } from "../partnerCenter/query.js";
import { latestFolder, MANIFEST_NAME } from "./layout.js";

/**
 * What is read back from `{profile}/latest/_manifest.json`: only the fields later runs rely on,
 * leniently, so manifests written by earlier versions still read.
 */
const latestManifestSchema = z.object({
  runId: z.string(),
  /** The dataset it exported; absent in manifests written before there was more than referrals. */
  dataset: z.string().default("referrals"),
  query: querySpecSchema,
  /** Who published it: a configured profile or an ad-hoc export (absent in older manifests). */
  source: z.enum(["profile", "adhoc"]).optional(),
  rowCount: z.number().int().min(0).optional(),
  /** The change feed's baseline for the next run (absent in manifests of earlier versions). */
  changes: z
    .object({ baseline: z.object({ path: z.string() }).nullable().optional() })
    .nullable()
    .optional(),
  files: z.array(z.object({ path: z.string(), format: z.string() })),
});

export type LatestManifest = z.infer<typeof latestManifestSchema>;

/** The manifest `latest/` holds now, "missing" when there is none, "unreadable" when it is not a manifest. */
export async function readLatestManifest(
  container: ContainerClient,
  profile: string,
  signal?: AbortSignal,
): Promise<LatestManifest | "missing" | "unreadable"> {
  let body: Buffer;
  try {
    body = await container
      .getBlobClient(`${latestFolder(profile)}${MANIFEST_NAME}`)
      .downloadToBuffer(undefined, undefined, signal ? { abortSignal: signal } : {});
  } catch (error) {
    if (error instanceof RestError && error.statusCode === 404) return "missing";
    throw error;
  }
  try {
    const parsed = latestManifestSchema.safeParse(JSON.parse(body.toString("utf8")));
    return parsed.success ? parsed.data : "unreadable";
  } catch {
    return "unreadable";
  }
}
