import { z } from "zod";

export const EXPORT_FORMATS = ["csv", "json", "parquet"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Profile names become blob path segments, so they are kept to a safe alphabet. */
export const PROFILE_NAME = z
  .string()
  .regex(/^[a-z0-9-]{1,63}$/, "must be 1-63 characters of a-z, 0-9 and '-' (it becomes a blob path segment)");

export const FORMATS = z
  .array(z.enum(EXPORT_FORMATS, { error: () => `must be one of ${EXPORT_FORMATS.join(", ")}` }))
  .min(1, "needs at least one format")
  .refine((list) => new Set(list).size === list.length, "lists a format twice");

/** One export profile: the unit of scheduling and of the blob path. Query fields are validated later. */
export const exportProfileSchema = z.strictObject({
  // `adhoc` is where exports without a profile are published.
  name: PROFILE_NAME.refine((n) => n !== "adhoc", "'adhoc' is reserved for exports without a profile"),
  filter: z.string().optional(),
  groupby: z.union([z.string(), z.array(z.string())]).optional(),
  aggregationLevel: z.string().optional(),
  formats: FORMATS.default(["csv", "json"]),
  schedule: z.boolean().default(true),
});

export type ExportProfileInput = z.infer<typeof exportProfileSchema>;
