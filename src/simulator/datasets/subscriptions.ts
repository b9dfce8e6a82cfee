import { chooser, MAX_DATASET_SIZE, NAME_STEMS, pickFrom, rowRandom } from "../dataset.js";
import type { RowTable, SimRow } from "../rowTable.js";
import {
  between,
  customerAt,
  dateText,
  dateTextMillis,
  DAY,
  generatedTable,
  generatorContext,
  guid,
  PRODUCTS,
  skewedIndex,
  type GeneratorOptions,
  type Product,
} from "./common.js";

/**
 * Subscription analytics: one row per subscription (key `id`, an upper-case GUID as in the
 * examples). Dates follow one timeline: creation = trial start <= trial end <= effective start <=
 * commitment end, renewals every term, deprovisioned only when DEPROVISIONED.
 */
const ROW_DOMAIN = 0x50b5;
const ID_DOMAIN = 0x50b5_1d;
const PARTNER_DOMAIN = 0x9a47;

const chooseStatus = chooser<string>([
  ["ACTIVE", 70],
  ["SUSPENDED", 8],
  ["DEPROVISIONED", 22],
]);

const chooseProduct = chooser<Product>(PRODUCTS.map((p) => [p, p.weight] as const));

const DEPARTMENTS = [
  "Head office",
  "Sales",
  "Finance",
  "Engineering",
  "Contractors",
  "Retail stores",
] as const;
const RESELLER_SUFFIXES = [" IT Services", " Solutions", " Systems", " Networks"] as const;

interface Partner {
  readonly id: string;
  readonly name: string;
}

/** The partner itself (an indirect provider) and the resellers that buy through it. */
function partners(hash: number): { provider: Partner; resellers: readonly Partner[] } {
  const rnd = rowRandom(hash, 0);
  const provider = { id: guid(hash, 0), name: `${pickFrom(NAME_STEMS, rnd())} Cloud Distribution` };
  const resellers = Array.from({ length: 12 }, (_, i) => ({
    id: guid(hash, i + 1),
    name: `${pickFrom(NAME_STEMS, rnd())}${pickFrom(RESELLER_SUFFIXES, rnd())}`,
  }));
  return { provider, resellers };
}

const chooseChurn: Record<string, (r: number) => string> = {
  ACTIVE: chooser<string>([
    ["Low", 70],
    ["Medium", 20],
    ["High", 10],
  ]),
  SUSPENDED: chooser<string>([
    ["Medium", 40],
    ["High", 60],
  ]),
  DEPROVISIONED: chooser<string>([["High", 1]]),
};

/** What one subscription adds to each grouped measure. */
export function subscriptionContribution(row: SimRow, measure: string): number {
  if (measure === "subscriptionCount") return 1;
  const value = row[measure];
  return typeof value === "number" ? value : Number(value ?? 0) || 0;
}

export function createSubscriptionRows(options: GeneratorOptions): RowTable {
  const ctx = generatorContext(options, MAX_DATASET_SIZE, "subscriptions");
  const rowHash = ctx.hash(ROW_DOMAIN);
  const idHash = ctx.hash(ID_DOMAIN);
  const { provider, resellers } = partners(ctx.hash(PARTNER_DOMAIN));
  const customers = Math.max(200, Math.ceil(ctx.size / 6));
  const { end } = ctx;

  return generatedTable(ctx.size, (index) => {
    const rnd = rowRandom(rowHash, index);
    const customer = customerAt(ctx.seed, skewedIndex(rnd(), customers));
    const status = chooseStatus(rnd());
    const product = chooseProduct(rnd());
    const hasTrial = product.seats && rnd() < 0.2;
    const converted = rnd() < 0.75;
    const annual = product.seats && rnd() < 0.65;
    const term = annual ? 365 * DAY : 30 * DAY;
    // Old enough for a 30-day trial to have ended before `end`.
    const created = end - between(rnd, 40 * DAY, 5 * 365 * DAY);
    const trialEnd = created + 30 * DAY;
    const effectiveStart = hasTrial ? trialEnd : created + between(rnd, 0, 2 * DAY);
    const lived = Math.max(DAY, end - effectiveStart);

    // The instant the current status began (or the subscription ended), and where usage stopped.
    let stateStart = end;
    let deprovisioned: number | null = null;
    if (status === "DEPROVISIONED") {
      deprovisioned =
        hasTrial && !converted
          ? trialEnd + between(rnd, 0, 3 * DAY)
          : effectiveStart + between(rnd, DAY, lived);
      deprovisioned = Math.min(deprovisioned, end - 1);
      stateStart = deprovisioned;
    } else if (status === "SUSPENDED") {
      stateStart = Math.max(effectiveStart, end - between(rnd, DAY, 60 * DAY));
    }
    const termsDone = Math.floor(Math.max(0, stateStart - effectiveStart) / term);
    const commitmentEnd = effectiveStart + (termsDone + 1) * term;
    const lastRenewal = termsDone >= 1 ? effectiveStart + termsDone * term : null;
    const neverUsed = rnd() < 0.08;
    const lastUsage = neverUsed
      ? null
      : Math.max(effectiveStart, Math.min(stateStart, end - 1) - between(rnd, 0, 20 * DAY));
    const currentStateEnd =
      status === "ACTIVE" ? commitmentEnd : status === "SUSPENDED" ? stateStart + 90 * DAY : null;

    const viaReseller = rnd() < 0.6;
    const partner = viaReseller ? pickFrom(resellers, rnd()) : provider;
    const autoRenew =
      status === "ACTIVE" ? !product.seats || rnd() < 0.8 : status === "SUSPENDED" && rnd() < 0.3;
    const licenseCount = product.seats ? Math.max(1, Math.floor(Math.exp(rnd() * Math.log(1200)))) : 0;
    const friendlyName = rnd() < 0.55 ? product.name : `${product.name} - ${pickFrom(DEPARTMENTS, rnd())}`;
    const churnRisk = (chooseChurn[status] ?? ((): string => "Low"))(rnd());
    const billingCycleName = rnd() < 0.7 ? "MONTHLY" : "ANNUAL";
    const millis = between(rnd, 0, 1000);
    // Drawn for every row whether quirks are on or not, so switching them changes nothing else.
    const quirky = rnd() < 0.5;
    const at = (seconds: number | null): string | null => (seconds === null ? null : dateText(seconds));

    return {
      customerTenantId: customer.tenantId,
      customerName: customer.name,
      customerMarket: customer.market,
      id: guid(idHash, index).toUpperCase(),
      status,
      productName: product.name,
      subscriptionType: product.subscriptionType,
      autoRenewEnabled: autoRenew,
      partnerId: partner.id,
      friendlyName,
      partnerName: partner.name,
      providerName: provider.name,
      // The examples write creationDate with milliseconds ("2016-02-04T19:29:38.037").
      creationDate: ctx.quirks && quirky ? dateTextMillis(created, millis) : dateText(created),
      effectiveStartDate: dateText(effectiveStart),
      commitmentEndDate: dateText(commitmentEnd),
      currentStateEndDate: at(currentStateEnd),
      trialToPaidConversionDate: hasTrial && converted ? dateText(trialEnd) : null,
      trialStartDate: hasTrial ? dateText(created) : null,
      trialEndDate: hasTrial ? dateText(trialEnd) : null,
      lastUsageDate: at(lastUsage),
      deprovisionedDate: at(deprovisioned),
      lastRenewalDate: at(lastRenewal),
      licenseCount,
      churnRisk,
      billingCycleName,
    };
  });
}
