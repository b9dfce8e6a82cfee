// Parameters for `azd up` / `azd provision`: azd passes the values of the azd environment
// (.azure/<env>/.env, `azd env set NAME value`) as environment variables, read here.
// With plain Azure CLI, export the same variables before
// `az deployment sub create --location <region> --parameters infra/main.bicepparam`.
// Each fallback equals the default in main.bicep.
using './main.bicep'

// Set by azd: the environment name, the region and the signed-in user's object id.
param environmentName = readEnvironmentVariable('AZURE_ENV_NAME', 'referrals-export')
param location = readEnvironmentVariable('AZURE_LOCATION', 'eastus2')
param principalId = readEnvironmentVariable('AZURE_PRINCIPAL_ID', '')
param principalType = readEnvironmentVariable('AZURE_PRINCIPAL_TYPE', 'User')

// Set by you: `azd env set PARTNER_CENTER_CLIENT_ID <application (client) id>`.
param partnerCenterClientId = readEnvironmentVariable('PARTNER_CENTER_CLIENT_ID', '')

// Set by the preprovision hook (scripts/hooks/preprovision.mjs): the HTTP API's app registration.
param apiClientId = readEnvironmentVariable('API_CLIENT_ID', '')

// Optional: `azd env set NAME value` to change them.
param partnerCenterCloud = readEnvironmentVariable('PARTNER_CENTER_CLOUD', 'global')
param partnerCenterCredential = readEnvironmentVariable('PARTNER_CENTER_CREDENTIAL', 'managed-identity')
param exportContainerName = readEnvironmentVariable('EXPORT_CONTAINER', 'referrals')
param exportProfiles = readEnvironmentVariable(
  'EXPORT_PROFILES',
  '[{"name":"all-referrals","formats":["csv","json"],"schedule":true}]'
)
param exportSchedule = readEnvironmentVariable('EXPORT_SCHEDULE', '0 0 2 * * *')
param httpReadLinkMinutes = int(readEnvironmentVariable('HTTP_READ_LINK_MINUTES', '0'))
param apiAudience = readEnvironmentVariable('API_AUDIENCE', '')
param maxActiveRunsPerProfile = int(readEnvironmentVariable('MAX_ACTIVE_RUNS_PER_PROFILE', '3'))
param maxAdhocRunsPerHour = int(readEnvironmentVariable('MAX_ADHOC_RUNS_PER_HOUR', '12'))
param enableNetworkIsolation = bool(readEnvironmentVariable('ENABLE_NETWORK_ISOLATION', 'false'))

// Optional: where alerts are e-mailed, `azd env set ALERT_EMAIL admin@contoso.com`; empty for none.
param alertEmail = readEnvironmentVariable('ALERT_EMAIL', '')
