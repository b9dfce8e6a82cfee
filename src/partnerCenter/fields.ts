/** Referral fields as Partner Center documents them; this order is the CSV column order. */
export const REFERRAL_FIELDS = [
  "id",
  "status",
  "customerMarket",
  "customerName",
  "customerOrgSize",
  "acceptedDate",
  "acknowledgedDate",
  "archivedDate",
  "declinedDate",
  "expiredDate",
  "lostDate",
  "missedDate",
  "createdDate",
  "skippedDate",
  "wonDate",
  "partnerMarket",
] as const;

export type ReferralField = (typeof REFERRAL_FIELDS)[number];

export const DATE_FIELDS = [
  "acceptedDate",
  "acknowledgedDate",
  "archivedDate",
  "declinedDate",
  "expiredDate",
  "lostDate",
  "missedDate",
  "createdDate",
  "skippedDate",
  "wonDate",
] as const satisfies readonly ReferralField[];

export type DateField = (typeof DATE_FIELDS)[number];

export const AGGREGATION_LEVELS = ["day", "week", "month"] as const;
export type AggregationLevel = (typeof AGGREGATION_LEVELS)[number];

const fieldSet: ReadonlySet<string> = new Set(REFERRAL_FIELDS);
const dateFieldSet: ReadonlySet<string> = new Set(DATE_FIELDS);

export function isReferralField(name: string): name is ReferralField {
  return fieldSet.has(name);
}

export function isDateField(name: string): name is DateField {
  return dateFieldSet.has(name);
}

/** A referral row as it arrives: documented fields plus any extra fields upstream adds. */
export type ReferralRow = Record<string, unknown>;
