// Log Analytics workspace and workspace-based Application Insights. Local (instrumentation key)
// authentication is off: telemetry is accepted only with a Microsoft Entra token, which the app
// obtains with its managed identity (Monitoring Metrics Publisher, granted in roles.bicep).

@description('Name of the Log Analytics workspace.')
@minLength(4)
@maxLength(63)
param logAnalyticsName string

@description('Name of the Application Insights component.')
@minLength(1)
@maxLength(260)
param applicationInsightsName string

@description('Azure region of the monitoring resources.')
param location string

@description('Tags applied to the monitoring resources.')
param tags resourceInput<'Microsoft.OperationalInsights/workspaces@2026-03-01'>.tags

@description('Days the workspace keeps logs.')
@minValue(30)
@maxValue(730)
param retentionInDays int

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
  }
}

@description('Name of the Application Insights component.')
output applicationInsightsName string = applicationInsights.name

@description('Application Insights connection string. It identifies the component and is not a secret: with local authentication off, ingestion needs a Microsoft Entra token.')
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
