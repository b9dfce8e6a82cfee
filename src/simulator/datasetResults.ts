import { requireDataset, type DatasetDefinition, type DatasetId } from "../partnerCenter/datasets/index.js";
import type { AggregationLevel } from "../partnerCenter/fields.js";
import { validateQuery } from "../partnerCenter/query.js";
import { parseDatasetQuery, type DatasetQueryInput } from "./datasetQuery.js";
import { datasetMeasures, type SimulatedDataset } from "./datasets/index.js";
import { compileFilter, type AnyFilterNode, type RowPredicate } from "./filterEval.js";
import { groupRows, type GroupingOptions, type GroupRow } from "./grouping.js";
import type { SimRow } from "./rowTable.js";

/** A validated query as the route serves it: the product's ValidatedQuery fits, as does the simulator's own. */
export interface ServedQuery {
  /** Canonical filter text; next links carry it. */
  readonly filter?: string;
  readonly filterAst?: AnyFilterNode;
  readonly groupby?: readonly string[];
  readonly aggregationLevel?: AggregationLevel;
}

export interface CountOptions {
  /** Name of the count grouped referrals carry (default referralCount). */
  readonly countField?: string;
  readonly countAsString?: boolean;
}

/** How one dataset's queries are read, matched and grouped. */
export interface DatasetRules {
  readonly id: DatasetId;
  readonly definition: DatasetDefinition;
  /** Throws QueryValidationError (referrals) or DatasetQueryError (the others): both are 400s. */
  validate(input: DatasetQueryInput): ServedQuery;
  predicate(ast: AnyFilterNode): RowPredicate;
  grouping(query: ServedQuery & { readonly groupby: readonly string[] }): GroupingOptions;
}

/**
 * Referrals keep the product's validator and grouped rows with a count, exactly as they always
 * were; every other dataset is read by the simulator's own grammar and grouped into its measures.
 */
export function datasetRules(id: DatasetId, quirks: boolean, count: CountOptions = {}): DatasetRules {
  const definition = requireDataset(id);
  if (id === "referrals") {
    return {
      id,
      definition,
      validate: (input) => validateQuery(input),
      predicate: (ast) => compileFilter(ast),
      grouping: (query) => ({
        groupby: query.groupby,
        ...(query.aggregationLevel !== undefined ? { aggregationLevel: query.aggregationLevel } : {}),
        ...(count.countField !== undefined ? { countField: count.countField } : {}),
        ...(count.countAsString !== undefined ? { countAsString: count.countAsString } : {}),
      }),
    };
  }
  const measures = datasetMeasures(id, quirks);
  return {
    id,
    definition,
    validate: (input) => parseDatasetQuery(definition, input),
    predicate: (ast) => compileFilter(ast, definition),
    grouping: (query) => ({
      groupby: query.groupby,
      dataset: definition,
      ...(query.aggregationLevel !== undefined ? { aggregationLevel: query.aggregationLevel } : {}),
      ...(measures !== undefined ? { measures } : {}),
    }),
  };
}

/** The query a caller hands in, as text: a ValidatedQuery fits too (its canonical filter is read again). */
export interface ExpectedQuery {
  readonly filter?: string | undefined;
  readonly groupby?: string | readonly string[] | undefined;
  readonly aggregationLevel?: string | undefined;
}

/**
 * The full answer the route gives to a query on this dataset, computed plainly (no cache, no
 * paging): the matching rows in order, or the groups. Throws the route's 400 errors.
 */
export function expectedResult(
  source: SimulatedDataset,
  query: ExpectedQuery,
  count: CountOptions = {},
): SimRow[] | GroupRow[] {
  const rules = datasetRules(source.id, source.quirks, count);
  const served = rules.validate({
    ...(query.filter !== undefined ? { filter: query.filter } : {}),
    ...(query.groupby !== undefined ? { groupby: query.groupby } : {}),
    ...(query.aggregationLevel !== undefined ? { aggregationLevel: query.aggregationLevel } : {}),
  });
  const predicate = served.filterAst === undefined ? undefined : rules.predicate(served.filterAst);
  const rows: SimRow[] = [];
  for (let i = 0; i < source.rows.size; i++) {
    const row = source.rows.get(i);
    if (predicate === undefined || predicate(row)) rows.push(row);
  }
  if (served.groupby === undefined) return rows;
  return groupRows(rows, rules.grouping({ ...served, groupby: served.groupby }));
}
