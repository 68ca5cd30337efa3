#!/usr/bin/env bash
# Adds Debian 13's trixie-backports suite to apt's sources, reusing the
# mirror URI (and keyring) of the machine's existing Debian entry, so no
# mirror host is named in this repository, and pins it so that apt takes
# only yt-dlp from it: on Debian 13 (the worker image) that is the usual
# backports rule; on Debian 12 (bookworm, CI machines) yt-dlp is pure
# Python and runs on bookworm's Python 3.11, while nothing else of trixie
# may replace a bookworm package. Idempotent.
set -euo pipefail
suite=trixie-backports
list=/etc/apt/sources.list.d/recap-$suite.sources
pin=/etc/apt/preferences.d/recap-yt-dlp

# The suite may already be configured by the machine itself.
if ! grep -rqs -E "(^|[[:space:]])$suite([[:space:]]|$)" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri="" key=""
  # deb822 .sources files: the stanza whose Suites has bookworm or trixie.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    read -r uri key < <(awk '
      function emit() { if (s ~ /(^|[[:space:]])(bookworm|trixie)([[:space:]]|$)/ && u != "") { print u, (k == "" ? "-" : k); found=1; exit } }
      /^[[:space:]]*$/ { emit(); s=""; u=""; k=""; next }
      /^URIs:/ { u=$2 }
      /^Signed-By:/ { k=$2 }
      /^Suites:/ { $1=""; s=$0 }
      END { if (!found) emit() }
    ' "$f" | head -n1) || true
    [ -n "$uri" ] && break
  done
  # One-line format: deb [opts] URI bookworm main
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($(i+1)=="bookworm" || $(i+1)=="trixie") { print $i; exit } break } }' | head -n1)
  fi
  if [ -z "$uri" ]; then
    echo "apt-backports: no bookworm or trixie entry in apt's sources to copy the mirror from" >&2
    exit 1
  fi
  if [ -z "$key" ] || [ "$key" = - ]; then
    key=/usr/share/keyrings/debian-archive-keyring.gpg
  fi
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$uri" "$suite" "$key" > "$list"
  echo "apt-backports: added $suite from $uri" >&2
fi

cat > "$pin" <<PIN
# Written by Recap's scripts/apt-backports.sh: from $suite take yt-dlp
# (the worker's extractor) and nothing else.
Package: *
Pin: release n=$suite
Pin-Priority: -10

Package: yt-dlp
Pin: release n=$suite
Pin-Priority: 500
PIN
