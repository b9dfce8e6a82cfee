import { ANALYTICS_RESOURCES_PAGE, AZURE_USAGE_PAGE } from "./pages.js";
import {
  EQUALITY_OPERATORS,
  NOT_FILTERABLE,
  ORDERING_OPERATORS,
  type DatasetDefinition,
  type DatasetField,
} from "./types.js";

function term(name: string, description: string, aliases?: readonly string[]): DatasetField {
  return {
    name,
    type: "string",
    filter: EQUALITY_OPERATORS,
    groupBy: true,
    ...(aliases !== undefined ? { aliases } : {}),
    description,
  };
}

export const AZURE_USAGE: DatasetDefinition = {
  id: "azureUsage",
  title: "Azure usage analytics",
  path: "/partner/v1/analytics/usage/azure",
  fileStem: "azureUsage",
  fields: [
    // The resource table spells it CustomerTenantId; the example and every parameter list say customerTenantId.
    term("customerTenantId", "The customer tenant identifier.", ["CustomerTenantId"]),
    term("customerName", "The customer name."),
    term("subscriptionId", "The subscription identifier."),
    term("subscriptionName", "The subscription name."),
    // Typed plain "string", yet used as a date (aggregationLevel, the cast example): a timestamp.
    // The filter text names only eq/ne, but its example compares usageDate with `le`.
    {
      name: "usageDate",
      type: "timestamp",
      filter: ORDERING_OPERATORS,
      groupBy: true,
      description: "The usage date.",
    },
    term("resourceLocation", "The location of the data center, Western Europe, for example."),
    term("meterCategory", "The meter category, data management, for example."),
    term("meterSubcategory", "The meter subcategory, for example, geo redundant."),
    term("meterUnit", "The meter unit, such as gigabytes or hours."),
    // "" stands for "no reservation" and stays an empty string.
    term("reservationOrderId", "The reservation order for an Azure VM Reserved Instance."),
    term("reservationId", "Reserved instances under a specific RI order."),
    // Not in the resource table, but in the filter, orderby and groupby lists and the example, here.
    term("consumptionMeterId", "The consumption meter identifier."),
    term("serviceType", "Indicates the virtual machine type. For example, Standard_E4s_v3."),
    // The measure of grouped rows ("the Quantity"), and unlike search's counts also present in every
    // ungrouped row. Documented as long, but meter quantities are fractional elsewhere in Partner
    // Center: decimal loses nothing.
    {
      name: "quantity",
      type: "decimal",
      filter: NOT_FILTERABLE,
      groupBy: false,
      measure: true,
      description: "Indicates the numbers used in the meter unit.",
    },
  ],
  key: null,
  noKeyReason:
    "rows are usage quantities aggregated per customer, subscription, day and meter; no field identifies one",
  // The page also lists Partner Center operated by 21Vianet; this product does not support China at all.
  clouds: ["global", "usgov"],
  aggregationLevels: ["day", "week", "month"],
  // The only date literal on the page is cast('2018-01-01', Edm.DateTimeOffset).
  dateLiteral: "cast",
  maxPageSize: 10_000,
  sources: [AZURE_USAGE_PAGE, ANALYTICS_RESOURCES_PAGE],
};
