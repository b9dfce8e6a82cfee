/** National clouds that offer Partner Center analytics (China/21Vianet does not). */
export type Cloud = "global" | "usgov";

export const PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation";
export const REFERRALS_PATH = "/partner/v1/analytics/referrals";

/** Global and US Government share one API host; each cloud has its own sign-in authority (see auth/options). */
const BASE_URLS: Record<Cloud, string> = {
  global: "https://api.partnercenter.microsoft.com",
  usgov: "https://api.partnercenter.microsoft.com",
};

export function partnerCenterBaseUrl(cloud: Cloud): string {
  return BASE_URLS[cloud];
}
