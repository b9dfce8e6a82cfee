import { requireDataset } from "../../partnerCenter/datasets/index.js";
import { MAX_DATASET_SIZE, mix32, rowRandom } from "../dataset.js";
import type { RowTable } from "../rowTable.js";
import {
  affineBijection,
  CHANNELS,
  customerAt,
  dateText,
  DAY,
  generatedTable,
  generatorContext,
  SEAT_PRODUCTS,
  type GeneratorContext,
  type GeneratorOptions,
  type Product,
  type Workload,
} from "./common.js";

/**
 * Commercial license deployment and usage: one row per customer, product and channel (deployment)
 * or per customer, product, workload and channel (usage), in one processed-date snapshot. Rows are
 * distinct combinations drawn through a bijection of the combination space, so the registry's keys
 * are unique. Counts nest: active <= qualified <= deployed <= sold for the same customer, product
 * and channel.
 */
const DEPLOYMENT_DOMAIN = 0x11c_de;
const USAGE_DOMAIN = 0x11c_05;
const COUNTS_DOMAIN = 0x11c_c0;

const LICENSES_USAGE = requireDataset("licensesUsage");
/** The example's spelling, which the registry records as an alias. */
const ALIAS_ACTIVE =
  LICENSES_USAGE.fields.find((f) => f.name === "licensesActive")?.aliases?.[0] ?? "licenseActive";

/** Sold and deployed licences of one customer, product and channel: shared by both datasets. */
function seatCounts(
  ctx: GeneratorContext,
  customer: number,
  product: number,
  channel: number,
): { sold: number; deployed: number } {
  const rnd = rowRandom(ctx.hash(COUNTS_DOMAIN), (customer * SEAT_PRODUCTS.length + product) * 2 + channel);
  const sold = Math.max(1, Math.floor(Math.exp(rnd() * Math.log(1500))));
  const deployed = rnd() < 0.3 ? sold : Math.floor(sold * (0.3 + 0.7 * rnd()));
  return { sold, deployed };
}

/** The latest processed date: the day before `end`, at midnight, as in the examples. */
function processedDateTime(ctx: GeneratorContext): string {
  return dateText(ctx.today - DAY);
}

export function createLicensesDeploymentRows(options: GeneratorOptions): RowTable {
  const ctx = generatorContext(options, MAX_DATASET_SIZE, "licensesDeployment");
  const perCustomer = SEAT_PRODUCTS.length * CHANNELS.length;
  // Three combinations for every row drawn, so customers hold some products and not others.
  const customers = Math.max(300, Math.ceil((ctx.size * 3) / perCustomer));
  const combos = affineBijection(customers * perCustomer, ctx.hash(DEPLOYMENT_DOMAIN));
  const processed = processedDateTime(ctx);

  return generatedTable(ctx.size, (index) => {
    const combo = combos(index);
    const customerIndex = Math.floor(combo / perCustomer);
    const productIndex = Math.floor(combo / CHANNELS.length) % SEAT_PRODUCTS.length;
    const channelIndex = combo % CHANNELS.length;
    const customer = customerAt(ctx.seed, customerIndex);
    const product = SEAT_PRODUCTS[productIndex] as Product;
    const { sold, deployed } = seatCounts(ctx, customerIndex, productIndex, channelIndex);
    return {
      serviceCode: product.serviceCode,
      serviceName: product.serviceName,
      channel: CHANNELS[channelIndex],
      customerTenantId: customer.tenantId,
      customerName: customer.name,
      productId: product.productId,
      productName: product.name,
      licensesDeployed: deployed,
      licensesSold: sold,
      processedDateTime: processed,
    };
  });
}

/** Every (product, workload) pair of the seat products, in catalogue order. */
const PRODUCT_WORKLOADS: readonly (readonly [number, Workload])[] = SEAT_PRODUCTS.flatMap((p, i) =>
  p.workloads.map((w) => [i, w] as const),
);

export function createLicensesUsageRows(options: GeneratorOptions): RowTable {
  const ctx = generatorContext(options, MAX_DATASET_SIZE, "licensesUsage");
  const perCustomer = PRODUCT_WORKLOADS.length * CHANNELS.length;
  const customers = Math.max(200, Math.ceil((ctx.size * 3) / perCustomer));
  const combos = affineBijection(customers * perCustomer, ctx.hash(USAGE_DOMAIN));
  const rowHash = ctx.hash(USAGE_DOMAIN ^ 0x5a5a);
  const processed = processedDateTime(ctx);

  return generatedTable(ctx.size, (index) => {
    const combo = combos(index);
    const customerIndex = Math.floor(combo / perCustomer);
    const pairIndex = Math.floor(combo / CHANNELS.length) % PRODUCT_WORKLOADS.length;
    const channelIndex = combo % CHANNELS.length;
    const [productIndex, workload] = PRODUCT_WORKLOADS[pairIndex] as readonly [number, Workload];
    const customer = customerAt(ctx.seed, customerIndex);
    const product = SEAT_PRODUCTS[productIndex] as Product;
    const { deployed } = seatCounts(ctx, customerIndex, productIndex, channelIndex);
    const rnd = rowRandom(rowHash, combo);
    const qualified = Math.floor(deployed * (0.8 + 0.2 * rnd()));
    const active = Math.floor(qualified * Math.sqrt(rnd()));
    // Drawn for every row whether quirks are on or not, so switching them changes nothing else.
    const aliasRow = mix32(rowHash ^ combo) % 100 < 30;
    return {
      workloadCode: workload.code,
      workloadName: workload.name,
      serviceCode: product.serviceCode,
      serviceName: product.serviceName,
      channel: CHANNELS[channelIndex],
      customerTenantId: customer.tenantId,
      customerName: customer.name,
      productId: product.productId,
      productName: product.name,
      // The response table says licensesActive; the example sends licenseActive.
      [ctx.quirks && aliasRow ? ALIAS_ACTIVE : "licensesActive"]: active,
      licensesQualified: qualified,
      processedDateTime: processed,
    };
  });
}
