#!/bin/sh
# Session 49, call b (main: build-old): issue 16's table (hunyuan-720p dense / BSA 10% and 25% at keep 1, 0.5, 0.25 / SVG forwards,
# masks exported) and perf/baselines.py (cuDNN, flash, flex_attention on those masks) right after, same machine.
. tools/gpu_call.sh
timeout 200 build-old/cli/voxattn bench --device cuda:0 --preset $H --mode dense,bsa,svg --density 0.1,0.25 \
  --keep 1,0.5,0.25 --json "$L/fwd.json" --csv "$L/fwd.csv" --export-mask /tmp/masks >"$L/fwd.txt" 2>"$L/fwd.err"
echo "fwd rc=$? $(el)" >>"$S"; grep -E "TFLOP" "$L/fwd.txt" | cut -c1-150 >>"$S"
timeout 280 python3 perf/baselines.py --masks /tmp/masks --bench "$L/fwd.json" --json "$L/torch.json" \
  >"$L/baselines.txt" 2>&1
echo "baselines rc=$? $(el)" >>"$S"; tail -14 "$L/baselines.txt" | cut -c1-150 >>"$S"
python3 perf/report.py "$L/fwd.json" "$L/torch.json" --out "$L/table.md" >>"$L/report.txt" 2>&1
cat "$L/table.md" >>"$S" 2>/dev/null
gpu_call_end
