#!/usr/bin/env bash
# Installs what `make test` needs and is missing; does nothing (quickly)
# when everything is there. Like scripts/demo-deps.sh: the system's package
# manager only, `sudo` when not root, the brew line on macOS.
#
#   - the worker's tools, as the worker image has them: ffmpeg/ffprobe,
#     yt-dlp and deno at the Dockerfile's YTDLP_VERSION and DENO_VERSION,
#     installed by scripts/install-worker-deps.sh (Debian 12 and 13; other
#     apt systems get their own ffmpeg and yt-dlp);
#   - espeak-ng (speech fixtures), the PostgreSQL server binaries (private
#     clusters: cmd/testenv, dev mode's tests), redis-server (cmd/testenv,
#     the Redis Sentinel/Cluster tests), promtool (from Debian's prometheus
#     package, whose service is then disabled), Chromium (web/), Node.js
#     and npm;
#   - clients/node's packages (`npm ci`, again only when package-lock.json
#     changed since the last install).
#
# It waits for another apt or dpkg run to finish rather than failing.
# Go itself is not installed here.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."

say() { echo "test-deps: $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
have_pg() {
  have initdb && have postgres && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
  compgen -G '/opt/homebrew/opt/postgresql@*/bin/initdb' >/dev/null && return 0
  compgen -G '/usr/local/opt/postgresql@*/bin/initdb' >/dev/null && return 0
  return 1
}
pinned() { sed -n "s/^ARG $1=//p" Dockerfile; }

if ! have go; then
  say "Go is not installed (https://go.dev/doc/install); the version go.mod names or newer"
  exit 1
fi

os="$(uname -s)"
# Debian 12 and 13: the worker image's installer applies (trixie-backports).
debian_worker=0
if [ "$os" = Linux ] && [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  . /etc/os-release
  if [ "${ID:-}" = debian ] && { [ "${VERSION_CODENAME:-}" = bookworm ] || [ "${VERSION_CODENAME:-}" = trixie ]; }; then
    debian_worker=1
  fi
fi
ytdlp_pin="$(pinned YTDLP_VERSION)"
deno_pin="$(pinned DENO_VERSION)"

# The worker's tools; on Debian 12/13 at the image's versions.
worker_ok() {
  have ffmpeg && have ffprobe && have yt-dlp && have deno || return 1
  if [ "$debian_worker" = 1 ]; then
    have tini || return 1
    [ "$(dpkg-query -W -f='${Version}' yt-dlp 2>/dev/null)" = "$ytdlp_pin" ] || return 1
    deno --version 2>/dev/null | head -n1 | grep -q "^deno ${deno_pin} " || return 1
  fi
  return 0
}

worker=0
worker_ok || worker=1
missing=()
have espeak-ng || missing+=(espeak-ng)
have_pg || missing+=(postgresql)
have redis-server || missing+=(redis-server)
have promtool || missing+=(prometheus)
if [ "$os" = Linux ]; then
  # web/browser_test.go drives /usr/bin/chromium (Debian's package).
  [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
have node || missing+=(nodejs)
have npm || missing+=(npm)

if [ "$worker" = 1 ] || [ ${#missing[@]} -gt 0 ]; then
  case "$os" in
  Darwin)
    # (macOS's bash 3.2: no empty arrays under set -u.)
    brew=""
    [ "$worker" = 0 ] || brew="yt-dlp ffmpeg deno"
    for p in ${missing[@]+"${missing[@]}"}; do
      case $p in
      postgresql) brew="$brew postgresql@16" ;;
      redis-server) brew="$brew redis" ;;
      nodejs | npm) [[ " $brew " == *" node "* ]] || brew="$brew node" ;;
      *) brew="$brew $p" ;;
      esac
    done
    brew="${brew# }"
    echo "make test needs: $brew. Install them with:" >&2
    echo "  brew install $brew" >&2
    exit 1
    ;;
  Linux)
    if ! have apt-get; then
      need="${missing[*]-}"
      [ "$worker" = 0 ] || need="ffmpeg yt-dlp deno $need"
      say "make test needs: $need (from your package manager; promtool is in prometheus)"
      exit 1
    fi
    ;;
  *)
    need="${missing[*]-}"
    [ "$worker" = 0 ] || need="ffmpeg yt-dlp deno $need"
    say "make test needs: $need"
    exit 1
    ;;
  esac

  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! have sudo; then
      say "installing ${missing[*]} needs root: run as root, or install sudo"
      exit 1
    fi
    sudo="sudo"
  fi
  # Another apt or dpkg run (unattended-upgrades, a provisioning script)
  # holds the locks: wait for it, then let apt wait for any straggler.
  wait_apt() {
    have pgrep || return 0
    local n=0
    while pgrep -x apt-get >/dev/null || pgrep -x apt >/dev/null || pgrep -x dpkg >/dev/null ||
      pgrep -f unattended-upgr >/dev/null; do
      [ "$n" -eq 0 ] && say "waiting for another apt/dpkg run to finish…"
      n=$((n + 1))
      if [ "$n" -ge 1800 ]; then
        say "apt or dpkg still busy after 30 minutes"
        return 1
      fi
      sleep 1
    done
  }
  aptconf="$(mktemp)"
  trap 'rm -f "$aptconf"' EXIT
  chmod 644 "$aptconf"
  echo 'DPkg::Lock::Timeout "600";' >"$aptconf"
  asroot() { $sudo env DEBIAN_FRONTEND=noninteractive APT_CONFIG="$aptconf" "$@"; }

  updated=0
  if [ "$worker" = 1 ]; then
    if [ "$debian_worker" = 1 ]; then
      say "installing the worker's tools (yt-dlp $ytdlp_pin, deno $deno_pin, ffmpeg) with scripts/install-worker-deps.sh…"
      wait_apt
      asroot YTDLP_VERSION="$ytdlp_pin" DENO_VERSION="$deno_pin" "$here/install-worker-deps.sh"
      updated=1
    else
      # Not Debian 12/13: the system's own ffmpeg and yt-dlp (deno, for
      # YouTube and media's JS runtime test, is npm's `deno` package).
      have ffmpeg && have ffprobe || missing+=(ffmpeg)
      have yt-dlp || missing+=(yt-dlp)
      have deno || say "deno is missing: media's JavaScript-runtime test fails without it (npm install -g deno@$deno_pin)"
    fi
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} with apt-get…"
    wait_apt
    if [ "$updated" = 0 ]; then
      asroot apt-get update -q
    fi
    rest=()
    for p in "${missing[@]}"; do [ "$p" = prometheus ] || rest+=("$p"); done
    if [ ${#rest[@]} -gt 0 ]; then
      asroot apt-get install -y -q "${rest[@]}"
    fi
    if [[ " ${missing[*]} " == *" prometheus "* ]]; then
      # Only its promtool is wanted; not its server.
      asroot apt-get install -y -q --no-install-recommends prometheus
      if have systemctl && systemctl is-active --quiet prometheus 2>/dev/null; then
        $sudo systemctl disable --now prometheus
      fi
    fi
  fi
fi

# clients/node: the client libraries app/nodeclients_test.go drives, at
# package-lock.json's versions; reinstalled when that file changes.
stamp=clients/node/node_modules/.recap-package-lock.json
if ! cmp -s clients/node/package-lock.json "$stamp"; then
  say "npm ci in clients/node…"
  (cd clients/node && npm ci --no-audit --no-fund)
  cp clients/node/package-lock.json "$stamp"
fi
