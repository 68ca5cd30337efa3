#!/usr/bin/env bash
# Regenerates the sample talk in media/sample/, which the media tests and the
# end-to-end tests serve and `api demo` embeds: talk.webm (about 20 s of
# espeak-ng speech, mono 16 kHz opus at 16 kb/s, audio only) and talk.en.vtt,
# whose cues match the timing of each spoken sentence.
#
# Requires espeak-ng, ffmpeg and ffprobe. Output is deterministic for a given
# espeak-ng/ffmpeg version, so the files are committed and this script only
# needs to run when they must change.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/media/sample"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

sentences=(
  "Welcome to the Recap test video. Today we talk about compact summaries."
  "First, subtitles are parsed into segments with precise timestamps."
  "Finally, long recordings are split at silences and transcribed in parallel."
)
gap=1.5   # seconds of silence before each sentence and at the end

ffmpeg -nostdin -loglevel error -f lavfi -i "anullsrc=r=16000:cl=mono" -t "$gap" -c:a pcm_s16le "$work/gap.wav"

list="$work/list.txt"
: >"$list"
vtt="$out/talk.en.vtt"
printf 'WEBVTT\n\n' >"$vtt"

fmt() { # seconds -> HH:MM:SS.mmm
  awk -v s="$1" 'BEGIN { ms = int(s * 1000 + 0.5); h = int(ms / 3600000); ms -= h * 3600000; m = int(ms / 60000); ms -= m * 60000; printf "%02d:%02d:%06.3f", h, m, ms / 1000 }'
}

t=0
i=0
for s in "${sentences[@]}"; do
  i=$((i + 1))
  espeak-ng -v en-us -s 150 -w "$work/raw$i.wav" "$s"
  ffmpeg -nostdin -loglevel error -i "$work/raw$i.wav" -ac 1 -ar 16000 -c:a pcm_s16le "$work/s$i.wav"
  d="$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$work/s$i.wav")"
  start="$(awk -v a="$t" -v g="$gap" 'BEGIN { print a + g }')"
  end="$(awk -v a="$start" -v d="$d" 'BEGIN { print a + d }')"
  printf '%d\n%s --> %s\n%s\n\n' "$i" "$(fmt "$start")" "$(fmt "$end")" "$s" >>"$vtt"
  printf "file '%s'\nfile '%s'\n" "$work/gap.wav" "$work/s$i.wav" >>"$list"
  t="$end"
done
printf "file '%s'\n" "$work/gap.wav" >>"$list"

ffmpeg -nostdin -loglevel error -y -f concat -safe 0 -i "$list" \
  -vn -ac 1 -ar 16000 -c:a libopus -b:a 16k -application voip \
  -map_metadata -1 -fflags +bitexact -flags:a +bitexact \
  "$out/talk.webm"

ls -l "$out/talk.webm" "$vtt"
