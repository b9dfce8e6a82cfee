import { LICENSES_DEPLOYMENT_PAGE, LICENSES_USAGE_PAGE } from "./pages.js";
import { EQUALITY_OPERATORS, NOT_FILTERABLE, type DatasetDefinition, type DatasetField } from "./types.js";

/**
 * The commercial license endpoints, the successors that the superseded partner- and customer-level
 * license pages point to. Their request-syntax tables say `/v1/analytics/commercial/…/license/`,
 * while their request examples say `/partner/v1/analytics/commercial/…/license`: the example's form
 * is used, as it matches every other analytics route.
 *
 * Filter (eq/ne) and groupby take the same term fields. No aggregationLevel is documented and no
 * date field can be grouped. `processedDateTime` is a query parameter ("the date from which usage
 * data was processed"), not a filter field, so it is neither filterable nor groupable here.
 */
function term(name: string, description: string): DatasetField {
  return { name, type: "string", filter: EQUALITY_OPERATORS, groupBy: true, description };
}

function countMeasure(name: string, description: string, aliases?: readonly string[]): DatasetField {
  return {
    name,
    type: "integer",
    filter: NOT_FILTERABLE,
    groupBy: false,
    measure: true,
    ...(aliases !== undefined ? { aliases } : {}),
    description,
  };
}

const PROCESSED_DATE_TIME: DatasetField = {
  name: "processedDateTime",
  type: "timestamp",
  filter: NOT_FILTERABLE,
  groupBy: false,
  description: "Date when the data was last processed.",
  volatile: true,
};

/** The license pages have no "Applies to" beyond Partner Center itself: global only. */
const LICENSE_CLOUDS = ["global"] as const;

export const LICENSES_DEPLOYMENT: DatasetDefinition = {
  id: "licensesDeployment",
  title: "Licenses deployment analytics",
  path: "/partner/v1/analytics/commercial/deployment/license",
  fileStem: "licensesDeployment",
  fields: [
    term("serviceCode", "Service code."),
    term("serviceName", "Service name."),
    term("channel", "Channel name, reseller."),
    term("customerTenantId", "Unique identifier for the customer."),
    term("customerName", "Customer name."),
    term("productId", "Unique identifier for the product."),
    term("productName", "Product name."),
    countMeasure("licensesDeployed", "Number of licenses deployed."),
    countMeasure("licensesSold", "Number of licenses sold."),
    PROCESSED_DATE_TIME,
  ],
  // Inferred: one row per customer, product and channel within one processed date (a response
  // holds the latest processed date unless asked otherwise).
  key: ["customerTenantId", "productId", "channel"],
  clouds: LICENSE_CLOUDS,
  aggregationLevels: [],
  // No date field is filterable, so no date literal is ever written.
  dateLiteral: "quoted",
  maxPageSize: 10_000,
  sources: [LICENSES_DEPLOYMENT_PAGE],
};

export const LICENSES_USAGE: DatasetDefinition = {
  id: "licensesUsage",
  title: "Licenses usage analytics",
  path: "/partner/v1/analytics/commercial/usage/license",
  fileStem: "licensesUsage",
  // The groupby list reads "channelcustomerTenantId", a markdown conversion slip for two fields.
  fields: [
    term("workloadCode", "Workload code."),
    term("workloadName", "Workload name."),
    term("serviceCode", "Service code."),
    term("serviceName", "Service name."),
    term("channel", "Channel name, reseller."),
    term("customerTenantId", "Unique identifier for the customer."),
    term("customerName", "Customer name."),
    term("productId", "Unique identifier for the product."),
    term("productName", "Product name."),
    // The response table says licensesActive, the example sends licenseActive.
    countMeasure("licensesActive", "Number of active licenses per workload.", ["licenseActive"]),
    countMeasure("licensesQualified", "Number of qualified licenses for the workload."),
    PROCESSED_DATE_TIME,
  ],
  // Inferred: one row per customer, product, workload and channel within one processed date.
  key: ["customerTenantId", "productId", "workloadCode", "channel"],
  clouds: LICENSE_CLOUDS,
  aggregationLevels: [],
  // No date field is filterable, so no date literal is ever written.
  dateLiteral: "quoted",
  maxPageSize: 10_000,
  sources: [LICENSES_USAGE_PAGE],
};
