// referrals-export: everything the Azure Functions app needs, in one resource group.
//
// - Function app on the Flex Consumption plan (FC1, Node.js 22) running as a user-assigned
//   managed identity; identity-based storage for the host and the deployment package.
// - Storage account (no shared keys) with the exports container, run status, locks and the export
//   job queues, blob soft delete, versioning and lifecycle management.
// - Key Vault (RBAC, soft delete, purge protection) for the delegated-token cache.
// - Log Analytics + workspace-based Application Insights with local authentication off.
// - Least-privilege role assignments for the app identity and, optionally, the deploying user.
// - Optional network isolation: VNet integration and private endpoints.
// - The HTTP API accepts Microsoft Entra ID tokens for its own app registration (apiClientId),
//   which the azd preprovision hook creates: a Bicep template cannot create app registrations.
//
// Deploy with `azd up` (see azure.yaml and docs/deployment.md) or
// `az deployment sub create --location <region> --parameters infra/main.bicepparam`.

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------------

@description('Name of the environment (azd sets it from AZURE_ENV_NAME); part of the resource group name and of the seed of every resource name.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Azure region of every resource. It must offer the Flex Consumption plan.')
@minLength(1)
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Name of the resource group to create; empty for rg-<environmentName>.')
@maxLength(90)
param resourceGroupName string = ''

@description('Object id of the person (or group, or service principal) who deploys and runs `referrals-export auth login`; it gets Key Vault Secrets Officer on the vault, Storage Blob Data Contributor on the lock container (the token-cache lease) and Storage Blob Data Reader on the exports and run status containers. azd sets it to the signed-in user. Empty for none.')
@maxLength(36)
param principalId string = ''

@description('Kind of principal principalId is.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

// ---------------------------------------------------------------------------------------------
// Partner Center and sign-in
// ---------------------------------------------------------------------------------------------

@description('Partner Center cloud: global (login.microsoftonline.com) or usgov (login.microsoftonline.us).')
@allowed([
  'global'
  'usgov'
])
param partnerCenterCloud string = 'global'

@description('Microsoft Entra tenant (id) of the partner: where the app registration lives and the admin consents.')
@minLength(1)
param tenantId string = tenant().tenantId

@description('Client (application) id of the Partner Center app registration (delegated user_impersonation on the Partner Center API). Deployments without it succeed, but the app reports the missing setting at start-up.')
@maxLength(36)
param partnerCenterClientId string

@description('How the app proves the app registration\'s identity when it redeems the refresh token: managed-identity (a federated credential trusts the user-assigned identity; no secret exists), secret (client secret in Key Vault) or certificate (certificate in Key Vault).')
@allowed([
  'managed-identity'
  'secret'
  'certificate'
])
param partnerCenterCredential string = 'managed-identity'

@description('Name of the Key Vault secret that holds the client secret (credential type secret only). Created by an administrator, not by this template.')
@minLength(1)
@maxLength(127)
param partnerCenterClientSecretName string = 'partner-center-client-secret'

@description('Name of the Key Vault certificate that holds the client certificate (credential type certificate only). Created by an administrator, not by this template.')
@minLength(1)
@maxLength(127)
param partnerCenterCertificateName string = 'partner-center-client-certificate'

@description('Name of the Key Vault secret that holds the MSAL token cache. `referrals-export auth login` writes it; this template creates no value.')
@minLength(1)
@maxLength(127)
param tokenCacheSecretName string = 'partner-center-token-cache'

// ---------------------------------------------------------------------------------------------
// HTTP API access
// ---------------------------------------------------------------------------------------------

@description('Application (client) id of the HTTP API\'s app registration: callers send a Microsoft Entra access token issued for it, with an Exports.Read, Exports.Run or Exports.Admin app role. The preprovision hook creates the registration and sets API_CLIENT_ID in the azd environment. Empty: the API refuses every call.')
@maxLength(36)
param apiClientId string = ''

@description('Application id URI the API also accepts as token audience (api://...); empty for the default, api://<apiClientId>. Tokens whose audience is the client id itself are always accepted.')
@maxLength(200)
param apiAudience string = ''

@description('Runs of one profile (or of the ad-hoc exports) that may be queued or running at once; further requests are refused with 429.')
@minValue(1)
@maxValue(100)
param maxActiveRunsPerProfile int = 3

@description('Ad-hoc runs (POST /api/exports without a profile: the query comes from the request) the app accepts in any rolling hour; 0 refuses them all.')
@minValue(0)
@maxValue(1000)
param maxAdhocRunsPerHour int = 12

// ---------------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------------

@description('Blob container that receives the export snapshots.')
@minLength(3)
@maxLength(63)
param exportContainerName string = 'referrals'

@description('Export profiles, as a JSON array (see the export profile contract).')
@minLength(2)
param exportProfiles string = '[{"name":"all-referrals","formats":["csv","json"],"schedule":true}]'

@description('NCRONTAB schedule (six fields, UTC) of the nightly exports of the scheduled profiles.')
@minLength(11)
param exportSchedule string = '0 0 2 * * *'

@description('Lifetime in minutes of the read links (user delegation SAS, read-only, one blob each) that GET /api/exports/{runId}?readLinks=true signs for a succeeded run; 0 turns the option off. Every caller with the Exports.Read app role can then hand out read access to export files, beyond their own Azure storage roles, so it is off by default.')
@minValue(0)
@maxValue(1440)
param httpReadLinkMinutes int = 0

@description('Export blobs move to the cool tier this many days after they were written.')
@minValue(1)
@maxValue(36500)
param exportCoolAfterDays int = 30

@description('Export blobs are deleted this many days after they were written (keep it above exportCoolAfterDays).')
@minValue(1)
@maxValue(36500)
param exportDeleteAfterDays int = 365

@description('Days a deleted blob or container can be restored (blob and container soft delete).')
@minValue(1)
@maxValue(365)
param blobSoftDeleteRetentionDays int = 14

@description('Previous blob versions (versioning is on) are deleted this many days after they were replaced.')
@minValue(1)
@maxValue(36500)
param previousVersionRetentionDays int = 30

@description('Replication of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSkuName string = 'Standard_LRS'

// ---------------------------------------------------------------------------------------------
// Function app, vault, monitoring
// ---------------------------------------------------------------------------------------------

@description('Flex Consumption: maximum number of instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 20

@description('Flex Consumption: memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Days a deleted Key Vault or secret can be recovered (purge protection is on, so it cannot be purged earlier).')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Days the Log Analytics workspace keeps logs.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

@description('E-mail address that receives the alerts (failed run, consent required, scheduled profile out of date); empty for none: the alerts still fire and show in Azure Monitor.')
param alertEmail string = ''

// ---------------------------------------------------------------------------------------------
// Network isolation
// ---------------------------------------------------------------------------------------------

@description('True: a virtual network, VNet integration for the function app, private endpoints (and private DNS zones) for blob, queue and Key Vault, and public network access off on the storage account and the vault.')
param enableNetworkIsolation bool = false

@description('Address space of the virtual network (network isolation only); a /24 for the app subnet and one for private endpoints are carved out of it.')
@minLength(9)
param virtualNetworkAddressPrefix string = '10.40.0.0/16'

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'referrals-export'
}
var names = {
  resourceGroup: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  identity: 'id-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  storage: 'st${resourceToken}'
  keyVault: 'kv-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
  virtualNetwork: 'vnet-${resourceToken}'
}
var deploymentContainerName = 'app-package'
var runStatusContainerName = 'export-runs'
var lockContainerName = 'export-locks'
var exportQueueName = 'export-jobs'
var poisonQueueName = '${exportQueueName}-poison'
// The Functions host's own containers (state and leases, keys); created with the others so the
// app's role assignments can name each container it uses.
var hostStateContainerName = 'azure-webjobs-hosts'
var hostKeysContainerName = 'azure-webjobs-secrets'

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: names.resourceGroup
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
  }
}

module storage 'modules/storage.bicep' = {
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    exportContainerName: exportContainerName
    runStatusContainerName: runStatusContainerName
    lockContainerName: lockContainerName
    hostContainerNames: [
      hostStateContainerName
      hostKeysContainerName
    ]
    queueNames: [
      exportQueueName
      poisonQueueName
    ]
    softDeleteRetentionDays: blobSoftDeleteRetentionDays
    exportCoolAfterDays: exportCoolAfterDays
    exportDeleteAfterDays: exportDeleteAfterDays
    previousVersionRetentionDays: previousVersionRetentionDays
    disablePublicNetworkAccess: enableNetworkIsolation
  }
}

module keyVault 'modules/keyvault.bicep' = {
  scope: rg
  params: {
    name: names.keyVault
    location: location
    tags: tags
    tenantId: tenant().tenantId
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    disablePublicNetworkAccess: enableNetworkIsolation
  }
}

module network 'modules/network.bicep' = if (enableNetworkIsolation) {
  scope: rg
  params: {
    name: names.virtualNetwork
    location: location
    tags: tags
    addressPrefix: virtualNetworkAddressPrefix
    storageAccountName: names.storage
    keyVaultName: names.keyVault
  }
  dependsOn: [
    storage
    keyVault
  ]
}

module roles 'modules/roles.bicep' = {
  scope: rg
  params: {
    identityName: names.identity
    storageAccountName: names.storage
    exportContainerName: exportContainerName
    runStatusContainerName: runStatusContainerName
    lockContainerName: lockContainerName
    deploymentContainerName: deploymentContainerName
    hostStateContainerName: hostStateContainerName
    hostKeysContainerName: hostKeysContainerName
    jobQueueName: exportQueueName
    poisonQueueName: poisonQueueName
    readLinks: httpReadLinkMinutes > 0
    keyVaultName: names.keyVault
    applicationInsightsName: names.applicationInsights
    principalId: principalId
    principalType: principalType
  }
  dependsOn: [
    identity
    storage
    keyVault
    monitoring
  ]
}

module functionApp 'modules/functionapp.bicep' = {
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: union(tags, {
      'azd-service-name': 'api'
    })
    identityName: names.identity
    storageAccountName: names.storage
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    virtualNetworkSubnetId: network.?outputs.appSubnetId ?? ''
    productSettings: {
      PARTNER_CENTER_CLOUD: partnerCenterCloud
      AZURE_TENANT_ID: tenantId
      PARTNER_CENTER_CLIENT_ID: partnerCenterClientId
      PARTNER_CENTER_CREDENTIAL: partnerCenterCredential
      PARTNER_CENTER_CLIENT_SECRET_NAME: partnerCenterClientSecretName
      PARTNER_CENTER_CERTIFICATE_NAME: partnerCenterCertificateName
      KEY_VAULT_URL: keyVault.outputs.uri
      TOKEN_CACHE_SECRET_NAME: tokenCacheSecretName
      EXPORT_STORAGE_ACCOUNT_URL: storage.outputs.blobEndpoint
      EXPORT_CONTAINER: exportContainerName
      EXPORT_PROFILES: exportProfiles
      EXPORT_SCHEDULE: exportSchedule
      HTTP_READ_LINK_MINUTES: httpReadLinkMinutes
      API_CLIENT_ID: apiClientId
      API_AUDIENCE: apiAudience
      MAX_ACTIVE_RUNS_PER_PROFILE: maxActiveRunsPerProfile
      MAX_ADHOC_RUNS_PER_HOUR: maxAdhocRunsPerHour
    }
  }
  // The host reaches its storage on first start: let the role assignments exist first.
  dependsOn: [
    identity
    roles
  ]
}

// Resource logs of the vault and the storage account, alert rules on the app's run and consent
// events, and the runs workbook, all over the Log Analytics workspace.
module diagnostics 'modules/diagnostics.bicep' = {
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    storageAccountName: names.storage
    keyVaultName: names.keyVault
  }
  dependsOn: [
    monitoring
    storage
    keyVault
  ]
}

module alerts 'modules/alerts.bicep' = {
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    location: location
    tags: tags
    nameSuffix: resourceToken
    alertEmail: alertEmail
  }
  dependsOn: [
    monitoring
  ]
}

module workbook 'modules/workbook.bicep' = {
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    location: location
    tags: tags
  }
  dependsOn: [
    monitoring
  ]
}

// ---------------------------------------------------------------------------------------------
// Outputs (azd stores each one as an environment variable of the same name; the product
// settings keep their setting names so the CLI can use them as they are)
// ---------------------------------------------------------------------------------------------

@description('Region of the deployment.')
output AZURE_LOCATION string = location

@description('Microsoft Entra tenant of the partner (app registration and consent).')
output AZURE_TENANT_ID string = tenantId

@description('Resource group that holds every resource.')
output AZURE_RESOURCE_GROUP string = rg.name

@description('Name of the function app.')
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name

@description('Base URL of the function app (the HTTP API is under /api).')
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'

@description('Base URL of the HTTP API for `referrals-export remote` commands (the CLI setting of the same name).')
output REFERRALS_EXPORT_API_URL string = 'https://${functionApp.outputs.defaultHostName}'

@description('Scope a caller asks Microsoft Entra ID for to call the HTTP API (`az account get-access-token --scope`, `referrals-export remote --scope`); empty while apiClientId is.')
output API_SCOPE string = empty(apiClientId) ? '' : '${empty(apiAudience) ? 'api://${apiClientId}' : apiAudience}/.default'

@description('Name of the storage account.')
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name

@description('Blob endpoint of the storage account that receives the exports.')
output EXPORT_STORAGE_ACCOUNT_URL string = storage.outputs.blobEndpoint

@description('Container that receives the exports.')
output EXPORT_CONTAINER string = exportContainerName

@description('Name of the Key Vault.')
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name

@description('URI of the Key Vault that keeps the token cache.')
output KEY_VAULT_URL string = keyVault.outputs.uri

@description('Name of the Key Vault secret that holds the token cache (a name, not a secret value).')
output TOKEN_CACHE_SECRET_NAME string = tokenCacheSecretName

@description('Partner Center cloud.')
output PARTNER_CENTER_CLOUD string = partnerCenterCloud

@description('Client id of the Partner Center app registration.')
output PARTNER_CENTER_CLIENT_ID string = partnerCenterClientId

@description('Credential type the app uses for the app registration.')
output PARTNER_CENTER_CREDENTIAL string = partnerCenterCredential

@description('Client id of the function app\'s user-assigned managed identity.')
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId

@description('Principal (object) id of the function app\'s user-assigned managed identity: the subject of the federated credential on the app registration.')
output MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId

@description('Issuer of the federated credential on the app registration (the managed identity\'s token issuer).')
output FEDERATED_CREDENTIAL_ISSUER string = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
