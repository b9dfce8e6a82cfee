#!/usr/bin/env bash
# Lints and compiles the Bicep templates in infra/ to ARM JSON under .tools/infra/.
# The Bicep CLI comes from NuGet (Azure.Bicep.CommandLine.linux-x64), restored with the
# machine's .NET SDK into .tools/bicep/ on first use. Fails on any Bicep error or warning
# (the Bicep CLI itself exits 0 on warnings). Prints one summary line on success.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

bicep_version="0.47.16"
tools="$root/.tools/bicep"
bicep="$tools/packages/azure.bicep.commandline.linux-x64/$bicep_version/tools/bicep"
out="$root/.tools/infra"

if [ ! -x "$bicep" ]; then
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "infra-build: the .NET SDK (dotnet) is needed to restore the Bicep CLI from NuGet" >&2
    exit 1
  fi
  mkdir -p "$tools"
  cat >"$tools/bicep-restore.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>netstandard2.0</TargetFramework>
    <DisableImplicitNuGetFallbackFolder>true</DisableImplicitNuGetFallbackFolder>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="Azure.Bicep.CommandLine.linux-x64" Version="[$bicep_version]" />
  </ItemGroup>
</Project>
EOF
  if ! restore_log="$(dotnet restore "$tools/bicep-restore.csproj" --packages "$tools/packages" 2>&1)"; then
    echo "$restore_log" >&2
    echo "infra-build: restoring the Bicep CLI $bicep_version from NuGet failed" >&2
    exit 1
  fi
  if [ ! -f "$bicep" ]; then
    echo "infra-build: the Bicep CLI was not found at $bicep after the restore" >&2
    exit 1
  fi
  chmod +x "$bicep"
fi

mkdir -p "$out"
# Outputs of an earlier build must not outlive a failed one.
rm -f "$out/main.json" "$out/main.parameters.json"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

status=0
# Each step's output (stdout and stderr) is collected; bicep exits 0 on warnings, so the
# output is scanned for diagnostics as well.
run_step() {
  if ! "$bicep" "$@" >>"$log" 2>&1; then
    status=1
  fi
}
run_step lint infra/main.bicep
run_step build infra/main.bicep --outfile "$out/main.json"
run_step build-params infra/main.bicepparam --outfile "$out/main.parameters.json"

if grep -Eq '(Warning|Error) [A-Za-z0-9-]+:|: (Warning|Error) |^(Warning|Error)\b' "$log"; then
  status=1
fi

if [ "$status" -ne 0 ]; then
  # lint and build report the same diagnostics: show each line once.
  awk '!seen[$0]++' "$log" >&2
  rm -f "$out/main.json" "$out/main.parameters.json"
  echo "infra-build: FAILED (bicep $bicep_version reported errors or warnings)" >&2
  exit 1
fi

if [ -s "$log" ]; then
  # Anything else bicep printed (informational lines) is shown, but does not fail the build.
  cat "$log" >&2
fi
echo "infra-build: infra/main.bicep and infra/main.bicepparam lint and compile cleanly with bicep $bicep_version -> .tools/infra/"
