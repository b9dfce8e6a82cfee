import { ANALYTICS_RESOURCES_PAGE, INDIRECT_RESELLERS_PAGE } from "./pages.js";
import {
  EQUALITY_OPERATORS,
  NOT_FILTERABLE,
  ORDERING_OPERATORS,
  type DatasetDefinition,
  type DatasetField,
} from "./types.js";

function term(name: string, description: string): DatasetField {
  return { name, type: "string", filter: EQUALITY_OPERATORS, groupBy: true, description };
}

/**
 * The filter text names only eq/ne, yet its own example compares a date with `le` and a
 * cast(…,Edm.DateTimeOffset) literal: the dates take ordering operators too.
 */
function dateField(name: string, description: string, aliases?: readonly string[]): DatasetField {
  return {
    name,
    type: "timestamp",
    filter: ORDERING_OPERATORS,
    groupBy: true,
    ...(aliases !== undefined ? { aliases } : {}),
    description,
  };
}

/** Documented as double (whole numbers in the example); decimal also accepts 10 and 10.0. */
function countMeasure(name: string, description: string): DatasetField {
  return { name, type: "decimal", filter: NOT_FILTERABLE, groupBy: false, measure: true, description };
}

export const INDIRECT_RESELLERS: DatasetDefinition = {
  id: "indirectResellers",
  title: "Indirect resellers analytics",
  path: "/partner/v1/analytics/indirectresellers",
  fileStem: "indirectResellers",
  fields: [
    term("partnerTenantId", "The tenant ID of the partner."),
    term("id", "Indirect reseller ID."),
    // The filter and groupby lists spell it `Name`; the resource table, example and orderby list `name`.
    term("name", "The name of the indirect reseller."),
    term("market", "The market of the indirect reseller."),
    dateField("firstSubscriptionCreationDate", "The creation date of the first subscription."),
    dateField("latestSubscriptionCreationDate", "The creation date of the latest subscription."),
    dateField("firstSubscriptionEndDate", "First time any subscription was ended."),
    dateField("latestSubscriptionEndDate", "Latest date when any subscription was ended."),
    dateField("firstSubscriptionSuspendedDate", "First time any subscription was suspended."),
    dateField("latestSubscriptionSuspendedDate", "Latest date when any subscription was suspended."),
    dateField("firstSubscriptionDeprovisionedDate", "First time any subscription was deprovisioned."),
    // The example sends latestSubscriptionDeprovisionedEndDate; the table and every parameter list
    // say latestSubscriptionDeprovisionedDate, so that is the column and the example's name an alias.
    dateField("latestSubscriptionDeprovisionedDate", "Latest date when any subscription was deprovisioned.", [
      "latestSubscriptionDeprovisionedEndDate",
    ]),
    countMeasure("subscriptionCount", "Subscription count for all value added resellers."),
    countMeasure("licenseCount", "License count for all value added resellers."),
    // Absent from the example; grouped rows carry it, per the groupby text.
    countMeasure("indirectResellerCount", "Indirect resellers count."),
  ],
  // One row per indirect reseller; the example id ("1111111") looks like an MPN ID.
  key: ["id"],
  // The page also lists Partner Center operated by 21Vianet; this product does not support China at all.
  clouds: ["global", "usgov"],
  aggregationLevels: ["day", "week", "month"],
  // The only date literal on the page is cast('2018-01-01',Edm.DateTimeOffset).
  dateLiteral: "cast",
  maxPageSize: 10_000,
  // The example writes dates that never happened (suspended, deprovisioned) as year 1.
  nullSentinels: ["0001-01-01T00:00:00"],
  sources: [INDIRECT_RESELLERS_PAGE, ANALYTICS_RESOURCES_PAGE],
};
