import { z } from "zod";
import { ADHOC_PROFILE, FORMATS, PROFILE_NAME, type ExportFormat } from "../export/layout.js";
import type { Cloud } from "../partnerCenter/clouds.js";
import {
  aggregationDateFields,
  requireDataset,
  type DatasetDefinition,
  type DatasetId,
} from "../partnerCenter/datasets/index.js";
import {
  checkDatasetCloud,
  datasetIdSchema,
  isQueryValidationError,
  validateQuery,
  type ValidatedQuery,
} from "../partnerCenter/query.js";
import type { ExportProfile } from "./profiles.js";

/**
 * What a caller may ask for, through any door: `POST /api/exports` reads it from the body, the
 * CLI builds it from its flags. One schema and one resolver, so both doors refuse the same
 * requests with the same messages.
 */
export const exportRequestSchema = z.strictObject({
  profile: PROFILE_NAME.optional(),
  /** Folder of an ad-hoc export (default: see adhocFolder); never a configured profile's. */
  name: PROFILE_NAME.optional(),
  filter: z.string({ error: "must be a string" }).optional(),
  groupby: z
    .union([z.string(), z.array(z.string({ error: "must be a field name" }))], {
      error: "must be a field name or an array of field names",
    })
    .optional(),
  aggregationLevel: z.string({ error: "must be a string (day, week or month)" }).optional(),
  formats: FORMATS.optional(),
  /** The analytics dataset of an ad-hoc export (default referrals); a profile names its own. */
  dataset: datasetIdSchema.optional(),
});

export type ExportRequestInput = z.infer<typeof exportRequestSchema>;

/** Where an export publishes: a configured profile's folder, or an ad-hoc folder. */
export type ExportSource = "profile" | "adhoc";

export interface ResolvedExportRequest {
  /** The folder the run publishes into: the profile's name or the ad-hoc name. */
  readonly profile: string;
  readonly source: ExportSource;
  /** The query, validated for its dataset (`query.dataset`, which is what the run uses). */
  readonly query: ValidatedQuery;
  /** The id of `query.dataset`, for readers of the request (absent = referrals). */
  readonly dataset?: DatasetId;
  readonly formats: readonly ExportFormat[];
}

/** What the doors know beyond the request and the profiles. */
export interface ResolveOptions {
  /** The configured cloud: an ad-hoc dataset it does not offer is refused. */
  readonly cloud?: Cloud;
}

/** One thing wrong with a request; `field` is the request field's name (the CLI shows its flag). */
export interface FieldProblem {
  readonly field: string;
  readonly message: string;
}

export type Resolution =
  | { readonly ok: true; readonly value: ResolvedExportRequest }
  | { readonly ok: false; readonly errors: readonly FieldProblem[] };

const DEFAULT_FORMATS: readonly ExportFormat[] = ["csv", "json"];

/**
 * The folder an ad-hoc export publishes under when it names none: `adhoc` for referrals, as it
 * always was, and `adhoc-<dataset>` for every other dataset (the id in lower case with hyphens:
 * `adhoc-subscriptions`, `adhoc-indirect-resellers`, `adhoc-azure-usage`), so ad-hoc runs of
 * different datasets never take turns in one `latest/`. A named ad-hoc export publishes under its
 * name, and publishTargetProblem refuses a folder whose `latest/` holds another dataset's snapshot.
 */
export function adhocFolder(dataset: DatasetId): string {
  if (dataset === "referrals") return ADHOC_PROFILE;
  return `${ADHOC_PROFILE}-${dataset.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * Turns a request into a folder, a validated query and formats, or the list of problems. A named
 * profile runs exactly as configured (its `latest/` stays one stable data set); an export
 * without a profile is ad hoc, published under its name (default `adhoc`), which may never be a
 * configured profile's.
 */
export function resolveExportRequest(
  input: ExportRequestInput,
  profiles: readonly ExportProfile[],
  options: ResolveOptions = {},
): Resolution {
  const errors: FieldProblem[] = [];
  if (input.profile !== undefined) {
    const profile = profiles.find((p) => p.name === input.profile);
    if (!profile) {
      errors.push({
        field: "profile",
        message: `unknown profile '${input.profile}'; configured profiles: ${profiles.map((p) => p.name).join(", ") || "none"} (omit profile for an ad-hoc export)`,
      });
    }
    for (const field of ["name", "dataset", "filter", "groupby", "aggregationLevel", "formats"] as const) {
      if (input[field] !== undefined)
        errors.push({
          field,
          message:
            field === "name"
              ? "cannot be combined with profile: a profile publishes under its own name"
              : field === "dataset"
                ? "cannot be combined with profile: a profile's dataset is set in EXPORT_PROFILES (omit profile for an ad-hoc export)"
                : "cannot be combined with profile: a profile's query and formats are set in EXPORT_PROFILES (omit profile for an ad-hoc export)",
        });
    }
    if (errors.length > 0 || !profile) return { ok: false, errors };
    return {
      ok: true,
      value: {
        profile: profile.name,
        source: "profile",
        query: profile.query,
        dataset: profile.query.dataset?.id ?? "referrals",
        formats: profile.formats,
      },
    };
  }

  const dataset: DatasetDefinition = requireDataset(input.dataset ?? "referrals");
  const name = input.name ?? adhocFolder(dataset.id);
  if (profiles.some((p) => p.name === name))
    errors.push({
      field: "name",
      message: `'${name}' is a configured profile; run it by profile, or give the ad-hoc export another name`,
    });

  // Each query field is checked on its own first, so every bad field is named at once.
  const collect = (check: () => unknown): void => {
    try {
      check();
    } catch (error) {
      if (!isQueryValidationError(error)) throw error;
      errors.push({ field: error.field, message: error.detail });
    }
  };
  const cloud = options.cloud;
  if (cloud !== undefined)
    collect(() => {
      checkDatasetCloud(dataset, cloud);
    });
  collect(() => validateQuery({ filter: input.filter }, dataset));
  collect(() => validateQuery({ groupby: input.groupby }, dataset));
  let query: ValidatedQuery | undefined;
  if (!errors.some((e) => e.field === "filter" || e.field === "groupby")) {
    collect(() => {
      query = validateQuery(
        {
          filter: input.filter,
          groupby: input.groupby,
          aggregationLevel: input.aggregationLevel,
        },
        dataset,
      );
    });
  } else if (input.aggregationLevel !== undefined) {
    // The level's own spelling can still be checked, against any of the dataset's date fields.
    const date = aggregationDateFields(dataset)[0];
    collect(() =>
      validateQuery(
        { groupby: date === undefined ? undefined : [date.name], aggregationLevel: input.aggregationLevel },
        dataset,
      ),
    );
  }
  if (errors.length > 0 || !query) return { ok: false, errors };
  return {
    ok: true,
    value: {
      profile: name,
      source: "adhoc",
      query,
      dataset: dataset.id,
      formats: input.formats ?? DEFAULT_FORMATS,
    },
  };
}
