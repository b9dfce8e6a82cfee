import { chooseMarket, chooser, MAX_DATASET_SIZE, NAME_STEMS, pickFrom, rowRandom } from "../dataset.js";
import type { RowTable, SimRow } from "../rowTable.js";
import { between, DAY, generatedTable, generatorContext, type GeneratorOptions } from "./common.js";

/**
 * Search analytics: one row per search in which the partner appeared. The partner has a few
 * locations (an MPN ID, a market and a company name each); searchers look for products, industries
 * and sometimes the partner's own name.
 */
const SEARCH_DOMAIN = 0x5ea4c4;
const LOCATION_DOMAIN = 0x10ca7e;

interface Location {
  readonly mpnId: string;
  readonly market: string;
  readonly companyName: string;
}

const PARTNER_SUFFIXES = [" Consulting", " IT Services", " Cloud Partners", " Technologies"] as const;

function locations(hash: number): readonly Location[] {
  const rnd = rowRandom(hash, 0);
  const stem = pickFrom(NAME_STEMS, rnd());
  const suffix = pickFrom(PARTNER_SUFFIXES, rnd());
  const base = 2_000_000 + Math.floor(rnd() * 6_000_000);
  return [0, 1, 2].map((i) => {
    const market = chooseMarket(rnd());
    return { mpnId: String(base + i * 1_237), market, companyName: `${stem}${suffix}` };
  });
}

const chooseLocation = chooser<number>([
  [0, 60],
  [1, 25],
  [2, 15],
]);

const chooseIndustry = chooser<string | null>([
  [null, 40],
  ["Healthcare", 8],
  ["Retail", 8],
  ["Manufacturing", 8],
  ["Financial services", 8],
  ["Education", 7],
  ["Government", 5],
  ["Professional services", 8],
  ["Nonprofit", 4],
  ["Media and communications", 4],
]);

const chooseProduct = chooser<string | null>([
  [null, 35],
  ["Office 365", 14],
  ["Microsoft 365", 14],
  ["Microsoft Azure", 14],
  ["Dynamics 365", 9],
  ["Microsoft Teams", 6],
  ["Power BI", 5],
  ["SharePoint", 3],
]);

const KEYWORDS = [
  "cloud migration",
  "office 365 migration",
  "microsoft 365 partner",
  "teams phone system",
  "dynamics crm implementation",
  "azure consulting",
  "managed services",
  "sharepoint intranet",
  "power bi dashboards",
  "security assessment",
  "backup, disaster recovery",
  "exchange online",
  "intune device management",
  'csp "licensing"',
  "azure virtual desktop",
] as const;

/** What one search adds to each grouped measure (they are documented only on aggregation). */
export function searchContribution(row: SimRow, measure: string): number {
  switch (measure) {
    case "searchResultPageViews":
      return 1;
    case "profileViews":
      return row.detailsViewed === true ? 1 : 0;
    case "contactClicks":
      return row.contactButtonClicked === true ? 1 : 0;
    case "referralCount":
      return row.referralSubmitted === true ? 1 : 0;
    default:
      return 0;
  }
}

export function createSearchRows(options: GeneratorOptions): RowTable {
  const ctx = generatorContext(options, MAX_DATASET_SIZE, "search");
  const rowHash = ctx.hash(SEARCH_DOMAIN);
  const places = locations(ctx.hash(LOCATION_DOMAIN));
  return generatedTable(ctx.size, (index) => {
    const rnd = rowRandom(rowHash, index);
    const place = places[chooseLocation(rnd())] as Location;
    const day = ctx.today - between(rnd, 1, 366) * DAY;
    const detailsViewed = rnd() < 0.35;
    const contactButtonClicked = detailsViewed && rnd() < 0.3;
    const referralSubmitted = contactButtonClicked && rnd() < 0.4;
    const keywordCountry = rnd() < 0.3 ? null : rnd() < 0.7 ? place.market : chooseMarket(rnd());
    const keywordIndustryFocus = chooseIndustry(rnd());
    const keywordProduct = chooseProduct(rnd());
    const ownName = rnd() < 0.12;
    const keyword = pickFrom(KEYWORDS, rnd());
    // Drawn for every row whether quirks are on or not, so switching them changes nothing else.
    const quirky = rnd() < 0.5;
    const quirk = ctx.quirks && quirky;
    const isoDay = new Date(day * 1000).toISOString().slice(0, 10);
    return {
      companyName: place.companyName,
      contactButtonClicked,
      keywordCountry,
      detailsViewed,
      keywordIndustryFocus,
      // Documented as a string, but the example sends a JSON number (2604568).
      mpnId: quirk ? Number(place.mpnId) : place.mpnId,
      partnerMarket: place.market,
      keywordProduct,
      referralSubmitted,
      // Documented as a date-time, but the example is date-only ("2018-05-30").
      searchDate: quirk ? isoDay : `${isoDay}T00:00:00`,
      // The example's search text for the partner's own name starts with a space (" my company").
      keywordSearchText: ownName ? `${quirk ? " " : ""}${place.companyName.toLowerCase()}` : keyword,
    };
  });
}
