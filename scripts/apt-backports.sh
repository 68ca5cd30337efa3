#!/usr/bin/env bash
# Adds Debian's bookworm-backports suite to apt's sources, reusing the mirror
# URI of the machine's existing bookworm entry (so no mirror host is named in
# this repository). Does nothing when the suite is already configured.
set -euo pipefail
if grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
  exit 0
fi
uri=""
# deb822 .sources files: the URIs line of the stanza whose Suites has bookworm.
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  uri=$(awk '
    /^[[:space:]]*$/ { if (s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/ && u != "") { print u; exit } s=""; u=""; next }
    /^URIs:/ { u=$2 }
    /^Suites:/ { $1=""; s=$0 }
    END { if (s ~ /(^|[[:space:]])bookworm([[:space:]]|$)/ && u != "") print u }
  ' "$f" | head -n1)
  [ -n "$uri" ] && break
done
# One-line format: deb URI bookworm main
if [ -z "$uri" ]; then
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i !~ /^\[/) { if ($(i+1)=="bookworm") { print $i; exit } break } }' | head -n1)
fi
if [ -z "$uri" ]; then
  echo "apt-backports: no bookworm entry found in apt's sources to copy the mirror from" >&2
  exit 1
fi
echo "deb $uri bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
echo "apt-backports: added bookworm-backports from $uri" >&2
