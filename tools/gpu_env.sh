# Sourced (sh) on the GPU machine, from the checkout's root, by tools/gpu_session.sh and by a call's own script
# (through tools/gpu_call.sh): makes the bare machine run voxattn's GPU backends. Runs .gpu/prepare.sh (the
# shared gpu folder's Vulkan loader, OpenCL ICD loader and cmocka; its output to $1, default /dev/null), unpacks
# .gl/'s libglvnd into / (NVIDIA's Vulkan ICD, libGLX_nvidia, needs it) and the X11 client libraries it pulls
# aside into /tmp/glx, and exports LD_LIBRARY_PATH and VK_DRIVER_FILES (NVIDIA's ICD where the variable is unset).
# .gpu/ and .gl/ are ignored by git and named in the call's carry; .gl/ is made on the CPU machine by
#   mkdir .gl && cd .gl && apt-get download libglvnd0 libglx0 libegl1 libopengl0 libgl1 libgles2 \
#     libx11-6 libx11-data libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0
# (rename the files whose names hold '%3a'). Also defines build_ms LOG: a `voxattn bench --build-only` log's
# builds on one line, each mask's label (SVG for the SVG build) and ms.
sh .gpu/prepare.sh >"${1:-/dev/null}" 2>&1
if [ -d .gl ]; then
  for f in .gl/libglvnd0_* .gl/libglx0_* .gl/libegl1_* .gl/libopengl0_* .gl/libgl1_* .gl/libgles2_*; do dpkg -x "$f" /; done
  mkdir -p /tmp/glx && for f in .gl/libx* .gl/libbsd0_* .gl/libmd0_*; do dpkg -x "$f" /tmp/glx; done
  ldconfig
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/tmp/glx/usr/lib/x86_64-linux-gnu"
fi
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-}
[ -z "$VK_DRIVER_FILES" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
build_ms() {
  grep -E '^bench: .* build [0-9.]+ ms' "$1" |
    sed -E 's/ svg +density/ svg SVG density/; s/.*(bsa|svg) +([^ ]*) .* build ([0-9.]+) ms/\2 \3/' | tr '\n' ' '
}
