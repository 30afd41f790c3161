#!/usr/bin/env bash
# The main job: build tandem and run `tandem demo` — two nodes in network
# namespaces, a floating IP and a service, the active node killed, the
# failover measured by an observer. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o bin/tandem ./cmd/tandem
exec ./bin/tandem demo "$@"
