import { REFERRALS } from "./datasets/referrals.js";

/**
 * National clouds this exporter supports. Which datasets each offers is the registry's `clouds`
 * (referrals: global and US Government; the license datasets: global only). Partner Center operated
 * by 21Vianet offers some analytics datasets, but not referrals, and this exporter does not support it.
 */
export type Cloud = "global" | "usgov";

export const PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation";
/** The referrals dataset's path (every dataset's path is in the registry). */
export const REFERRALS_PATH = REFERRALS.path;

/** Global and US Government share one API host; each cloud has its own sign-in authority (below). */
const BASE_URLS: Record<Cloud, string> = {
  global: "https://api.partnercenter.microsoft.com",
  usgov: "https://api.partnercenter.microsoft.com",
};

/** Entra ID authority origin of each cloud: the only place a delegated sign-in may be sent. */
const AUTHORITY_HOSTS: Record<Cloud, string> = {
  global: "https://login.microsoftonline.com",
  usgov: "https://login.microsoftonline.us",
};

export function partnerCenterBaseUrl(cloud: Cloud): string {
  return BASE_URLS[cloud];
}

export function entraAuthorityHost(cloud: Cloud): string {
  return AUTHORITY_HOSTS[cloud];
}

/**
 * True when `value` names the same origin as `origin`: scheme, host (any case, a trailing dot
 * tolerated) and port, with no path beyond "/". Only http(s) URLs can match.
 */
export function isSameOrigin(value: string, origin: string): boolean {
  if (!URL.canParse(value) || !URL.canParse(origin)) return false;
  const a = new URL(value);
  const b = new URL(origin);
  const host = (url: URL): string => url.hostname.toLowerCase().replace(/\.+$/, "");
  return (
    (a.protocol === "https:" || a.protocol === "http:") &&
    a.protocol === b.protocol &&
    host(a) === host(b) &&
    a.port === b.port &&
    a.username === "" &&
    a.password === "" &&
    (a.pathname === "/" || a.pathname === "") &&
    a.search === "" &&
    a.hash === ""
  );
}
