import { requireDataset } from "../../partnerCenter/datasets/index.js";
import { chooser, MAX_DATASET_SIZE, mix32, pickFrom, rowRandom } from "../dataset.js";
import type { RowTable } from "../rowTable.js";
import {
  between,
  customerAt,
  dateText,
  DAY,
  generatedTable,
  generatorContext,
  guid,
  skewedIndex,
  type GeneratorOptions,
} from "./common.js";

/**
 * Azure usage analytics: one row per customer, subscription, day and meter, with the quantity
 * used that day in the meter's unit (fractional, as Azure meters are). No field identifies a row.
 */
const ROW_DOMAIN = 0xa2;
const SUBSCRIPTION_DOMAIN = 0xa2_5b;
const SLOT_DOMAIN = 0xa2_51;
const RESERVATION_DOMAIN = 0xa2_7e;
const METER_DOMAIN = 0xa2_3e;

const AZURE_USAGE = requireDataset("azureUsage");
/** The resource table's spelling, which the registry records as an alias. */
const ALIAS_TENANT =
  AZURE_USAGE.fields.find((f) => f.name === "customerTenantId")?.aliases?.[0] ?? "CustomerTenantId";

interface Meter {
  readonly category: string;
  readonly subcategory: string;
  readonly unit: string;
  /** The VM size for virtual machines; empty for other meters. */
  readonly serviceType: string;
  /** A day's quantity. */
  quantity(rnd: () => number): number;
  readonly weight: number;
  readonly reservable: boolean;
}

/** Hours a day of 1..4 instances, some running all day and some part of it. */
const hours = (rnd: () => number): number => {
  const instances = 1 + Math.floor(rnd() * rnd() * 4);
  const uptime = rnd() < 0.6 ? 24 : 24 * rnd();
  return instances * uptime;
};

const vm = (size: string, weight: number): Meter => ({
  category: "Virtual Machines",
  subcategory: size.replace(/^Standard_/, "").replaceAll("_", " "),
  unit: "1 Hour",
  serviceType: size,
  quantity: hours,
  weight,
  reservable: true,
});

const METERS: readonly Meter[] = [
  vm("Standard_D2s_v3", 14),
  vm("Standard_D4s_v3", 9),
  vm("Standard_E4s_v3", 5),
  vm("Standard_B2ms", 10),
  {
    category: "Storage",
    subcategory: "Standard SSD Managed Disks",
    unit: "1/Month",
    serviceType: "",
    // A disk-day is a 31st of a disk-month.
    quantity: (rnd) => (1 + Math.floor(rnd() * 6)) / 31,
    weight: 12,
    reservable: false,
  },
  {
    category: "Storage",
    subcategory: "General Block Blob",
    unit: "1 GB/Month",
    serviceType: "",
    quantity: (rnd) => (Math.exp(rnd() * Math.log(2000)) - 1) / 31,
    weight: 10,
    reservable: false,
  },
  {
    category: "Storage",
    subcategory: "Tables",
    unit: "10K",
    serviceType: "",
    quantity: (rnd) => rnd() * rnd() * 30,
    weight: 5,
    reservable: false,
  },
  {
    category: "Bandwidth",
    subcategory: "Rtn Preference: MGN",
    unit: "1 GB",
    serviceType: "",
    quantity: (rnd) => rnd() * rnd() * 80,
    weight: 8,
    reservable: false,
  },
  {
    category: "SQL Database",
    subcategory: "Single Standard",
    unit: "1/Day",
    serviceType: "",
    quantity: (rnd) => (rnd() < 0.8 ? 1 + Math.floor(rnd() * 3) : rnd()),
    weight: 6,
    reservable: false,
  },
  {
    category: "Azure App Service",
    subcategory: "Premium v3 Plan",
    unit: "1 Hour",
    serviceType: "",
    quantity: hours,
    weight: 6,
    reservable: false,
  },
  {
    category: "Azure Monitor",
    subcategory: "Log Analytics",
    unit: "1 GB",
    serviceType: "",
    quantity: (rnd) => rnd() * rnd() * 12,
    weight: 7,
    reservable: false,
  },
  {
    category: "Key Vault",
    subcategory: "Standard",
    unit: "10K",
    serviceType: "",
    quantity: (rnd) => rnd() * 2,
    weight: 3,
    reservable: false,
  },
];

const chooseMeter = chooser<number>(METERS.map((m, i) => [i, m.weight] as const));

const REGIONS_BY_MARKET: Readonly<Record<string, readonly string[]>> = {
  US: ["East US", "East US 2", "West US 2", "Central US"],
  CA: ["Canada Central", "Canada East"],
  MX: ["South Central US", "Mexico Central"],
  BR: ["Brazil South"],
  GB: ["UK South", "UK West"],
  IE: ["North Europe"],
  DE: ["Germany West Central", "West Europe"],
  CH: ["Switzerland North"],
  FR: ["France Central"],
  NL: ["West Europe"],
  SE: ["Sweden Central", "North Europe"],
  ES: ["Spain Central", "West Europe"],
  IT: ["Italy North", "West Europe"],
  PL: ["Poland Central"],
  JP: ["Japan East", "Japan West"],
  KR: ["Korea Central"],
  IN: ["Central India", "South India"],
  SG: ["Southeast Asia"],
  AU: ["Australia East", "Australia Southeast"],
  ZA: ["South Africa North"],
};
const ALL_REGIONS = [...new Set(Object.values(REGIONS_BY_MARKET).flat())];

const SUBSCRIPTION_NAMES = ["Azure plan", "Production", "Development", "Shared services"] as const;

function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

export function createAzureUsageRows(options: GeneratorOptions): RowTable {
  const ctx = generatorContext(options, MAX_DATASET_SIZE, "azureUsage");
  const rowHash = ctx.hash(ROW_DOMAIN);
  const subscriptionHash = ctx.hash(SUBSCRIPTION_DOMAIN);
  const slotHash = ctx.hash(SLOT_DOMAIN);
  const reservationHash = ctx.hash(RESERVATION_DOMAIN);
  const meterHash = ctx.hash(METER_DOMAIN);
  const customers = Math.max(100, Math.ceil(ctx.size / 40));

  return generatedTable(ctx.size, (index) => {
    const rnd = rowRandom(rowHash, index);
    const customerIndex = skewedIndex(rnd(), customers);
    const customer = customerAt(ctx.seed, customerIndex);
    // Each customer has 1..4 Azure subscriptions; the same slot is always the same subscription.
    const slots = 1 + (mix32(slotHash ^ customerIndex) % SUBSCRIPTION_NAMES.length);
    const slot = Math.floor(rnd() * slots);
    const meterIndex = chooseMeter(rnd());
    const meter = METERS[meterIndex] as Meter;
    const regions = REGIONS_BY_MARKET[customer.market] ?? ALL_REGIONS;
    const region = rnd() < 0.85 ? pickFrom(regions, rnd()) : pickFrom(ALL_REGIONS, rnd());
    const regionIndex = ALL_REGIONS.indexOf(region);
    const day = ctx.today - between(rnd, 1, 91) * DAY;
    const quantity = round6(meter.quantity(rnd));
    // Some customers reserve the VM sizes they run; the rest pay as they go ("" = no reservation).
    const pair = customerIndex * 64 + meterIndex;
    const reserved = meter.reservable && mix32(reservationHash ^ pair) % 100 < 15;
    // Drawn for every row whether quirks are on or not, so switching them changes nothing else.
    const aliasRow = rnd() < 0.25;
    return {
      [ctx.quirks && aliasRow ? ALIAS_TENANT : "customerTenantId"]: customer.tenantId,
      customerName: customer.name,
      subscriptionId: guid(subscriptionHash, customerIndex * 4 + slot),
      subscriptionName: SUBSCRIPTION_NAMES[slot] ?? "Azure plan",
      usageDate: dateText(day),
      resourceLocation: region,
      meterCategory: meter.category,
      meterSubcategory: meter.subcategory,
      meterUnit: meter.unit,
      reservationOrderId: reserved ? guid(reservationHash, pair * 2) : "",
      reservationId: reserved ? guid(reservationHash, pair * 2 + 1) : "",
      consumptionMeterId: guid(meterHash, meterIndex * 256 + regionIndex),
      serviceType: meter.serviceType,
      quantity,
    };
  });
}
