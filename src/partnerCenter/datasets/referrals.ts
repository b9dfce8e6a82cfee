import { DATE_FIELDS } from "../fields.js";
import { ANALYTICS_RESOURCES_PAGE, REFERRALS_PAGE } from "./pages.js";
import { ORDERING_OPERATORS, TEXT_OPERATORS, type DatasetDefinition, type DatasetField } from "./types.js";

/**
 * The page lists no filterable or groupable fields. The grammar is the family's, as the product has
 * always applied it: every field filterable and groupable, eq/ne everywhere, gt/ge/lt/le on the
 * dates, contains() on the text fields.
 */
function dateField(name: string, description: string): DatasetField {
  return { name, type: "timestamp", filter: ORDERING_OPERATORS, groupBy: true, description };
}

function textField(name: string, description: string): DatasetField {
  return { name, type: "string", filter: TEXT_OPERATORS, groupBy: true, description };
}

export const REFERRALS: DatasetDefinition = {
  id: "referrals",
  title: "Referrals analytics",
  path: "/partner/v1/analytics/referrals",
  fileStem: "referrals",
  fields: [
    // The resource table calls `id` "The customer tenant identifier.", but the example value
    // ("112310") is a referral number, not a tenant GUID: one row is one referral.
    textField("id", "The referral identifier."),
    textField("status", "Indicates if the referral led to a customer."),
    textField("customerMarket", "The country/region that the customer does business in."),
    textField("customerName", "The name of the customer."),
    textField(
      "customerOrgSize",
      "A range indicating the number of employees in the customer's organization.",
    ),
    dateField("acceptedDate", "The date that the referral was accepted."),
    dateField("acknowledgedDate", "The date that the referral was acknowledged."),
    dateField("archivedDate", "The date that the referral was archived."),
    dateField("declinedDate", "The date that the referral was declined."),
    dateField("expiredDate", "The date that the referral expired."),
    dateField("lostDate", "The date that the referral was lost."),
    dateField("missedDate", "The date that the referral was missed."),
    dateField("createdDate", "The date that the referral was created."),
    dateField("skippedDate", "The date that the referral was skipped."),
    dateField("wonDate", "The date that the referral was won."),
    textField("partnerMarket", "The country/region that the partner does business in."),
  ],
  key: ["id"],
  // What the change feed has always compared: where a referral stands in its life cycle. Names and
  // markets are descriptive and do not make a referral "changed".
  comparedFields: ["status", ...DATE_FIELDS],
  // Referrals analytics are not available to Partner Center operated by 21Vianet (resources page).
  clouds: ["global", "usgov"],
  aggregationLevels: ["day", "week", "month"],
  dateLiteral: "quoted",
  // "The page limit is 10000. Takes any value less than 10000." Sibling pages say the maximum is
  // 10000, which is what the product has always sent; when paging ends is the client's rule, not this.
  maxPageSize: 10_000,
  sources: [REFERRALS_PAGE, ANALYTICS_RESOURCES_PAGE],
};
