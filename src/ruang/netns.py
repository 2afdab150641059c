"""Run a command inside a private network namespace with a non-loopback interface.

Janus will not gather ICE candidates on loopback and aioice drops 127.0.0.1, so media tests and
benchmarks run in a namespace of their own: ``lo`` up plus a veth pair whose both ends live in
that namespace, one of them addressed ``10.210.0.1/24``. Traffic never leaves the namespace.
``unshare -n`` needs root; otherwise ``unshare -rn`` (a user namespace) is tried.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

ADDRESS = "10.210.0.1"
INTERFACE = "rv0"
ENV_MARK = "RUANG_IN_NETNS"

_SETUP = (
    "set -e; ip link set lo up; "
    f"ip link add {INTERFACE} type veth peer name rv1; "
    f"ip addr add {ADDRESS}/24 dev {INTERFACE}; "
    f"ip link set {INTERFACE} up; ip link set rv1 up; "
    'exec "$@"'
)


class NetnsUnavailable(RuntimeError):
    """This machine cannot make a private network namespace for us."""


def inside() -> bool:
    return os.environ.get(ENV_MARK) == "1"


def unshare_prefix() -> list[str]:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise NetnsUnavailable("`unshare` (util-linux) and `ip` (iproute2) are required")
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True, check=False)
        if probe.returncode == 0:
            return prefix
    raise NetnsUnavailable("cannot create a network namespace here: run as root, or enable "
                           "unprivileged user namespaces (kernel.unprivileged_userns_clone=1)")


def wrap(argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside a fresh private namespace."""
    return [*unshare_prefix(), "sh", "-c", _SETUP, "ruang-netns", *argv]


def run(argv: Sequence[str], *, env: dict[str, str] | None = None) -> int:
    full_env = dict(os.environ if env is None else env)
    full_env[ENV_MARK] = "1"
    return subprocess.call(wrap(argv), env=full_env)


def reexec_inside() -> None:
    """Re-run this Python process (same argv) inside a private namespace; never returns."""
    code = run([sys.executable, *sys.argv])
    raise SystemExit(code)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: python -m ruang.netns COMMAND [ARG...]", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run(sys.argv[1:]))
