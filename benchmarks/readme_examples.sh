#!/usr/bin/env bash
# Runs every capability example of the README once, in a scratch folder, and prints the wall
# time of each (the README's cost column). Uses the embedded model unless MODEL=... is set.
#   bash benchmarks/readme_examples.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
S="${SPACETIME:-$here/.venv/bin/spacetime}"
work=$(mktemp -d)
cd "$work"
model=(); [ -n "${MODEL:-}" ] && model=(--model "$MODEL")
extra=(); [ -n "${EXTRA:-}" ] && read -r -a extra <<<"$EXTRA"   # e.g. EXTRA="--steps 2" for a quick check
"$S" world render "a green triangle on a white background" --frames 1 --size 128x128 -o start.png >/dev/null
"$S" world render "a red circle moving right on a black background" --seconds 2 --size 128x128 --fps 8 -o a.mp4 >/dev/null
"$S" world render "a blue square moving down on a gray background" --seconds 2 --size 128x128 --fps 8 -o b.mp4 >/dev/null
run() {
    name=$1; shift
    start=$(date +%s%N)
    "$S" "$@" "${model[@]}" "${extra[@]}" --seed 1 --quiet 2>"$name.err" >/dev/null \
        || { echo "$name FAILED: $(tail -1 "$name.err")"; return; }
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '%-8s %4d.%01d s  %s\n' "$name" $((ms / 1000)) $((ms % 1000 / 100)) "$*"
}
run t2v generate "a red ball bounces on a checkered floor" -o t2v.mp4
run wide generate "two circles collide" --aspect 16:9 --short-side 128 -o wide.mp4
run image image "a large green triangle on a white background" --size 256x256 -o image.png
run animate animate start.png "the triangle spins" -o animate.mp4
run after extend a.mp4 --after 2 -o after.mp4
run both extend a.mp4 --before 1 --after 1 -o both.mp4
run loop loop "a cyan square orbits the centre" --seconds 4 -o loop.mp4
run connect connect a.mp4 b.mp4 --seconds 2 -o connect.mp4
run edit edit a.mp4 "a blue circle moving right" --strength 0.6 -o edit.mp4
run keys keyframes "a ball moves" --at start.png@0 --at start.png@-1f --seconds 4 -o keys.mp4
run long generate "a yellow circle moves left" --seconds 60 -o long.mp4
echo "outputs in $work"
