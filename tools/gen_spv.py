#!/usr/bin/env python3
"""Prebuilt SPIR-V of the shader variants that need a newer glslang than the
build machine's glslc (build-time helper of backends/vulkan/meson.build).

An op file (shaders/<op>.comp) lists such variants in its host section, one
line each:
    P("<variant>", "<source>.comp", "<defines>")
Their SPIR-V lives in shaders/spv/<variant>.spv, beside <variant>.spv.src:
the SHA-256 of what produced it (the variant's name and defines, then the
source and every file it includes, by path and content) and the glslang that
compiled it. The build embeds the committed SPIR-V and first checks the hash,
so a source change without a new SPIR-V fails the build instead of shipping
stale code.

usage:
  gen_spv.py build GLSLANG SHADER_DIR CORE_DIR SPV_DIR OPFILE...
      compile every P line (glslang >= 15: GL_NV_cooperative_matrix2,
      GL_EXT_bfloat16; SPIR-V 1.6) and write the .spv and .spv.src files
  gen_spv.py check SHADER_DIR CORE_DIR SPV_DIR STAMP OPFILE...
      exit 1 naming each variant whose .spv.src does not match its sources;
      else touch STAMP
"""
import hashlib
import os
import re
import subprocess
import sys

LINE = re.compile(r'^\s*P\("([^"]+)",\s*"([^"]+)",\s*"([^"]*)"\)')
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def variants(opfiles):
    out = []
    for f in opfiles:
        with open(f) as fh:
            for line in fh:
                m = LINE.match(line)
                if m:
                    out.append(m.groups())
    return out


def closure(path, dirs, seen):
    """path and the files it includes, depth first, each once"""
    if path in seen:
        return []
    seen.add(path)
    with open(path, "rb") as fh:
        text = fh.read()
    files = [(path, text)]
    for inc in INCLUDE.findall(text.decode("utf-8", "replace")):
        for d in [os.path.dirname(path)] + dirs:
            cand = os.path.normpath(os.path.join(d, inc))
            if os.path.exists(cand):
                files += closure(cand, dirs, seen)
                break
        else:
            sys.exit("gen_spv.py: %s includes %s, not found" % (path, inc))
    return files


def digest(name, source, defines, shader_dir, core_dir):
    h = hashlib.sha256()
    h.update(("%s\0%s\0" % (name, defines)).encode())
    for path, text in closure(os.path.join(shader_dir, source), [shader_dir, core_dir], set()):
        h.update(os.path.basename(path).encode() + b"\0" + text + b"\0")
    return h.hexdigest()


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("build", "check"):
        sys.exit(__doc__)
    if sys.argv[1] == "build":
        glslang, shader_dir, core_dir, spv_dir = sys.argv[2:6]
        version = subprocess.run([glslang, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        for name, source, defines in variants(sys.argv[6:]):
            out = os.path.join(spv_dir, name + ".spv")
            cmd = [glslang, "-V", "--target-env", "vulkan1.3", "-S", "comp", "-DVOX_GLSL", "-I" + shader_dir,
                   "-I" + core_dir] + defines.split() + [os.path.join(shader_dir, source), "-o", out]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                sys.exit("gen_spv.py: %s failed:\n%s%s" % (name, r.stdout, r.stderr))
            with open(out + ".src", "w") as fh:
                fh.write("sha256 %s\n%s\n" % (digest(name, source, defines, shader_dir, core_dir), version.strip()))
            print("%s: %d bytes" % (out, os.path.getsize(out)))
        return
    shader_dir, core_dir, spv_dir, stamp = sys.argv[2:6]
    stale = []
    for name, source, defines in variants(sys.argv[6:]):
        src = os.path.join(spv_dir, name + ".spv.src")
        want = "sha256 " + digest(name, source, defines, shader_dir, core_dir)
        have = open(src).readline().strip() if os.path.exists(src) else "(missing)"
        if have != want or not os.path.exists(os.path.join(spv_dir, name + ".spv")):
            stale.append(name)
    if stale:
        sys.exit("gen_spv.py: the committed SPIR-V of %s does not match its sources; rebuild it with\n"
                 "  tools/gen_spv.py build <glslang >= 15> shaders core shaders/spv shaders/*.comp"
                 % ", ".join(stale))
    with open(stamp, "w") as fh:
        fh.write("ok\n")


if __name__ == "__main__":
    main()
