import type { Cloud } from "../config/settings.js";

export const PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation";
export const REFERRALS_PATH = "/partner/v1/analytics/referrals";

const CLOUDS: Record<Cloud, { readonly baseUrl: string; readonly authorityHost: string }> = {
  global: {
    baseUrl: "https://api.partnercenter.microsoft.com",
    authorityHost: "https://login.microsoftonline.com",
  },
  usgov: {
    baseUrl: "https://api.partnercenter.microsoft.com",
    authorityHost: "https://login.microsoftonline.us",
  },
};

export function partnerCenterBaseUrl(cloud: Cloud): string {
  return CLOUDS[cloud].baseUrl;
}

export function authorityHostFor(cloud: Cloud): string {
  return CLOUDS[cloud].authorityHost;
}
