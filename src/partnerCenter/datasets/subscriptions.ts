import {
  ANALYTICS_RESOURCES_PAGE,
  SUBSCRIPTIONS_BY_QUERY_PAGE,
  SUBSCRIPTIONS_GROUPED_PAGE,
  SUBSCRIPTIONS_PAGE,
} from "./pages.js";
import {
  CONTAINS_ONLY,
  EQUALITY_OPERATORS,
  NOT_FILTERABLE,
  ORDERING_OPERATORS,
  TEXT_OPERATORS,
  type DatasetDefinition,
  type DatasetField,
} from "./types.js";

/** Operators come from the filter table of "filtered by a search query"; groupby from the grouped page. */
function term(name: string, filter: DatasetField["filter"], description: string): DatasetField {
  return { name, type: "string", filter, groupBy: true, description };
}

function dateField(name: string, description: string): DatasetField {
  return { name, type: "timestamp", filter: ORDERING_OPERATORS, groupBy: true, description };
}

export const SUBSCRIPTIONS: DatasetDefinition = {
  id: "subscriptions",
  title: "Subscription analytics",
  path: "/partner/v1/analytics/subscriptions",
  fileStem: "subscriptions",
  // The resource table's 23 fields, with creationDate placed before effectiveStartDate (where both
  // examples and the groupby table put it) and the two example-only fields at the end.
  fields: [
    term(
      "customerTenantId",
      EQUALITY_OPERATORS,
      "A GUID-formatted string that identifies the customer tenant.",
    ),
    // customerName and friendlyName: the filter table gives contains only (no eq/ne).
    term("customerName", CONTAINS_ONLY, "The name of the customer."),
    term("customerMarket", EQUALITY_OPERATORS, "The country/region that the customer does business in."),
    term("id", EQUALITY_OPERATORS, "The subscription identifier."),
    term("status", EQUALITY_OPERATORS, 'The subscription status: "ACTIVE", "SUSPENDED", or "DEPROVISIONED".'),
    term("productName", TEXT_OPERATORS, "The name of the product."),
    // The table names five values, the grouped example returns others ("M365", "UNKNOWN"): no enum.
    term("subscriptionType", EQUALITY_OPERATORS, "The subscription type (case-sensitive)."),
    {
      name: "autoRenewEnabled",
      type: "boolean",
      filter: EQUALITY_OPERATORS,
      groupBy: true,
      description: "A value indicating whether the subscription is renewed automatically.",
    },
    term("partnerId", EQUALITY_OPERATORS, "The PartnerID (MPN ID) of the partner or indirect reseller."),
    term("friendlyName", CONTAINS_ONLY, "The name of the subscription."),
    // partnerName and providerName: the operators column says only "string"; read as eq/ne, after
    // the page's "each statement contains a field and value that are associated with the eq or ne operators".
    term("partnerName", EQUALITY_OPERATORS, "Name of the partner for whom the subscription was purchased."),
    term("providerName", EQUALITY_OPERATORS, "The indirect provider who bought the subscription."),
    // Not in the resource table, but in the filter table, the groupby table and both examples.
    dateField("creationDate", "The date the subscription was created."),
    dateField("effectiveStartDate", "The date the subscription starts."),
    dateField("commitmentEndDate", "The date the subscription ends."),
    dateField("currentStateEndDate", "The date that the current status of the subscription will change."),
    dateField("trialToPaidConversionDate", "The date that the subscription converts from trial to paid."),
    dateField("trialStartDate", "The date that the trial period for the subscription started."),
    // In the resource table but in neither the filter table nor the groupby table: not offered.
    {
      name: "trialEndDate",
      type: "timestamp",
      filter: NOT_FILTERABLE,
      groupBy: false,
      description: "The date that the trial period for the subscription ends.",
    },
    dateField("lastUsageDate", "The date that the subscription was last used."),
    dateField("deprovisionedDate", "The date that the subscription was deprovisioned."),
    dateField("lastRenewalDate", "The date that the subscription was last renewed."),
    // Grouped rows carry the counts as strings ("63"); ungrouped rows carry licenseCount too.
    {
      name: "licenseCount",
      type: "integer",
      filter: NOT_FILTERABLE,
      groupBy: false,
      measure: true,
      description: "The total number of licenses.",
    },
    {
      name: "subscriptionCount",
      type: "integer",
      filter: NOT_FILTERABLE,
      groupBy: false,
      measure: true,
      groupedOnly: true,
      description: "The number of subscriptions (only in the response of an aggregation query).",
    },
    // Only in the get-all example ("High", "MONTHLY"); kept as columns for a stable CSV header.
    {
      name: "churnRisk",
      type: "string",
      filter: NOT_FILTERABLE,
      groupBy: false,
      description: "Undocumented; the example shows the churn risk of the subscription.",
    },
    {
      name: "billingCycleName",
      type: "string",
      filter: NOT_FILTERABLE,
      groupBy: false,
      description: "Undocumented; the example shows the billing cycle of the subscription.",
    },
  ],
  key: ["id"],
  // The pages also list Partner Center operated by 21Vianet; this product does not support China at all.
  clouds: ["global", "usgov"],
  // The page gives "dateRange" as the default, which is not a level: the product sends a level or none.
  aggregationLevels: ["day", "week", "month"],
  // The pages show no date literal; the quoted form is the one the product already sends.
  dateLiteral: "quoted",
  maxPageSize: 10_000,
  sources: [
    SUBSCRIPTIONS_PAGE,
    SUBSCRIPTIONS_BY_QUERY_PAGE,
    SUBSCRIPTIONS_GROUPED_PAGE,
    ANALYTICS_RESOURCES_PAGE,
  ],
};
