// Function app on the Flex Consumption plan (FC1), Node.js 22, running as its user-assigned
// managed identity. Every connection is identity-based: no storage key, connection string with
// a key, client secret or Key Vault secret value appears in an app setting.

@description('Name of the function app (globally unique host name).')
@minLength(2)
@maxLength(60)
param name string

@description('Name of the Flex Consumption plan.')
@minLength(1)
@maxLength(60)
param planName string

@description('Azure region of the plan and the function app.')
param location string

@description('Tags applied to the plan and the function app.')
param tags resourceInput<'Microsoft.Web/sites@2025-03-01'>.tags

@description('Name of the user-assigned managed identity the app runs as.')
param identityName string

@description('Name of the storage account used by the Functions host and for the deployment package.')
param storageAccountName string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

@description('Application Insights connection string (identifies the component; not a secret).')
param applicationInsightsConnectionString string

@description('Maximum number of instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Resource id of the subnet for outbound VNet integration; empty for none.')
param virtualNetworkSubnetId string

@description('Product settings (name to value) added to the app settings; none of them is a secret.')
param productSettings {
  @description('Partner Center cloud: global or usgov.')
  PARTNER_CENTER_CLOUD: 'global' | 'usgov'
  @description('Tenant of the partner (and of the app registration).')
  AZURE_TENANT_ID: string
  @description('Client (application) id of the Partner Center app registration.')
  PARTNER_CENTER_CLIENT_ID: string
  @description('How the app proves the app registration\'s identity.')
  PARTNER_CENTER_CREDENTIAL: 'managed-identity' | 'secret' | 'certificate'
  @description('Name of the Key Vault secret that holds the client secret (credential type secret).')
  PARTNER_CENTER_CLIENT_SECRET_NAME: string
  @description('Name of the Key Vault certificate (credential type certificate).')
  PARTNER_CENTER_CERTIFICATE_NAME: string
  @description('URI of the Key Vault.')
  KEY_VAULT_URL: string
  @description('Name of the Key Vault secret that holds the token cache.')
  TOKEN_CACHE_SECRET_NAME: string
  @description('Blob endpoint of the export storage account.')
  EXPORT_STORAGE_ACCOUNT_URL: string
  @description('Container that receives the exports.')
  EXPORT_CONTAINER: string
  @description('Export profiles (JSON array).')
  EXPORT_PROFILES: string
  @description('NCRONTAB schedule of the nightly exports.')
  EXPORT_SCHEDULE: string
  @description('Lifetime in minutes of the status API\'s read links; 0 turns them off.')
  @minValue(0)
  @maxValue(1440)
  HTTP_READ_LINK_MINUTES: int
  @description('Application (client) id of the HTTP API\'s app registration; empty: the API refuses every call.')
  API_CLIENT_ID: string
  @description('Extra accepted token audience (application id URI); empty for none, and then no app setting.')
  API_AUDIENCE: string
  @description('Runs of one profile that may be queued or running at once.')
  @minValue(1)
  @maxValue(100)
  MAX_ACTIVE_RUNS_PER_PROFILE: int
  @description('Ad-hoc runs accepted in any rolling hour.')
  @minValue(0)
  @maxValue(1000)
  MAX_ADHOC_RUNS_PER_HOUR: int
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' existing = {
  name: storageAccountName
}

var blobEndpoint = 'https://${storage.name}.blob.${environment().suffixes.storage}'
var queueEndpoint = 'https://${storage.name}.queue.${environment().suffixes.storage}'

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}/${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat([
        // Host storage, identity-based. __accountName is the documented form; the explicit
        // service URIs make the endpoints right in sovereign clouds too (they win over
        // __accountName and equal what it yields in the public cloud).
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: blobEndpoint
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: queueEndpoint
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        // Azure SDK DefaultAzureCredential / ManagedIdentityCredential pick the user-assigned identity.
        {
          name: 'AZURE_CLIENT_ID'
          value: identity.properties.clientId
        }
        // Telemetry with Microsoft Entra authentication (local auth is off on the component).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: applicationInsightsConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
        // Product settings (see the settings contract).
        {
          name: 'PARTNER_CENTER_CLOUD'
          value: productSettings.PARTNER_CENTER_CLOUD
        }
        {
          name: 'AZURE_TENANT_ID'
          value: productSettings.AZURE_TENANT_ID
        }
        {
          name: 'PARTNER_CENTER_CLIENT_ID'
          value: productSettings.PARTNER_CENTER_CLIENT_ID
        }
        {
          name: 'PARTNER_CENTER_CREDENTIAL'
          value: productSettings.PARTNER_CENTER_CREDENTIAL
        }
        {
          name: 'PARTNER_CENTER_CLIENT_SECRET_NAME'
          value: productSettings.PARTNER_CENTER_CLIENT_SECRET_NAME
        }
        {
          name: 'PARTNER_CENTER_CERTIFICATE_NAME'
          value: productSettings.PARTNER_CENTER_CERTIFICATE_NAME
        }
        {
          name: 'KEY_VAULT_URL'
          value: productSettings.KEY_VAULT_URL
        }
        {
          name: 'TOKEN_CACHE_SECRET_NAME'
          value: productSettings.TOKEN_CACHE_SECRET_NAME
        }
        {
          name: 'EXPORT_STORAGE_ACCOUNT_URL'
          value: productSettings.EXPORT_STORAGE_ACCOUNT_URL
        }
        {
          name: 'EXPORT_CONTAINER'
          value: productSettings.EXPORT_CONTAINER
        }
        {
          name: 'EXPORT_PROFILES'
          value: productSettings.EXPORT_PROFILES
        }
        {
          name: 'EXPORT_SCHEDULE'
          value: productSettings.EXPORT_SCHEDULE
        }
        {
          // V8's young generation sized for an export's memory budget (src/config/nodeOptions.ts).
          name: 'NODE_OPTIONS'
          value: '--max-semi-space-size=4'
        }
        {
          name: 'HTTP_READ_LINK_MINUTES'
          value: string(productSettings.HTTP_READ_LINK_MINUTES)
        }
        // Who may call the HTTP API: bearer tokens issued for this app registration (the app checks
        // them itself; the function keys grant nothing).
        {
          name: 'API_CLIENT_ID'
          value: productSettings.API_CLIENT_ID
        }
        {
          name: 'MAX_ACTIVE_RUNS_PER_PROFILE'
          value: string(productSettings.MAX_ACTIVE_RUNS_PER_PROFILE)
        }
        {
          name: 'MAX_ADHOC_RUNS_PER_HOUR'
          value: string(productSettings.MAX_ADHOC_RUNS_PER_HOUR)
        }
      ], empty(productSettings.API_AUDIENCE) ? [] : [
        {
          name: 'API_AUDIENCE'
          value: productSettings.API_AUDIENCE
        }
      ])
    }
  }
}

// No FTP and no basic-auth (user name and password) publishing: deployments authenticate with
// Microsoft Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Name of the function app.')
output name string = functionApp.name

@description('Default host name of the function app.')
output defaultHostName string = functionApp.properties.defaultHostName
