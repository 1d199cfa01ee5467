@echo off
rem kubectl >= 1.26 completes `kubectl pixie <TAB>` by running
rem kubectl_complete-pixie from PATH with the words typed after "pixie".
rem Installed by `kubectl pixie completion install`; shipped in release archives.
if exist "%~dp0kubectl-pixie.exe" (
  "%~dp0kubectl-pixie.exe" __complete %*
) else (
  kubectl-pixie.exe __complete %*
)
