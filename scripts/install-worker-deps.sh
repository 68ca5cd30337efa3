#!/usr/bin/env bash
# Installs what the worker runs on Debian bookworm: ffmpeg and ffprobe,
# yt-dlp from bookworm-backports (Debian 12's own is too old for today's
# sites), Node.js as yt-dlp's JavaScript runtime, CA certificates, and tini
# (the image's init: it reaps the processes yt-dlp leaves behind).
#
# The worker image runs this script (Dockerfile, target worker) and so does
# .ci/run, so the tests run against what the image holds.
#
#   YTDLP_VERSION  Debian version of yt-dlp to install from bookworm-backports,
#                  e.g. 2025.04.30-1~bpo12+1 (`apt-cache policy yt-dlp` lists
#                  them); empty installs the newest. The image pins it with a
#                  build argument: docker build --build-arg YTDLP_VERSION=…
#   APT_CLEAN=1    remove apt's lists and caches afterwards (images).
#
# No package mirror is named here: bookworm-backports comes from the
# machine's own apt sources (scripts/apt-backports.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

$sudo "$here/apt-backports.sh"
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends ca-certificates ffmpeg nodejs tini
ytdlp="yt-dlp"
if [ -n "${YTDLP_VERSION:-}" ]; then
  ytdlp="yt-dlp=${YTDLP_VERSION}"
fi
if ! $sudo apt-get install -y -q --no-install-recommends --allow-downgrades -t bookworm-backports "$ytdlp"; then
  echo "install-worker-deps: cannot install $ytdlp from bookworm-backports;" >&2
  echo "  versions on offer: $(apt-cache madison yt-dlp | awk '{print $3}' | paste -sd' ')" >&2
  echo "  bump YTDLP_VERSION (build argument of the worker image) to one of them" >&2
  exit 1
fi

# What the worker needs, checked the way it will call it.
installed="$(dpkg-query -W -f='${Version}' yt-dlp)"
if [ -n "${YTDLP_VERSION:-}" ] && [ "$installed" != "$YTDLP_VERSION" ]; then
  echo "install-worker-deps: yt-dlp $installed installed, $YTDLP_VERSION asked for" >&2
  exit 1
fi
echo "yt-dlp $(yt-dlp --version) (Debian $installed)"
ffmpeg -hide_banner -version | head -n1
ffprobe -hide_banner -version | head -n1
echo "node $(node --version)"
command -v tini >/dev/null

if [ "${APT_CLEAN:-0}" = 1 ]; then
  $sudo apt-get clean
  $sudo rm -rf /var/lib/apt/lists/*
fi
