// Key Vault that keeps the delegated-token cache (written by `referrals-export auth login`, then
// rotated by the app) and, for the secret/certificate credential types, the app registration's
// client secret or certificate. No secret is created here: access is Azure RBAC only, soft
// delete and purge protection keep a deleted cache recoverable.

@description('Name of the Key Vault (3-24 letters, digits and hyphens, globally unique).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region of the Key Vault.')
param location string

@description('Tags applied to the Key Vault.')
param tags resourceInput<'Microsoft.KeyVault/vaults@2026-02-01'>.tags

@description('Microsoft Entra tenant that authenticates requests to the vault.')
param tenantId string

@description('Days a deleted vault or secret can be recovered.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

@description('True: public network access is off; the vault is reached only through its private endpoint.')
param disablePublicNetworkAccess bool

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: disablePublicNetworkAccess ? 'Disabled' : 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: disablePublicNetworkAccess ? 'Deny' : 'Allow'
    }
  }
}

@description('Name of the Key Vault.')
output name string = vault.name

@description('Resource id of the Key Vault.')
output id string = vault.id

@description('URI of the Key Vault, e.g. https://<name>.vault.azure.net/.')
output uri string = vault.properties.vaultUri
