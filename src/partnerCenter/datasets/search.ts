import { ANALYTICS_RESOURCES_PAGE, SEARCH_PAGE } from "./pages.js";
import {
  EQUALITY_OPERATORS,
  NOT_FILTERABLE,
  ORDERING_OPERATORS,
  TEXT_OPERATORS,
  type DatasetDefinition,
  type DatasetField,
} from "./types.js";

/**
 * Like referrals, the page lists no filterable or groupable fields: the eleven fields a search row
 * carries take the referrals grammar (eq/ne, contains() on text, ordering on the date; booleans
 * eq/ne) and are groupable.
 */
function textField(name: string, description: string): DatasetField {
  return { name, type: "string", filter: TEXT_OPERATORS, groupBy: true, description };
}

function booleanField(name: string, description: string): DatasetField {
  return { name, type: "boolean", filter: EQUALITY_OPERATORS, groupBy: true, description };
}

/** "Part of a response only on aggregation": the grouped measures. */
function countMeasure(name: string, description: string): DatasetField {
  return {
    name,
    type: "integer",
    filter: NOT_FILTERABLE,
    groupBy: false,
    measure: true,
    groupedOnly: true,
    description,
  };
}

export const SEARCH: DatasetDefinition = {
  id: "search",
  title: "Search analytics",
  path: "/partner/v1/analytics/search",
  fileStem: "search",
  fields: [
    textField("companyName", "The billing company name."),
    booleanField("contactButtonClicked", "Indicates if the contact button was clicked."),
    textField("keywordCountry", "The country specified in the search."),
    booleanField("detailsViewed", "Indicates if search details were viewed."),
    textField("keywordIndustryFocus", "The industry to search within, for example, healthcare."),
    // Documented as a string although the example sends a JSON number (2604568).
    textField("mpnId", "The Microsoft Partner Network (MPN) ID."),
    // Described as "Locale", but the example value ("CN") is a market code.
    textField("partnerMarket", "Locale where the partner conducts business."),
    textField("keywordProduct", "The product specified in the search."),
    booleanField("referralSubmitted", "Indicates if a referral was submitted."),
    // Documented as a UTC date time; the example is date-only ("2018-05-30").
    {
      name: "searchDate",
      type: "timestamp",
      filter: ORDERING_OPERATORS,
      groupBy: true,
      description: "Date when the search query occurred.",
    },
    textField("keywordSearchText", "The text specified in the search."),
    countMeasure("searchResultPageViews", "Number of times the partner came up in the search result."),
    countMeasure("contactClicks", "Number of times the contact button was clicked."),
    countMeasure("referralCount", "Number of referrals generated from the search."),
    countMeasure("profileViews", "Number of times the partner profile was viewed."),
  ],
  key: null,
  noKeyReason:
    "rows are individual search events with no identifier; two identical searches are identical rows",
  // The page also lists Partner Center operated by 21Vianet; this product does not support China at all.
  clouds: ["global", "usgov"],
  aggregationLevels: ["day", "week", "month"],
  dateLiteral: "quoted",
  // "The page limit is 10000. Takes any value less than 10000." (as for referrals).
  maxPageSize: 10_000,
  sources: [SEARCH_PAGE, ANALYTICS_RESOURCES_PAGE],
};
