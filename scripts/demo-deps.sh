#!/usr/bin/env bash
# Installs what `make demo` needs and is missing: yt-dlp, ffmpeg/ffprobe and
# the PostgreSQL server binaries (dev mode runs a private cluster from them;
# Redis is embedded). Debian and Ubuntu get them from apt (yt-dlp from
# trixie-backports on Debian 12 and 13, whose own yt-dlp is too old for
# today's sites); macOS users get the brew line. Nothing is downloaded outside the
# system's package manager.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1 && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
  compgen -G '/opt/homebrew/opt/postgresql@*/bin/initdb' >/dev/null && return 0
  compgen -G '/usr/local/opt/postgresql@*/bin/initdb' >/dev/null && return 0
  return 1
}

missing=()
command -v yt-dlp >/dev/null 2>&1 || missing+=(yt-dlp)
{ command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; } || missing+=(ffmpeg)
have_pg || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

case "$(uname -s)" in
Darwin)
  brew=()
  for p in "${missing[@]}"; do
    case $p in postgresql) brew+=(postgresql@16) ;; *) brew+=("$p") ;; esac
  done
  echo "make demo needs: ${missing[*]}. Install them with:" >&2
  echo "  brew install ${brew[*]}" >&2
  exit 1
  ;;
Linux)
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "make demo needs: ${missing[*]} (yt-dlp, ffmpeg and the PostgreSQL server from your package manager)" >&2
    exit 1
  fi
  ;;
*)
  echo "make demo needs: ${missing[*]}" >&2
  exit 1
  ;;
esac

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
. /etc/os-release
echo "Installing ${missing[*]} with apt-get…" >&2
if [[ " ${missing[*]} " == *" yt-dlp "* ]] && [ "${ID:-}" = debian ] && { [ "${VERSION_CODENAME:-}" = bookworm ] || [ "${VERSION_CODENAME:-}" = trixie ]; }; then
  # trixie-backports' yt-dlp, pinned to that one package (apt-backports.sh).
  $sudo "$(dirname "$0")/apt-backports.sh"
  $sudo apt-get update -q
  $sudo apt-get install -y -q yt-dlp
  rest=()
  for p in "${missing[@]}"; do [ "$p" = yt-dlp ] || rest+=("$p"); done
  missing=("${rest[@]}")
else
  $sudo apt-get update -q
fi
if [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get install -y -q "${missing[@]}"
fi
