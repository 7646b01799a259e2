#!/usr/bin/env bash
# Every benchmark, one after the other, in one run; each one's last-line JSON is collected
# into benchmarks/results/latest.jsonl beside the machine's details.
#   bash benchmarks/run_all.sh            (about 30 minutes on the 2-core CPU; needs '.[bench]')
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p benchmarks/results
out=benchmarks/results/latest.jsonl
: > "$out"
"$PY" - >>"$out" <<'PYEOF'
import json, os, platform, torch
print(json.dumps({"benchmark": "machine", "torch": torch.__version__, "python": platform.python_version(),
                  "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                  "threads": torch.get_num_threads(), "load_avg_1m": os.getloadavg()[0]}))
PYEOF
run() {
    name=$1; shift
    echo "== $name: $*" >&2
    log=benchmarks/results/$name.log
    "$PY" "$@" 2>&1 | tee "$log" >&2
    last=$(tail -n 1 "$log")
    "$PY" -c 'import json,sys; d=json.loads(sys.argv[2]); d["benchmark"]=sys.argv[1]; print(json.dumps(d))' \
        "$name" "$last" >>"$out" 2>/dev/null || echo "{\"benchmark\": \"$name\", \"error\": \"no JSON last line\"}" >>"$out"
}
run world_render benchmarks/world_render.py
run dit_vs_peer_fp32 benchmarks/dit_vs_peer.py
run dit_vs_peer_bf16 benchmarks/dit_vs_peer.py --dtype bf16
run vae_vs_peer benchmarks/vae_vs_peer.py ${VAE:+--vae "$VAE"}
run vae_memory benchmarks/vae_memory.py
run generate_speed benchmarks/generate_speed.py
run long_video benchmarks/long_video.py
run train_throughput benchmarks/train_throughput.py
run heldout_loss benchmarks/heldout_loss.py
echo "results: $out" >&2
