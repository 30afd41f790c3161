#!/usr/bin/env bash
# Installs what building, testing and benchmarking tandem needs on a fresh
# Debian 12 machine (keepalived and nftables only for bench/failover;
# systemd for systemd-analyze, which checks dist/systemd/tandem.service;
# resource-agents for the ocf agent's tests with IPaddr2 and Dummy;
# sip-tester, SIPp, as the SIP server the sip agent's tests ping;
# pacemaker-cli-utils and pacemaker for crm_simulate, which the scheduler's
# differential test compares placements with; fence-agents for the fence
# package's tests with fence_dummy, and with fence_ipmilan against openipmi's
# ipmi_sim (a simulated BMC per node in the end-to-end tests; ipmitool shows
# its power state); systemd-container for the systemd agent's test, which
# boots systemd in systemd-nspawn)
# (run as root). Safe to run again: it only installs what is missing.
set -euo pipefail
need=()
for pair in ip:iproute2 keepalived:keepalived nft:nftables systemd-analyze:systemd /usr/lib/ocf/resource.d/heartbeat/Dummy:resource-agents sipp:sip-tester crm_simulate:pacemaker-cli-utils /usr/sbin/pacemakerd:pacemaker /usr/sbin/fence_dummy:fence-agents ipmi_sim:openipmi ipmitool:ipmitool systemd-nspawn:systemd-container; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null 2>&1 || { echo "Go 1.26 is needed (https://go.dev/dl); /usr/local/go/bin must be on PATH" >&2; exit 1; }
go mod download
if ! command -v staticcheck >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
