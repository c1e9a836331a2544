"""The hook contract is enforced by the compiler: a component (gdbstub/,
tracing/, guest-agent/) compiled with its real build rule cannot include a
kernel-internal header, while the kernel itself can.

The compile command is taken from `make -n` for a real object of each layer,
so the test checks the rule the build uses, not a copy of its flags.
"""

import shlex
import subprocess

from harness import run

# One real object per layer, and whether that layer may see kernel internals.
LAYERS = [
    ("gdbstub/guest/gdbx_uart.c", False),
    ("tracing/guest/trace.c", False),
    ("guest-agent/guest/httpd.c", False),
    ("kernel-hooks/core/klog.c", True),
]


def _compile_cmd(t, src):
    obj = f"{t.build}/guest/{src[:-2]}.o"
    out = run(["make", "-s", "-n", "-B", "V=1", f"O={t.build}", obj], cwd=t.root).stdout
    for line in out.splitlines():
        words = shlex.split(line)
        if words and words[0].endswith("gcc") and src in words and "-c" in words:
            return words
    raise AssertionError(f"no compile command for {src} in make -n output:\n{out}")


def _probe(t, cmd, src, header, tmp):
    probe = tmp / "probe.c"
    probe.write_text(f'#include "{header}"\nint uk_probe_symbol;\n')
    args = [w for w in cmd if w not in (src,)]
    i = args.index("-o")
    del args[i:i + 2]
    args = [a for a in args if a not in ("-c", "-MMD", "-MP")] + ["-fsyntax-only", str(probe)]
    return subprocess.run(args, cwd=t.root, capture_output=True, text=True)


def test_components_cannot_include_kernel_internals(t):
    tmp = t.tmpdir()
    for src, kernel in LAYERS:
        cmd = _compile_cmd(t, src)
        ok = _probe(t, cmd, src, "uk/thread.h", tmp)
        assert ok.returncode == 0, f"{src}: the hook contract must compile: {ok.stderr}"
        r = _probe(t, cmd, src, "core/kernel.h", tmp)
        if kernel:
            assert r.returncode == 0, f"{src}: the kernel must see its internals: {r.stderr}"
        else:
            assert r.returncode != 0 and "core/kernel.h" in r.stderr, \
                f"{src}: a component compiled core/kernel.h (layering not enforced)"
