#!/bin/sh
# Session 49, call c (main: build-old): issue 16's other rows: wan-14b-720p dense / BSA 10% and 25% and
# hunyuan-720p BSA 10% with blocks 4,4,8 (masks exported), then perf/baselines.py on the same machine.
. tools/gpu_call.sh
timeout 150 build-old/cli/voxattn bench --device cuda:0 --preset wan-14b-720p --mode dense,bsa --density 0.1,0.25 \
  --json "$L/fwd14.json" --export-mask /tmp/m14 >"$L/fwd14.txt" 2>"$L/fwd14.err"
echo "fwd14 rc=$? $(el)" >>"$S"
timeout 60 build-old/cli/voxattn bench --device cuda:0 --preset $H --block 4,4,8 --mode bsa --density 0.1 \
  --json "$L/fwd448.json" --export-mask /tmp/m448 >"$L/fwd448.txt" 2>"$L/fwd448.err"
echo "fwd448 rc=$? $(el)" >>"$S"
timeout 200 python3 perf/baselines.py --masks /tmp/m14 --bench "$L/fwd14.json" --json "$L/torch14.json" \
  >"$L/baselines14.txt" 2>&1
echo "baselines14 rc=$? $(el)" >>"$S"
python3 perf/report.py "$L/fwd14.json" "$L/torch14.json" --out "$L/table14.md" >>"$L/report.txt" 2>&1
python3 perf/report.py "$L/fwd448.json" --out "$L/table448.md" >>"$L/report.txt" 2>&1
cat "$L/table14.md" "$L/table448.md" >>"$S" 2>/dev/null
gpu_call_end
