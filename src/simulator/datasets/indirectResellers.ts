import { requireDataset } from "../../partnerCenter/datasets/index.js";
import { chooseMarket, customerName, rowRandom } from "../dataset.js";
import type { RowTable, SimRow } from "../rowTable.js";
import {
  affineBijection,
  between,
  dateText,
  DAY,
  generatedTable,
  generatorContext,
  guid,
  type GeneratorOptions,
} from "./common.js";

/**
 * Indirect reseller analytics: one row per reseller (key `id`, a 7-digit MPN ID as in the example),
 * all under the partner's one tenant. Each pair of first/latest dates is ordered, and both follow
 * the first subscription's creation.
 */
const ROW_DOMAIN = 0x1d1e;
const ID_DOMAIN = 0x1d1e_1d;
const TENANT_DOMAIN = 0x1d1e_7e;
const ID_BASE = 1_000_000;
const INDIRECT_RESELLERS = requireDataset("indirectResellers");
/** Ids are 7 digits: 1000000..8999999. */
export const MAX_INDIRECT_RESELLERS = 8_000_000;

/** The example writes dates that never happened as year 1. */
const NEVER = INDIRECT_RESELLERS.nullSentinels?.[0] ?? "0001-01-01T00:00:00";
const CANONICAL_DEPROVISIONED = "latestSubscriptionDeprovisionedDate";
/** The example's spelling, which the registry records as an alias. */
const ALIAS_DEPROVISIONED =
  INDIRECT_RESELLERS.fields.find((f) => f.name === CANONICAL_DEPROVISIONED)?.aliases?.[0] ??
  "latestSubscriptionDeprovisionedEndDate";

/** What one reseller adds to each grouped measure (indirectResellerCount counts resellers). */
export function indirectResellerContribution(row: SimRow, measure: string): number {
  if (measure === "indirectResellerCount") return 1;
  const value = row[measure];
  return typeof value === "number" ? value : Number(value ?? 0) || 0;
}

export function createIndirectResellerRows(options: GeneratorOptions): RowTable {
  const ctx = generatorContext(options, MAX_INDIRECT_RESELLERS, "indirectResellers");
  const rowHash = ctx.hash(ROW_DOMAIN);
  const ids = affineBijection(MAX_INDIRECT_RESELLERS, ctx.hash(ID_DOMAIN));
  const partnerTenantId = guid(ctx.hash(TENANT_DOMAIN), 0);
  const { end } = ctx;

  return generatedTable(ctx.size, (index) => {
    const rnd = rowRandom(rowHash, index);
    const market = chooseMarket(rnd());
    const name = customerName(market, rnd);
    const subscriptionCount = Math.max(1, Math.floor(Math.exp(rnd() * Math.log(80))));
    const licenseCount = rnd() < 0.1 ? 0 : subscriptionCount * between(rnd, 1, 60);
    const firstCreation = end - between(rnd, 30 * DAY, 6 * 365 * DAY);
    const latestCreation =
      subscriptionCount === 1 ? firstCreation : firstCreation + between(rnd, 0, end - firstCreation);
    /** A first/latest pair after firstCreation, or null when it never happened. */
    const pair = (rate: number): [number, number] | null => {
      if (rnd() >= rate) return null;
      const first = firstCreation + between(rnd, DAY, end - firstCreation);
      const latest = subscriptionCount === 1 ? first : first + between(rnd, 0, end - first);
      return [first, latest];
    };
    const ended = pair(0.55);
    const suspended = pair(0.2);
    const deprovisioned = pair(0.3);
    // Drawn for every row whether quirks are on or not, so switching them changes nothing else.
    const sentinelRow = rnd() < 0.7;
    const aliasRow = rnd() < 0.3;
    const never = ctx.quirks && sentinelRow ? NEVER : null;
    const first = (p: [number, number] | null): string | null => (p === null ? never : dateText(p[0]));
    const latest = (p: [number, number] | null): string | null => (p === null ? never : dateText(p[1]));

    return {
      partnerTenantId,
      id: String(ID_BASE + ids(index)),
      name,
      market,
      firstSubscriptionCreationDate: dateText(firstCreation),
      latestSubscriptionCreationDate: dateText(latestCreation),
      firstSubscriptionEndDate: first(ended),
      latestSubscriptionEndDate: latest(ended),
      firstSubscriptionSuspendedDate: first(suspended),
      latestSubscriptionSuspendedDate: latest(suspended),
      firstSubscriptionDeprovisionedDate: first(deprovisioned),
      [ctx.quirks && aliasRow ? ALIAS_DEPROVISIONED : CANONICAL_DEPROVISIONED]: latest(deprovisioned),
      subscriptionCount,
      licenseCount,
      // indirectResellerCount is absent from the example's rows; grouped rows carry it.
    };
  });
}
