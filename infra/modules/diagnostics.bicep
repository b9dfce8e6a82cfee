// Resource logs of the vault and the storage account, sent to the Log Analytics workspace so an
// admin can see who read or changed the token cache and the exports:
// - Key Vault AuditEvent: every secret read and write (the token cache, the client secret or
//   certificate), with the caller's identity and the result.
// - Blob and queue StorageRead / StorageWrite / StorageDelete: storage logs are per service, so
//   the settings sit on the blobServices and queueServices children, not on the account. They
//   land in StorageBlobLogs and StorageQueueLogs. The Functions host reads its own blobs and
//   polls the job queue all day, so these are the busiest logs; the workspace's retention
//   (logRetentionInDays) bounds what they cost.

@description('Name of the Log Analytics workspace that receives the logs.')
param logAnalyticsName string

@description('Name of the storage account.')
param storageAccountName string

@description('Name of the Key Vault.')
param keyVaultName string

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' existing = {
  name: logAnalyticsName
}

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'
  }

  resource queueService 'queueServices' existing = {
    name: 'default'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' existing = {
  name: keyVaultName
}

var settingName = 'to-log-analytics'
var storageLogs = [
  {
    category: 'StorageRead'
    enabled: true
  }
  {
    category: 'StorageWrite'
    enabled: true
  }
  {
    category: 'StorageDelete'
    enabled: true
  }
]

// The linter accepts only 2016-09-01 for diagnostic settings, the old form that must be named
// 'service'; 2021-05-01-preview is the newest version Azure Monitor documents for these settings.
#disable-next-line use-recent-api-versions
resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: vault
  properties: {
    workspaceId: workspace.id
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

#disable-next-line use-recent-api-versions
resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: storage::blobService
  properties: {
    workspaceId: workspace.id
    logs: storageLogs
  }
}

#disable-next-line use-recent-api-versions
resource queueDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: settingName
  scope: storage::queueService
  properties: {
    workspaceId: workspace.id
    logs: storageLogs
  }
}
