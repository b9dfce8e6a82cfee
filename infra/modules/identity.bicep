// User-assigned managed identity of the function app. It is the one identity the app uses for
// its host storage, the export storage, Key Vault, Application Insights and (as a federated
// credential of the Partner Center app registration) for its client assertion.

@description('Name of the user-assigned managed identity.')
@minLength(3)
@maxLength(128)
param name string

@description('Azure region of the identity.')
param location string

@description('Tags applied to the identity.')
param tags resourceInput<'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30'>.tags

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id of the identity.')
output id string = identity.id

@description('Client (application) id of the identity.')
output clientId string = identity.properties.clientId

@description('Principal (object) id of the identity: the subject of the federated credential.')
output principalId string = identity.properties.principalId
