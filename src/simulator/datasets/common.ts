import {
  checkIndex,
  chooseMarket,
  customerName,
  defaultEnd,
  formatDate,
  mix32,
  rowRandom,
  toEpochSeconds,
} from "../dataset.js";
import type { RowTable, SimRow } from "../rowTable.js";

export const MINUTE = 60;
export const HOUR = 3600;
export const DAY = 86400;

/** What every generator takes: rows are a pure function of (seed, index), so memory stays O(1). */
export interface GeneratorOptions {
  readonly size: number;
  readonly seed: number;
  /** Every past date falls before this instant (default: start of the current UTC day). */
  readonly end?: Date | string;
  /**
   * Serve the upstream quirks the registry documents (aliases, null sentinels, numbers where the
   * docs type a string) in some rows, so the product's tolerance of them is exercised.
   */
  readonly quirks?: boolean;
}

export interface GeneratorContext {
  readonly size: number;
  readonly seed: number;
  /** `end` in epoch seconds. */
  readonly end: number;
  /** Midnight (UTC) on or before `end`. */
  readonly today: number;
  readonly quirks: boolean;
  /** A hash of (seed, domain): separate random streams for rows, customers, ids. */
  hash(domain: number): number;
}

export function generatorContext(options: GeneratorOptions, maxSize: number, what: string): GeneratorContext {
  const { size, seed } = options;
  if (!Number.isInteger(size) || size < 0 || size > maxSize) {
    throw new RangeError(`${what} size must be an integer from 0 to ${maxSize}`);
  }
  if (!Number.isInteger(seed)) throw new RangeError(`${what} seed must be an integer`);
  const end = options.end === undefined ? defaultEnd() : toEpochSeconds(options.end);
  return {
    size,
    seed,
    end,
    today: Math.floor(end / DAY) * DAY,
    quirks: options.quirks ?? true,
    hash: (domain) => mix32(mix32(seed ^ 0x27d4eb2f) ^ mix32(domain)),
  };
}

/** A generated table: row i computed on each get. */
export function generatedTable(size: number, row: (index: number) => SimRow): RowTable {
  return {
    size,
    get(index) {
      checkIndex(index, size);
      return row(index);
    },
  };
}

export function between(rnd: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rnd() * (hi - lo));
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

/**
 * A GUID whose first 8 hex digits are a bijection of `n` (murmur's finaliser is invertible on 32
 * bits), so distinct n give distinct GUIDs; the rest is noise from the same hash.
 */
export function guid(domainHash: number, n: number): string {
  const a = mix32((n ^ domainHash) >>> 0);
  const b = mix32(a ^ 0x9e3779b9);
  const c = mix32(b ^ 0x85ebca6b);
  const d = mix32(c ^ 0xc2b2ae35);
  const bHex = hex8(b);
  const cHex = hex8(c);
  const variant = "89ab".charAt(c >>> 30);
  return `${hex8(a)}-${bHex.slice(0, 4)}-4${bHex.slice(5, 8)}-${variant}${cHex.slice(1, 4)}-${cHex.slice(4)}${hex8(d)}`;
}

/**
 * A bijection of [0, modulus): x -> (a*x + b) mod modulus with a coprime to the modulus. Drawing the
 * first `size` outputs picks `size` distinct combinations out of a larger space, which keeps keys
 * unique without remembering what was drawn.
 */
export function affineBijection(modulus: number, hash: number): (x: number) => number {
  if (!Number.isSafeInteger(modulus) || modulus < 1)
    throw new RangeError("modulus must be a positive integer");
  const gcd = (x: number, y: number): number => {
    let [p, q] = [x, y];
    for (let i = 0; i < 200 && q !== 0; i++) [p, q] = [q, p % q];
    return p;
  };
  let a = (hash % modulus) + 1;
  // Among any 200 consecutive numbers one is coprime to a modulus below 2^53: the loop ends early.
  for (let i = 0; i < 200 && gcd(a, modulus) !== 1; i++) a = (a % modulus) + 1;
  if (gcd(a, modulus) !== 1) a = 1;
  const b = mix32(hash ^ 0x51ed27) % modulus;
  // BigInt keeps a*x exact for moduli up to 2^53.
  const bigA = BigInt(a);
  const bigB = BigInt(b);
  const bigM = BigInt(modulus);
  return (x) => Number((bigA * BigInt(x) + bigB) % bigM);
}

// ---------------------------------------------------------------------------------------------
// Customers shared by the datasets of one seed: the same tenant id always has the same name and
// market, whichever dataset mentions it.

export interface Customer {
  readonly tenantId: string;
  readonly name: string;
  readonly market: string;
}

const CUSTOMER_DOMAIN = 0x0c057;
const TENANT_DOMAIN = 0x7e4a47;

export function customerAt(seed: number, index: number): Customer {
  const domain = mix32(mix32(seed ^ 0x27d4eb2f) ^ mix32(CUSTOMER_DOMAIN));
  const rnd = rowRandom(domain, index);
  const market = chooseMarket(rnd());
  return {
    tenantId: guid(mix32(domain ^ TENANT_DOMAIN), index),
    name: customerName(market, rnd),
    market,
  };
}

/** A customer index skewed towards the low ones: a few customers are large, most are small. */
export function skewedIndex(r: number, count: number): number {
  return Math.min(count - 1, Math.floor(r * r * count));
}

// ---------------------------------------------------------------------------------------------
// Products and workloads

export interface Workload {
  readonly code: string;
  readonly name: string;
}

export interface Product {
  readonly name: string;
  readonly productId: string;
  readonly serviceCode: string;
  readonly serviceName: string;
  /** As subscription analytics spells it ("Office", "Azure", "Microsoft365", "Dynamics", "EMS"). */
  readonly subscriptionType: string;
  /** Per-user licences; false for consumption products (Azure plan). */
  readonly seats: boolean;
  readonly workloads: readonly Workload[];
  /** How common it is among subscriptions. */
  readonly weight: number;
}

const EXCHANGE: Workload = { code: "EXO", name: "Exchange" };
const SHAREPOINT: Workload = { code: "SPO", name: "SharePoint" };
const TEAMS: Workload = { code: "TEAMS", name: "Teams" };
const ONEDRIVE: Workload = { code: "ODB", name: "OneDrive" };
const INTUNE: Workload = { code: "INTUNE", name: "Intune" };
const ENTRA_P1: Workload = { code: "AADP1", name: "Microsoft Entra ID P1" };

export const PRODUCTS: readonly Product[] = [
  {
    name: "Office 365 E3",
    productId: "CFQ7TTC0LF8Q",
    serviceCode: "o365",
    serviceName: "Office 365",
    subscriptionType: "Office",
    seats: true,
    workloads: [EXCHANGE, SHAREPOINT, TEAMS, ONEDRIVE],
    weight: 16,
  },
  {
    name: "Office 365 E1",
    productId: "CFQ7TTC0LF8R",
    serviceCode: "o365",
    serviceName: "Office 365",
    subscriptionType: "Office",
    seats: true,
    workloads: [EXCHANGE, SHAREPOINT, TEAMS],
    weight: 10,
  },
  {
    name: "Microsoft 365 Business Premium",
    productId: "CFQ7TTC0LCHC",
    serviceCode: "o365",
    serviceName: "Microsoft 365",
    subscriptionType: "Microsoft365",
    seats: true,
    workloads: [EXCHANGE, SHAREPOINT, TEAMS, ONEDRIVE, INTUNE],
    weight: 18,
  },
  {
    name: "Microsoft 365 Business Basic",
    productId: "CFQ7TTC0LH18",
    serviceCode: "o365",
    serviceName: "Microsoft 365",
    subscriptionType: "Microsoft365",
    seats: true,
    workloads: [EXCHANGE, SHAREPOINT, TEAMS],
    weight: 12,
  },
  {
    name: "Microsoft 365 E5",
    productId: "CFQ7TTC0LFLZ",
    serviceCode: "o365",
    serviceName: "Microsoft 365",
    subscriptionType: "Microsoft365",
    seats: true,
    workloads: [EXCHANGE, SHAREPOINT, TEAMS, ONEDRIVE, INTUNE, ENTRA_P1],
    weight: 5,
  },
  {
    name: "Dynamics 365 Sales",
    productId: "CFQ7TTC0LH2H",
    serviceCode: "crm",
    serviceName: "Dynamics 365",
    subscriptionType: "Dynamics",
    seats: true,
    workloads: [
      { code: "D365SALES", name: "Sales" },
      { code: "SPO", name: "SharePoint" },
    ],
    weight: 6,
  },
  {
    name: "Dynamics 365 Customer Service",
    productId: "CFQ7TTC0LHVZ",
    serviceCode: "crm",
    serviceName: "Dynamics 365",
    subscriptionType: "Dynamics",
    seats: true,
    workloads: [{ code: "D365CS", name: "Customer Service" }],
    weight: 3,
  },
  {
    name: "Enterprise Mobility + Security E3",
    productId: "CFQ7TTC0LFK5",
    serviceCode: "ems",
    serviceName: "Enterprise Mobility + Security",
    subscriptionType: "EMS",
    seats: true,
    workloads: [INTUNE, ENTRA_P1],
    weight: 5,
  },
  {
    name: "Azure plan",
    productId: "DZH318Z0BPS6",
    serviceCode: "azure",
    serviceName: "Microsoft Azure",
    subscriptionType: "Azure",
    seats: false,
    workloads: [],
    weight: 14,
  },
];

/** Products sold per seat: the license datasets know only these. */
export const SEAT_PRODUCTS: readonly Product[] = PRODUCTS.filter((p) => p.seats);

/** License channels as the license examples write them. */
export const CHANNELS = ["reseller", "direct"] as const;

/** An ISO 8601 date-time as Partner Center writes it: no zone, no fraction. */
export function dateText(epochSeconds: number): string {
  return formatDate(epochSeconds);
}

/** A date-time with milliseconds, as subscription analytics writes creationDate ("…T19:29:38.037"). */
export function dateTextMillis(epochSeconds: number, millis: number): string {
  return `${formatDate(epochSeconds)}.${String(millis).padStart(3, "0")}`;
}
