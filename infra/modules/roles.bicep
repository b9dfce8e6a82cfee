// Azure RBAC role assignments, least privilege: each one names a built-in data-plane role and is
// scoped to the narrowest resource the platform lets a role assignment name: a blob container, a
// queue, a Key Vault secret, Application Insights (never the resource group or subscription). No
// Owner, Contributor, User Access Administrator or Storage Blob Data Owner is granted anywhere.
// test/infra/permissions.test.ts records every Storage and Key Vault call of each actor and checks
// it against these assignments.
//
// Function app identity:
// - Storage Blob Data Contributor on each container it uses, one assignment per container: the
//   exports, run status and lock containers (the app's own blobs and leases; creating a container
//   that exists is a no-op the SDK still sends, allowed by the role's containers/write at that
//   scope), the Functions host's azure-webjobs-hosts (timer schedule monitor, singleton and host id
//   leases) and azure-webjobs-secrets (function keys), and the deployment package container.
//   Flex Consumption reads and writes the package with the identity named in the function app's
//   functionAppConfig.deployment.storage.authentication, which is this identity; the platform
//   needs read and write on that container for `azd deploy`. A second identity would keep the
//   package out of this role, but the platform needs it assigned to the site as well, where the
//   app's code can ask for its tokens too, so it would separate nothing.
//   Contributor, not Owner: the host's documented need is reading and writing blobs and creating
//   containers; Owner adds POSIX ACLs and other data actions nothing here uses.
// - Storage Blob Delegator on the storage account, only while read links are on
//   (httpReadLinkMinutes > 0): Get User Delegation Key is a service-level operation, so no
//   container-scoped role can grant it. A link never reads more than the signer may: Contributor on
//   the exports container.
// - Storage Queue Data Contributor on the export job queue and on its poison queue: the HTTP
//   trigger and the timer enqueue jobs; the queue trigger receives, updates and deletes them, reads
//   the queue's length for scaling, creates the poison queue and moves failures to it.
// - No Storage Table Data role: on Flex Consumption the host keeps its state in blobs, and the
//   app uses no tables. Without the role the host logs one warning and turns its optional
//   diagnostic-events table off.
// - Key Vault Secrets Officer on the vault: the app reads the token cache and writes a new version
//   whenever the refresh token rotates, and reads the client secret or certificate with those
//   credential types. The vault holds nothing else. Narrower scopes are not possible at deployment
//   time: a role can be scoped to a secret only once the secret exists, and these secrets are
//   written after it (the token cache by `auth login`, the credential by an administrator); a
//   template that created them would replace the stored consent on every deployment.
// - Monitoring Metrics Publisher on Application Insights: telemetry ingestion with Microsoft
//   Entra authentication (local authentication is off).
//
// Deploying user (only when principalId is set; azd sets it to the signed-in user):
// - Key Vault Secrets Officer on the vault: `referrals-export auth login` stores the consented token
//   cache, `auth status` reads it, and with a secret or certificate credential the sign-in reads
//   the credential and the administrator stores it (docs/deployment.md).
// - Storage Blob Data Contributor on the lock container only: `auth login` and `auth status` take
//   the token-cache lease on export-locks/token-cache.lock (created if missing) so a refresh by the
//   app never overwrites the new consent. A role assignment cannot name a single blob.
// - Storage Blob Data Reader on the exports and run status containers: reading exports and
//   `referrals-export runs list`. Writing them is the app's job.

@description('Name of the function app\'s user-assigned managed identity.')
param identityName string

@description('Name of the storage account.')
param storageAccountName string

@description('Container that receives the exports.')
param exportContainerName string

@description('Container of the run status documents.')
param runStatusContainerName string

@description('Container of the lock blobs (profile locks and the token-cache lock).')
param lockContainerName string

@description('Container of the function app\'s deployment package.')
param deploymentContainerName string

@description('Container of the Functions host\'s state (host id, timer schedule monitor, leases).')
param hostStateContainerName string

@description('Container of the Functions host\'s keys.')
param hostKeysContainerName string

@description('The export job queue.')
param jobQueueName string

@description('The export job queue\'s poison queue.')
param poisonQueueName string

@description('True while the status API signs read links (httpReadLinkMinutes > 0).')
param readLinks bool

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

// Existing resources only name scopes (one declaration each, no loops).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' existing = {
  name: identityName
}

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' existing = {
  name: storageAccountName
}

resource exportContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = {
  name: '${storageAccountName}/default/${exportContainerName}'
}

resource runStatusContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = {
  name: '${storageAccountName}/default/${runStatusContainerName}'
}

resource lockContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = {
  name: '${storageAccountName}/default/${lockContainerName}'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = {
  name: '${storageAccountName}/default/${deploymentContainerName}'
}

resource hostStateContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = {
  name: '${storageAccountName}/default/${hostStateContainerName}'
}

resource hostKeysContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' existing = {
  name: '${storageAccountName}/default/${hostKeysContainerName}'
}

resource jobQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2026-04-01' existing = {
  name: '${storageAccountName}/default/${jobQueueName}'
}

resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2026-04-01' existing = {
  name: '${storageAccountName}/default/${poisonQueueName}'
}

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// Built-in role definition ids (the same in every tenant; test/infra/roleDefinitions.json).
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageBlobDelegator = 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

var hasUser = !empty(principalId)

resource appExports 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(exportContainer.id, identity.id, storageBlobDataContributor)
  scope: exportContainer
  properties: {
    description: 'Function app identity: writes the exports and reads the previous snapshot.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appRunStatus 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(runStatusContainer.id, identity.id, storageBlobDataContributor)
  scope: runStatusContainer
  properties: {
    description: 'Function app identity: writes and reads the run records.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appLocks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lockContainer.id, identity.id, storageBlobDataContributor)
  scope: lockContainer
  properties: {
    description: 'Function app identity: profile locks and the token-cache lock (blob leases).'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appDeploymentPackage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deploymentContainer.id, identity.id, storageBlobDataContributor)
  scope: deploymentContainer
  properties: {
    description: 'Function app identity, as Flex Consumption\'s deployment storage identity: writes and reads the deployment package.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appHostState 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStateContainer.id, identity.id, storageBlobDataContributor)
  scope: hostStateContainer
  properties: {
    description: 'Function app identity: the Functions host\'s state and leases.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appHostKeys 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostKeysContainer.id, identity.id, storageBlobDataContributor)
  scope: hostKeysContainer
  properties: {
    description: 'Function app identity: the Functions host\'s keys.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appBlobDelegator 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (readLinks) {
  name: guid(storage.id, identity.id, storageBlobDelegator)
  scope: storage
  properties: {
    description: 'Function app identity: user delegation keys for the status API\'s read links.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDelegator)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appJobQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(jobQueue.id, identity.id, storageQueueDataContributor)
  scope: jobQueue
  properties: {
    description: 'Function app identity: enqueues, receives and deletes export jobs.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appPoisonQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(poisonQueue.id, identity.id, storageQueueDataContributor)
  scope: poisonQueue
  properties: {
    description: 'Function app identity: moves failed jobs to the poison queue and watches it.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    description: 'Function app identity: reads the token cache and writes it back when the refresh token rotates; reads the app registration\'s client secret or certificate.'
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

resource userSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasUser) {
  name: guid(vault.id, principalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    description: 'Deploying user: stores the consented token cache (auth login), reads it (auth status), stores the app credential.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
    principalId: principalId
    principalType: principalType
  }
}

resource userLocks 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasUser) {
  name: guid(lockContainer.id, principalId, storageBlobDataContributor)
  scope: lockContainer
  properties: {
    description: 'Deploying user: the token-cache lease that auth login and auth status take.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: principalId
    principalType: principalType
  }
}

resource userExports 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasUser) {
  name: guid(exportContainer.id, principalId, storageBlobDataReader)
  scope: exportContainer
  properties: {
    description: 'Deploying user: reads the exports.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: principalId
    principalType: principalType
  }
}

resource userRunStatus 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (hasUser) {
  name: guid(runStatusContainer.id, principalId, storageBlobDataReader)
  scope: runStatusContainer
  properties: {
    description: 'Deploying user: reads the run records (referrals-export runs list).'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: principalId
    principalType: principalType
  }
}
