#!/usr/bin/env bash
# Installs what the worker runs, on Debian 13 (the worker image) or Debian
# 12 (CI machines): ffmpeg and ffprobe; yt-dlp from trixie-backports (pure
# Python, pinned so apt takes only it from there); deno, the JavaScript
# runtime yt-dlp needs for YouTube since 2025.11, from the npm registry;
# CA certificates; and tini (the image's init: it reaps what yt-dlp leaves
# behind).
#
# The worker image runs this script (Dockerfile, target worker) and so does
# .ci/run, so the tests run against what the image holds.
#
#   YTDLP_VERSION  Debian version of yt-dlp from trixie-backports, e.g.
#                  2026.11.23-1~bpo13+1 (`apt-cache policy yt-dlp` lists
#                  them); empty installs the newest. The image pins it with
#                  a build argument: docker build --build-arg YTDLP_VERSION=…
#   DENO_VERSION   version of the npm package deno (it ships the binary),
#                  e.g. 2.9.6; empty installs the newest. Build argument
#                  DENO_VERSION in the image.
#   DENO_PREFIX    where deno is installed (default /opt/deno); the binary
#                  is linked as /usr/local/bin/deno.
#   APT_CLEAN=1    remove apt's lists and caches afterwards, and npm when
#                  this script installed it only to fetch deno (images).
#
# No package mirror or registry host is named here: trixie-backports comes
# from the machine's own apt sources (scripts/apt-backports.sh) and deno
# through npm's configured registry.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi

$sudo "$here/apt-backports.sh"
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends ca-certificates ffmpeg tini python3
ytdlp="yt-dlp"
if [ -n "${YTDLP_VERSION:-}" ]; then
  ytdlp="yt-dlp=${YTDLP_VERSION}"
fi
if ! $sudo apt-get install -y -q --no-install-recommends --allow-downgrades "$ytdlp"; then
  echo "install-worker-deps: cannot install $ytdlp;" >&2
  echo "  versions on offer: $(apt-cache madison yt-dlp | awk '{print $3}' | paste -sd' ')" >&2
  echo "  bump YTDLP_VERSION (build argument of the worker image) to one of them" >&2
  exit 1
fi
installed="$(dpkg-query -W -f='${Version}' yt-dlp)"
if [ -n "${YTDLP_VERSION:-}" ] && [ "$installed" != "$YTDLP_VERSION" ]; then
  echo "install-worker-deps: yt-dlp $installed installed, $YTDLP_VERSION asked for" >&2
  exit 1
fi

# deno from the npm registry: the package's optional dependency for this
# platform (@deno/linux-x64-glibc, …-arm64-glibc) holds the binary, so no
# install script has to run.
deno_prefix="${DENO_PREFIX:-/opt/deno}"
deno_pkg="deno"
if [ -n "${DENO_VERSION:-}" ]; then
  deno_pkg="deno@${DENO_VERSION}"
fi
npm_installed=0
if ! command -v npm >/dev/null 2>&1; then
  $sudo apt-get install -y -q --no-install-recommends npm
  npm_installed=1
fi
$sudo mkdir -p "$deno_prefix"
$sudo npm install --prefix "$deno_prefix" --no-save --no-audit --no-fund --omit=dev --ignore-scripts "$deno_pkg" >/dev/null
deno_bin="$(find "$deno_prefix/node_modules/@deno" -maxdepth 2 -type f -name deno -perm -u+x 2>/dev/null | head -n1)"
if [ -z "$deno_bin" ]; then
  echo "install-worker-deps: npm installed $deno_pkg but no deno binary for $(uname -m) under $deno_prefix/node_modules/@deno" >&2
  exit 1
fi
$sudo ln -sf "$deno_bin" /usr/local/bin/deno
if [ -n "${DENO_VERSION:-}" ] && ! /usr/local/bin/deno --version | head -n1 | grep -q "^deno ${DENO_VERSION} "; then
  echo "install-worker-deps: deno $(/usr/local/bin/deno --version | head -n1) installed, $DENO_VERSION asked for" >&2
  exit 1
fi

# What the worker needs, checked the way it will call it: yt-dlp must list
# deno as its runtime without "(unsupported)".
echo "yt-dlp $(yt-dlp --version) (Debian $installed)"
runtimes="$(yt-dlp -v --ignore-config --no-js-runtimes --js-runtimes deno:/usr/local/bin/deno 2>&1 | sed -n 's/^\[debug\] JS runtimes: //p' || true)"
echo "JS runtimes: $runtimes"
case "$runtimes" in
deno-*) ;;
*)
  echo "install-worker-deps: yt-dlp does not accept /usr/local/bin/deno as its JavaScript runtime (it says: ${runtimes:-nothing})" >&2
  exit 1
  ;;
esac
if [[ "$runtimes" == *unsupported* ]]; then
  echo "install-worker-deps: yt-dlp marks the runtime unsupported: $runtimes" >&2
  exit 1
fi
ffmpeg -hide_banner -version | head -n1
ffprobe -hide_banner -version | head -n1
command -v tini >/dev/null

if [ "${APT_CLEAN:-0}" = 1 ]; then
  if [ "$npm_installed" = 1 ]; then
    $sudo apt-get purge -y -q --auto-remove npm
  fi
  $sudo rm -rf /root/.npm
  $sudo apt-get clean
  $sudo rm -rf /var/lib/apt/lists/*
fi
