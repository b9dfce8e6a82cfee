import { AZURE_USAGE } from "./azureUsage.js";
import { INDIRECT_RESELLERS } from "./indirectResellers.js";
import { LICENSES_DEPLOYMENT, LICENSES_USAGE } from "./licenses.js";
import { REFERRALS } from "./referrals.js";
import { SEARCH } from "./search.js";
import { SUBSCRIPTIONS } from "./subscriptions.js";
import {
  DATASET_IDS,
  isDateType,
  type DatasetDefinition,
  type DatasetField,
  type DatasetId,
} from "./types.js";

export * from "./types.js";

/** The registry: every dataset once, in DATASET_IDS order. */
export const DATASETS: readonly DatasetDefinition[] = [
  REFERRALS,
  SEARCH,
  SUBSCRIPTIONS,
  INDIRECT_RESELLERS,
  AZURE_USAGE,
  LICENSES_DEPLOYMENT,
  LICENSES_USAGE,
];

const byId: ReadonlyMap<string, DatasetDefinition> = new Map(DATASETS.map((d) => [d.id, d]));

export function isDatasetId(id: string): id is DatasetId {
  return (DATASET_IDS as readonly string[]).includes(id);
}

/** The dataset with exactly this id (ids are case-sensitive). */
export function datasetById(id: string): DatasetDefinition | undefined {
  return byId.get(id);
}

/** The dataset with this id; throws an Error naming the known ids (and a near miss in case only). */
export function requireDataset(id: string): DatasetDefinition {
  const dataset = byId.get(id);
  if (dataset !== undefined) return dataset;
  const lower = id.toLowerCase();
  const sameButCase = DATASET_IDS.find((known) => known.toLowerCase() === lower);
  const hint = sameButCase === undefined ? "" : ` (did you mean '${sameButCase}'?)`;
  const shown = JSON.stringify(id.length > 40 ? `${id.slice(0, 40)}…` : id);
  throw new Error(`unknown dataset ${shown}${hint}; known datasets: ${DATASET_IDS.join(", ")}`);
}

/** The field with exactly this documented name. */
export function datasetField(dataset: DatasetDefinition, name: string): DatasetField | undefined {
  return dataset.fields.find((f) => f.name === name);
}

/** Column names of an ungrouped export, in CSV order. */
export function columnNames(dataset: DatasetDefinition): readonly string[] {
  return dataset.fields.map((f) => f.name);
}

/** The date fields aggregationLevel applies to: groupable date fields (none when it is not offered). */
export function aggregationDateFields(dataset: DatasetDefinition): readonly DatasetField[] {
  if (dataset.aggregationLevels.length === 0) return [];
  return dataset.fields.filter((f) => f.groupBy && isDateType(f.type));
}

/** The measures grouped rows carry beside the groupby fields. */
export function measureFields(dataset: DatasetDefinition): readonly DatasetField[] {
  return dataset.fields.filter((f) => f.measure === true);
}

/** What the change feed identifies a row by and compares, in column order. */
export interface ChangeFeedFields {
  readonly key: readonly DatasetField[];
  readonly compared: readonly DatasetField[];
}

/** The change feed's fields of a dataset; null when its rows have no key (then no feed is written). */
export function changeFeedFields(dataset: DatasetDefinition): ChangeFeedFields | null {
  if (dataset.key === null) return null;
  const key = dataset.key;
  const field = (name: string): DatasetField => {
    const found = datasetField(dataset, name);
    if (!found) throw new Error(`${dataset.id}: the change feed names an unknown field ${name}`);
    return found;
  };
  const compared =
    dataset.comparedFields?.map(field) ??
    dataset.fields.filter((f) => !key.includes(f.name) && f.volatile !== true && f.groupedOnly !== true);
  return { key: key.map(field), compared };
}
