import type { DocumentationPage } from "./types.js";

/** Partner Center developer documentation pages the dataset facts are taken from. */
const DOCS = "https://learn.microsoft.com/en-us/partner-center/developer";

/** The resource tables (field names, types, descriptions) of referrals, search, subscriptions, indirect resellers and Azure usage. */
export const ANALYTICS_RESOURCES_PAGE: DocumentationPage = {
  title: "Partner Center Analytics - Resources",
  url: `${DOCS}/partner-center-analytics-resources`,
};

export const REFERRALS_PAGE: DocumentationPage = {
  title: "Get all referrals analytics information",
  url: `${DOCS}/get-all-referrals-analytics`,
};

export const SEARCH_PAGE: DocumentationPage = {
  title: "Get all search analytics information",
  url: `${DOCS}/get-all-search-analytics`,
};

export const SUBSCRIPTIONS_PAGE: DocumentationPage = {
  title: "Get all subscription analytics information",
  url: `${DOCS}/get-all-subscription-analytics`,
};

/** Holds the subscriptions filter table (fields and operators). */
export const SUBSCRIPTIONS_BY_QUERY_PAGE: DocumentationPage = {
  title: "Get subscription analytics information filtered by a search query",
  url: `${DOCS}/get-subscription-analytics-by-search-query`,
};

/** Holds the subscriptions groupby table and the grouped response. */
export const SUBSCRIPTIONS_GROUPED_PAGE: DocumentationPage = {
  title: "Get subscription analytics grouped by dates or terms",
  url: `${DOCS}/get-subscription-analytics-grouped-by-dates-or-terms`,
};

export const INDIRECT_RESELLERS_PAGE: DocumentationPage = {
  title: "Get all indirect resellers analytics information",
  url: `${DOCS}/get-all-indirect-resellers-analytics`,
};

export const AZURE_USAGE_PAGE: DocumentationPage = {
  title: "Get all Azure usage analytics information",
  url: `${DOCS}/get-all-azure-usage-analytics`,
};

export const LICENSES_DEPLOYMENT_PAGE: DocumentationPage = {
  title: "Get licenses deployment information",
  url: `${DOCS}/get-licenses-deployment-information`,
};

export const LICENSES_USAGE_PAGE: DocumentationPage = {
  title: "Get licenses usage information",
  url: `${DOCS}/get-licenses-usage-information`,
};
