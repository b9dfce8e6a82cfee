import { z } from "zod";
import { ADHOC_PROFILE, FORMATS, PROFILE_NAME } from "../export/layout.js";
import type { Cloud } from "../partnerCenter/clouds.js";
import { checkDatasetCloud, datasetIdSchema, validateQuery } from "../partnerCenter/query.js";
import type { ExportProfile } from "../runs/profiles.js";

/** One export profile: the unit of scheduling and of the blob path. Query fields are validated later. */
export const exportProfileSchema = z.strictObject({
  // `adhoc` is where exports without a profile are published.
  name: PROFILE_NAME.refine(
    (n) => n !== ADHOC_PROFILE,
    `'${ADHOC_PROFILE}' is reserved for exports without a profile`,
  ),
  /** The Partner Center analytics dataset the profile exports. */
  dataset: datasetIdSchema.default("referrals"),
  filter: z.string().optional(),
  groupby: z.union([z.string(), z.array(z.string())]).optional(),
  aggregationLevel: z.string().optional(),
  formats: FORMATS.default(["csv", "json"]),
  schedule: z.boolean().default(true),
});

export type ExportProfileInput = z.infer<typeof exportProfileSchema>;

/**
 * A parsed profile as the product runs it: its dataset offered in `cloud` and its query validated
 * for that dataset, at start-up. Throws QueryValidationError (field `dataset`, `filter`, `groupby`
 * or `aggregationLevel`) naming what is wrong.
 */
export function toExportProfile(input: ExportProfileInput, cloud: Cloud): ExportProfile {
  checkDatasetCloud(input.dataset, cloud);
  return {
    name: input.name,
    query: validateQuery(
      {
        ...(input.filter !== undefined ? { filter: input.filter } : {}),
        ...(input.groupby !== undefined ? { groupby: input.groupby } : {}),
        ...(input.aggregationLevel !== undefined ? { aggregationLevel: input.aggregationLevel } : {}),
      },
      input.dataset,
    ),
    formats: input.formats,
    schedule: input.schedule,
  };
}
