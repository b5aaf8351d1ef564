#!/usr/bin/env bash
# Builds the Traefik binary the end-to-end tests run, from the Go module proxy
# (no Docker here). The binary is cached under build/ so later runs reuse it.
# `go install` refuses Traefik (replace directives in its go.mod), so we build
# inside the downloaded module directory.
set -euo pipefail
version=${TRAEFIK_VERSION:-v3.6.12}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/build/traefik/$version/traefik"
if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$(dirname "$out")"
dir=$(go mod download -json "github.com/traefik/traefik/v3@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "traefik: module download failed" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$dir/." "$work/"
chmod -R u+w "$work"
(cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$out.tmp" ./cmd/traefik)
mv "$out.tmp" "$out"
echo "$out"
