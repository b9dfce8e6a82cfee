// Azure RBAC role assignments, least privilege: each one names a built-in data-plane role and is
// scoped to the single resource it is about (never the resource group or subscription). No
// Owner, Contributor or User Access Administrator is granted anywhere.
//
// Function app identity:
// - Storage Blob Data Owner on the storage account. The Functions host needs it for an
//   identity-based AzureWebJobsStorage (host keys and state in azure-webjobs-* containers, the
//   timer trigger's schedule monitor and singleton leases, the Flex Consumption deployment
//   package); the export writes snapshots, run status, and takes blob leases on the lock blobs.
//   Storage Blob Data Contributor covers the app's own writes and leases, but the host's
//   documented requirement for AzureWebJobsStorage is Owner, so Owner it is.
//   The role also includes generateUserDelegationKey/action: with HTTP_READ_LINK_MINUTES above
//   0 the status API signs read-only user delegation SAS links to single export blobs with it.
// - Storage Queue Data Contributor on the storage account: the HTTP trigger enqueues export jobs,
//   the queue trigger reads, updates and deletes them and moves failures to the poison queue.
//   It includes what Storage Queue Data Message Processor and Message Sender grant, so those are
//   not assigned.
// - No Storage Table Data role: on Flex Consumption the host keeps its state (keys, timer
//   schedule, singleton locks, the deployment package) in blobs, and the app uses no tables (no
//   Durable Functions, no table bindings). The host's optional diagnostic-events table is the one
//   table feature left: without the role the host logs a single warning at start-up and turns it
//   off; failures still reach Application Insights.
// - Key Vault Secrets Officer on the vault: the app reads the token cache and writes it back
//   whenever the refresh token rotates (and reads the client secret / certificate when those
//   credential types are used; a certificate's private key is read as a secret).
// - Monitoring Metrics Publisher on Application Insights: telemetry ingestion with Microsoft
//   Entra authentication (local authentication is off).
//
// Deploying user (only when principalId is set; azd sets it to the signed-in user):
// - Key Vault Secrets Officer on the vault, so `referrals-export auth login` can store the
//   consented token cache and `auth status` can read it.
// - Storage Blob Data Reader on the storage account, to read the exports. Writing is the app's
//   job, so Storage Blob Data Contributor is not granted.

@description('Name of the function app\'s user-assigned managed identity.')
param identityName string

@description('Name of the storage account.')
param storageAccountName string

@description('Name of the Key Vault.')
param keyVaultName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Object id of the deploying user or group (or service principal); empty for none.')
param principalId string

@description('Kind of principal principalId is.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Built-in role definition ids (the same in every tenant).
var storageBlobDataOwner = 'b7e6b10f-690d-4e13-a2ec-4ec1e7b1d4cb'
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource appBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwner)
  scope: storage
  properties: {
    description: 'Function app identity: Functions host storage, deployment package, exports, run status and lock leases.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageQueueDataContributor)
  scope: storage
  properties: {
    description: 'Function app identity: export job queue and its poison queue.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    description: 'Function app identity: reads the token cache and writes it back when the refresh token rotates.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identity.id, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    description: 'Function app identity: telemetry ingestion with Microsoft Entra authentication.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource userSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    description: 'Deploying user: stores the consented token cache (auth login) and reads it (auth status).'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: principalId
    principalType: principalType
  }
}

resource userBlobDataReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(principalId)) {
  name: guid(storage.id, principalId, storageBlobDataReader)
  scope: storage
  properties: {
    description: 'Deploying user: reads the exports and run status.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: principalId
    principalType: principalType
  }
}
