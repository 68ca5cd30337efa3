#!/usr/bin/env bash
# Builds the api and worker binaries the way the images hold them: static
# (CGO_ENABLED=0, so the api runs on a base image with no C library),
# reproducible paths (-trimpath), no debug tables. Fails when a binary
# turns out dynamically linked, which would break the minimal api image.
#
#   scripts/build-binaries.sh OUTDIR     (default: ./bin)
#
# The Dockerfile's build stage runs this, and so does .ci/run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/bin}"
mkdir -p "$out"
cd "$root"
for cmd in api worker; do
  CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out/$cmd" "./cmd/$cmd"
  # A dynamic ELF names its loader (PT_INTERP) near the start of the file.
  if head -c 4096 "$out/$cmd" | grep -qa -e 'ld-linux' -e 'ld-musl'; then
    echo "build-binaries: $out/$cmd is dynamically linked" >&2
    exit 1
  fi
  echo "built $out/$cmd"
done
