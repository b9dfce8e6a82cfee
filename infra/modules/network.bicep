// Network isolation (deployed only when enableNetworkIsolation is true): a virtual network with
// one subnet for the function app's outbound VNet integration (delegated to
// Microsoft.App/environments, as Flex Consumption requires) and one for private endpoints; private
// endpoints for the storage account's blob and queue services and for the Key Vault, each
// registered in its private DNS zone, which is linked to the virtual network. The storage account
// and the vault turn public network access off in the same deployment.

@description('Name of the virtual network.')
@minLength(2)
@maxLength(64)
param name string

@description('Azure region of the virtual network and the private endpoints.')
param location string

@description('Tags applied to the network resources.')
param tags resourceInput<'Microsoft.Network/virtualNetworks@2025-09-01'>.tags

@description('Address space of the virtual network (a /24 is carved out of it for each subnet).')
@minLength(9)
param addressPrefix string

@description('Name of the storage account reached through the blob and queue private endpoints.')
param storageAccountName string

@description('Name of the Key Vault reached through the vault private endpoint.')
param keyVaultName string

var appSubnetName = 'snet-function-app'
var privateEndpointSubnetName = 'snet-private-endpoints'

resource storage 'Microsoft.Storage/storageAccounts@2026-04-01' existing = {
  name: storageAccountName
}

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' existing = {
  name: keyVaultName
}

// One entry per private endpoint: the target service, its sub-resource (group id) and the
// private DNS zone its name resolves in (derived from the cloud's suffixes, not hard-coded).
var privateLinks = [
  {
    name: 'blob'
    groupId: 'blob'
    serviceName: storage.name
    zone: 'privatelink.blob.${environment().suffixes.storage}'
  }
  {
    name: 'queue'
    groupId: 'queue'
    serviceName: storage.name
    zone: 'privatelink.queue.${environment().suffixes.storage}'
  }
  {
    name: 'vault'
    groupId: 'vault'
    serviceName: vault.name
    // keyvaultDns is '.vault.azure.net' (or the sovereign equivalent); the private link zone is
    // the matching 'privatelink.vaultcore...' zone.
    zone: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}'
  }
]

resource vnet 'Microsoft.Network/virtualNetworks@2025-09-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: appSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 0)
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: privateEndpointSubnetName
        properties: {
          addressPrefix: cidrSubnet(addressPrefix, 24, 1)
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

resource appSubnet 'Microsoft.Network/virtualNetworks/subnets@2025-09-01' existing = {
  parent: vnet
  name: appSubnetName
}

resource privateEndpointSubnet 'Microsoft.Network/virtualNetworks/subnets@2025-09-01' existing = {
  parent: vnet
  name: privateEndpointSubnetName
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [
  for link in privateLinks: {
    name: link.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [
  for (link, i) in privateLinks: {
    parent: zones[i]
    name: '${vnet.name}-link'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnet.id
      }
    }
  }
]

resource endpoints 'Microsoft.Network/privateEndpoints@2025-09-01' = [
  for link in privateLinks: {
    name: 'pe-${link.serviceName}-${link.name}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: privateEndpointSubnet.id
      }
      privateLinkServiceConnections: [
        {
          name: 'pe-${link.serviceName}-${link.name}'
          properties: {
            privateLinkServiceId: link.groupId == 'vault' ? vault.id : storage.id
            groupIds: [
              link.groupId
            ]
          }
        }
      ]
    }
  }
]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2025-09-01' = [
  for (link, i) in privateLinks: {
    parent: endpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: link.name
          properties: {
            privateDnsZoneId: zones[i].id
          }
        }
      ]
    }
  }
]

@description('Resource id of the subnet the function app integrates with.')
output appSubnetId string = appSubnet.id
