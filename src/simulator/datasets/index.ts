import {
  DATASET_IDS,
  measureFields,
  requireDataset,
  type DatasetDefinition,
  type DatasetId,
} from "../../partnerCenter/datasets/index.js";
import { createDataset } from "../dataset.js";
import type { GroupMeasures } from "../grouping.js";
import { readField, type RowTable, type SimRow } from "../rowTable.js";
import { createAzureUsageRows } from "./azureUsage.js";
import type { GeneratorOptions } from "./common.js";
import { createIndirectResellerRows, indirectResellerContribution } from "./indirectResellers.js";
import { createLicensesDeploymentRows, createLicensesUsageRows } from "./licenses.js";
import { createSearchRows, searchContribution } from "./search.js";
import { createSubscriptionRows, subscriptionContribution } from "./subscriptions.js";

export type { GeneratorOptions } from "./common.js";

/** Every dataset but referrals, whose size is the local cloud's `rows`. */
export type OtherDatasetId = Exclude<DatasetId, "referrals">;
export const OTHER_DATASET_IDS: readonly OtherDatasetId[] = DATASET_IDS.filter(
  (id): id is OtherDatasetId => id !== "referrals",
);

/**
 * Default sizes: fixed, so the referrals size (which a benchmark may set to a million) does not
 * drag the others along; a few thousand rows page in a handful of requests.
 */
export const DEFAULT_DATASET_ROWS: Readonly<Record<OtherDatasetId, number>> = {
  search: 5_000,
  subscriptions: 4_000,
  indirectResellers: 800,
  azureUsage: 8_000,
  licensesDeployment: 3_000,
  licensesUsage: 6_000,
};

/** One dataset as the simulator serves it. */
export interface SimulatedDataset {
  readonly id: DatasetId;
  readonly rows: RowTable;
  /**
   * Whether the documented upstream quirks are served. The rows carry their own (aliases, null
   * sentinels); grouped rows follow this flag (subscription counts as strings).
   */
  readonly quirks: boolean;
}

/** The rows of one dataset from a seed (referrals: the referrals generator, which ignores quirks). */
export function createDatasetRows(id: DatasetId, options: GeneratorOptions): RowTable {
  switch (id) {
    case "referrals":
      return createDataset({
        size: options.size,
        seed: options.seed,
        ...(options.end !== undefined ? { end: options.end } : {}),
      });
    case "search":
      return createSearchRows(options);
    case "subscriptions":
      return createSubscriptionRows(options);
    case "indirectResellers":
      return createIndirectResellerRows(options);
    case "azureUsage":
      return createAzureUsageRows(options);
    case "licensesDeployment":
      return createLicensesDeploymentRows(options);
    case "licensesUsage":
      return createLicensesUsageRows(options);
  }
}

export interface SimulatedDatasetsOptions {
  readonly seed: number;
  readonly end?: Date | string;
  /** Rows per dataset; absent ones take DEFAULT_DATASET_ROWS. */
  readonly rows?: Partial<Record<OtherDatasetId, number>>;
  /** Serve the documented upstream quirks (default true). */
  readonly quirks?: boolean;
}

/** Every dataset but referrals, generated from one seed (the same customers appear across them). */
export function createSimulatedDatasets(
  options: SimulatedDatasetsOptions,
): Record<OtherDatasetId, SimulatedDataset> {
  const quirks = options.quirks ?? true;
  const entries = OTHER_DATASET_IDS.map((id) => {
    const rows = createDatasetRows(id, {
      size: options.rows?.[id] ?? DEFAULT_DATASET_ROWS[id],
      seed: options.seed,
      quirks,
      ...(options.end !== undefined ? { end: options.end } : {}),
    });
    return [id, { id, rows, quirks }] as const;
  });
  return Object.fromEntries(entries) as Record<OtherDatasetId, SimulatedDataset>;
}

// ---------------------------------------------------------------------------------------------
// What grouped rows carry

/** A row's own value of a measure (0 when it has none); aliases count. */
function ownValue(definition: DatasetDefinition): (row: SimRow, measure: string) => number {
  const aliases = new Map(definition.fields.map((f) => [f.name, f.aliases]));
  return (row, measure) => {
    const value = readField(row, measure, aliases.get(measure));
    if (typeof value === "number") return value;
    const parsed = typeof value === "string" ? Number(value) : NaN;
    return Number.isFinite(parsed) ? parsed : 0;
  };
}

const CONTRIBUTIONS: Partial<Record<DatasetId, (row: SimRow, measure: string) => number>> = {
  search: searchContribution,
  subscriptions: subscriptionContribution,
  indirectResellers: indirectResellerContribution,
};

/**
 * The measures grouped rows of this dataset carry, or undefined for a dataset without documented
 * measures (referrals), whose grouped rows carry a count.
 */
export function datasetMeasures(id: DatasetId, quirks: boolean): GroupMeasures | undefined {
  const definition = requireDataset(id);
  const measures = measureFields(definition);
  if (measures.length === 0) return undefined;
  const types = new Map(measures.map((f) => [f.name, f.type]));
  // The grouped subscriptions example sends its counts as strings ("63").
  const asStrings = quirks && id === "subscriptions";
  return {
    fields: measures.map((f) => f.name),
    contribution: CONTRIBUTIONS[id] ?? ownValue(definition),
    write(measure, total) {
      // Sums of fractional quantities pick up binary noise; six decimals is what the rows carry.
      const value = types.get(measure) === "integer" ? Math.round(total) : Math.round(total * 1e6) / 1e6;
      return asStrings ? String(value) : value;
    },
  };
}

/**
 * Datasets whose documented envelope writes `"@nextLink": null` when there is no next page (the
 * grouped subscriptions and commercial license examples); the others leave the member out.
 */
export function writesNullNextLink(id: DatasetId): boolean {
  return id === "subscriptions" || id === "licensesDeployment" || id === "licensesUsage";
}
