// Azure Monitor workbook over the app's run and consent events (AppTraces in the workspace): runs
// per day by status, rows and duration per profile, failures by reason and the consent's age. Its
// definition is infra/workbooks/runs.workbook.json, deployed as it is but for the workspace's id:
// the workbook belongs to the workspace (Log Analytics workspace > Workbooks) and its queries run
// there wherever it is opened from.

@description('Name of the Log Analytics workspace the app\'s telemetry lands in.')
param logAnalyticsName string

@description('Azure region of the workbook.')
param location string

@description('Tags applied to the workbook.')
param tags resourceInput<'Microsoft.Insights/workbooks@2023-06-01'>.tags

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' existing = {
  name: logAnalyticsName
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // A workbook's name is a GUID; this one is stable per workspace, so a new deployment updates it.
  name: guid(workspace.id, 'referrals-export-runs-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'referrals-export runs'
    category: 'workbook'
    sourceId: workspace.id
    serializedData: replace(
      loadTextContent('../workbooks/runs.workbook.json'),
      '__WORKSPACE_RESOURCE_ID__',
      workspace.id
    )
  }
}
