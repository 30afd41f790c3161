#!/usr/bin/env bash
# Times tandem's scheduler against Pacemaker's crm_simulate on the
# benchmark case of internal/schedule (N resources on 32 nodes, half in
# groups, constraints on half) and prints the ratio only after checking
# that both placed every resource on the same node. crm_simulate is slow:
# 10,000 resources take minutes and GiBs (docs/benchmarks.md).
#   scripts/schedule-bench.sh [N ...]     default: 100 1000
set -euo pipefail
cd "$(dirname "$0")/.."
command -v crm_simulate >/dev/null || { echo "crm_simulate missing: apt-get install pacemaker-cli-utils pacemaker (scripts/deps.sh)" >&2; exit 1; }
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000)
go test ./internal/schedule -run '^$' -bench BenchmarkPlace -benchtime 20x
for n in "${sizes[@]}"; do
  SCHEDULE_COMPARE="$n" go test ./internal/schedule -run '^TestCompareWithCrmSimulate$' -v -count=1 -timeout 2h | grep -E 'resources on|differ|FAIL' || true
done
