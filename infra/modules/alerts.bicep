// Alerts on the app's telemetry: log search alert rules on the Log Analytics workspace, whose
// AppTraces table receives the app's run and consent events (src/logging/telemetryEvents.ts).
// Each rule's query is a file under infra/queries/, loaded as it is, so the deployed rule runs
// exactly the text the tests check against the telemetry contract.
//
// Every rule is stateful (autoMitigate): it notifies once when its condition starts to hold and
// once when it resolves, not at every evaluation in between.

@description('Name of the Log Analytics workspace the app\'s telemetry lands in.')
param logAnalyticsName string

@description('Azure region of the alert rules (the workspace\'s region).')
param location string

@description('Tags applied to the action group and the alert rules.')
param tags resourceInput<'Microsoft.Insights/scheduledQueryRules@2026-03-01'>.tags

@description('Suffix of the action group and alert rule names.')
param nameSuffix string

@description('E-mail address that receives the alerts; empty for none.')
param alertEmail string

resource workspace 'Microsoft.OperationalInsights/workspaces@2026-03-01' existing = {
  name: logAnalyticsName
}

// Created with or without an e-mail address, so the rules are the same either way: without one the
// group has no receivers and the alerts still fire and show under Monitor > Alerts; setting
// ALERT_EMAIL and provisioning again adds the receiver without touching the rules.
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-referrals-export-${nameSuffix}'
  // Action groups are global resources.
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'refexport'
    enabled: true
    emailReceivers: empty(alertEmail)
      ? []
      : [
          {
            name: 'admin'
            emailAddress: alertEmail
            useCommonAlertSchema: true
          }
        ]
  }
}

// The workspace is created in the same deployment and AppTraces gets its first row only when the
// app first logs, so query validation at creation could refuse a correct rule; the queries are
// checked against the telemetry contract by test/infra/monitoring.test.ts instead.
var skipQueryValidation = true

// (a) A failed run. Window 30 min evaluated every 15 min: a failure is seen by two evaluations,
// so one logged just before an evaluation but ingested just after it is not missed. One alert
// per profile and reason. Severity 2 (warning): a retry or the next run may succeed, and rule (c)
// reports when a scheduled profile's data goes out of date.
resource failedRunAlert 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: 'alert-export-failed-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'referrals-export: an export run failed'
    description: 'An export run ended failed. The alert names the profile and the failure reason; `referrals-export runs list --profile <profile>` (or GET /api/exports/{runId}) shows the run\'s error.'
    severity: 2
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../queries/failed-runs.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'profile'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'reason'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: skipQueryValidation
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

// (b) The consent is needed again: no export can run until an admin signs in, so severity 1
// (error). Same window and frequency as (a), for the same reason.
resource consentAlert 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: 'alert-consent-required-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'referrals-export: Partner Center consent required'
    description: 'The stored Partner Center sign-in can no longer be used, so exports fail until an admin consents again. Fix: an Exports.Admin runs referrals-export remote consent (headless: referrals-export auth login --device-code) and signs in as a Partner Center admin (docs/deployment.md, step 4).'
    severity: 1
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT30M'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../queries/consent-required.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: skipQueryValidation
    actions: {
      actionGroups: [
        actionGroup.id
      ]
      customProperties: {
        fix: 'referrals-export remote consent (headless: referrals-export auth login --device-code)'
      }
    }
  }
}

// (c) A scheduled profile's data is stale: no succeeded run for 26 hours. Evaluated hourly (the
// data ages by the hour, not the minute) over the last two days, the longest time range a log
// search alert may query; the query itself compares each profile's last success with 26 hours
// ago. One alert per profile. Severity 2: the last export is still readable, only old.
// A profile with no run at all in two days drops out of the query and the alert resolves; by
// then it has fired, 22 hours earlier.
resource staleProfileAlert 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: 'alert-profile-stale-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'referrals-export: scheduled profile without a succeeded export for 26 hours'
    description: 'A scheduled profile has had no succeeded export for 26 hours, so its latest/ folder is out of date. `referrals-export runs list --profile <profile>` shows its recent runs and their errors.'
    severity: 2
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('../queries/stale-profiles.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          dimensions: [
            {
              name: 'profile'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: skipQueryValidation
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}
