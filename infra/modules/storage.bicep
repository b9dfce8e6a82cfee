// Storage account shared by the Functions host (its own blobs and queues, the deployment
// package) and the exports. Only Microsoft Entra (identity-based) access: shared keys, and with
// them SAS tokens and key-based connection strings, are off.

@description('Name of the storage account (3-24 lowercase letters and digits, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the storage account.')
param location string

@description('Tags applied to the storage account.')
param tags resourceInput<'Microsoft.Storage/storageAccounts@2026-04-01'>.tags

@description('Replication of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param skuName string

@description('Container that holds the function app deployment package.')
@minLength(3)
@maxLength(63)
param deploymentContainerName string

@description('Container that receives the export snapshots.')
@minLength(3)
@maxLength(63)
param exportContainerName string

@description('Container that holds the status document of each export run.')
@minLength(3)
@maxLength(63)
param runStatusContainerName string

@description('Container that holds the per-profile lock blobs (leased while an export runs).')
@minLength(3)
@maxLength(63)
param lockContainerName string

@description('Containers of the Functions host (AzureWebJobsStorage): created here, so the app\'s role assignments can be scoped to them.')
param hostContainerNames string[]

@description('Queues to create: the export job queue and its poison queue.')
param queueNames string[]

@description('Days a deleted blob or container can be restored (soft delete).')
@minValue(1)
@maxValue(365)
param softDeleteRetentionDays int

@description('Export blobs move to the cool tier this many days after they were last modified.')
@minValue(1)
param exportCoolAfterDays int

@description('Export blobs are deleted this many days after they were last modified.')
@minValue(1)
param exportDeleteAfterDays int

@description('Previous blob versions (kept because versioning is on) are deleted this many days after they were replaced.')
@minValue(1)
param previousVersionRetentionDays int

@description('True: public network access is off; the account is reached only through private endpoints.')
param disablePublicNetworkAccess bool

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    isHnsEnabled: false
    publicNetworkAccess: disablePublicNetworkAccess ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: disablePublicNetworkAccess ? 'Deny' : 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2026-04-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteRetentionDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2026-04-01' = [
  for containerName in concat(
    [deploymentContainerName, exportContainerName, runStatusContainerName, lockContainerName],
    hostContainerNames
  ): {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2026-04-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2026-04-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

// Lifecycle management. Snapshots under {profile}/snapshot_date=.../ age out: cool tier after
// exportCoolAfterDays, deleted after exportDeleteAfterDays. The rule is filtered on the exports
// container only, so the Functions host's containers, the deployment package, run status and locks
// are never tiered or deleted. {profile}/latest/ is rewritten by every successful run, so while
// the schedule runs its blobs stay younger than both thresholds; they age out only when no export
// has succeeded for that long. Every overwrite of latest/ keeps the replaced blob as a previous
// version; those versions (in any container) are removed after previousVersionRetentionDays.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2026-04-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'exports-cool-then-delete'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${exportContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                tierToCool: {
                  daysAfterModificationGreaterThan: exportCoolAfterDays
                }
                delete: {
                  daysAfterModificationGreaterThan: exportDeleteAfterDays
                }
              }
            }
          }
        }
        {
          // Run records describe exports; they go when the exports they describe do.
          name: 'run-records-delete'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${runStatusContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: exportDeleteAfterDays
                }
              }
            }
          }
        }
        {
          // A consent request (its PKCE verifier and nonce) is taken by the callback, or is
          // useless after ten minutes; one whose browser never came back is removed the next day.
          name: 'consent-requests-delete'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${lockContainerName}/consent-requests/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: 1
                }
              }
            }
          }
        }
        {
          name: 'previous-versions-cleanup'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
            }
            actions: {
              version: {
                delete: {
                  daysAfterCreationGreaterThan: previousVersionRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

@description('Name of the storage account.')
output name string = storage.name

@description('Resource id of the storage account.')
output id string = storage.id

@description('Blob service endpoint, without a trailing slash.')
output blobEndpoint string = 'https://${storage.name}.blob.${environment().suffixes.storage}'

@description('Queue service endpoint, without a trailing slash.')
output queueEndpoint string = 'https://${storage.name}.queue.${environment().suffixes.storage}'
