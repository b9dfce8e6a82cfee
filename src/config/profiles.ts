import { z } from "zod";
import { ADHOC_PROFILE, FORMATS, PROFILE_NAME } from "../export/layout.js";

/** One export profile: the unit of scheduling and of the blob path. Query fields are validated later. */
export const exportProfileSchema = z.strictObject({
  // `adhoc` is where exports without a profile are published.
  name: PROFILE_NAME.refine(
    (n) => n !== ADHOC_PROFILE,
    `'${ADHOC_PROFILE}' is reserved for exports without a profile`,
  ),
  filter: z.string().optional(),
  groupby: z.union([z.string(), z.array(z.string())]).optional(),
  aggregationLevel: z.string().optional(),
  formats: FORMATS.default(["csv", "json"]),
  schedule: z.boolean().default(true),
});

export type ExportProfileInput = z.infer<typeof exportProfileSchema>;
