"""No leftovers after a hard exit: the children of an owner that leaves with
``os._exit`` (or is SIGKILLed) end and remove its ipc directories; the next btgym
start sweeps directories of owners that are gone."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest

from btgym.comm import endpoints
from tests.reliability.conftest import env_kwargs, pid_gone, wait_for

OWNER = textwrap.dedent(
    """
    import os, sys, btgym
    kw = eval(sys.argv[2])
    envs = [btgym.BTgymEnv(**kw) for _ in range(int(sys.argv[1]))]
    for env in envs[:2]:
        env.reset(seed=0)
    pids = [c.pid for c in __import__("psutil").Process().children(recursive=True)]
    print(os.getpid(), *pids, flush=True)
    sys.stdin.readline()     # the test has counted our ipc dirs (or kills us here)
    if sys.argv[3] == "exit":
        os._exit(0)          # no close(), no atexit, no finalizer
    """
)


def _owner_dirs(pid: int) -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), f"btgym-{pid}-*"))


def _run_owner(n: int, how: str) -> None:
    kw = env_kwargs()
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(n), repr(kw), how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().split()
    assert line, "the owner process did not start its envs"
    owner, children = int(line[0]), [int(p) for p in line[1:]]
    assert len(children) >= 2 * n  # a data server and an env server per env (+ forkserver)
    ipc = [d for d in _owner_dirs(owner) if "-mp-" not in d]
    assert len(ipc) == 2 * n  # one per server; "-mp-": the forkserver's listener
    # the owner waits for this line before leaving, so its children cannot have cleaned
    # up before the count above (they did, under load, when the owner left at once)
    if how == "kill":
        os.kill(owner, signal.SIGKILL)
    else:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    proc.wait(timeout=60)
    proc.stdin.close()
    proc.stdout.close()
    wait_for(lambda: all(pid_gone(p) for p in children), 30, "every child gone")
    wait_for(lambda: _owner_dirs(owner) == [], 30, "every ipc dir removed")


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_children_remove_their_owners_ipc_dirs_after_a_hard_exit(how):
    _run_owner(3, how)


@pytest.mark.slow
def test_fifty_unclosed_envs_and_os_exit_leave_nothing():
    _run_owner(50, "exit")


def test_the_next_start_sweeps_dirs_of_dead_owners():
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = tempfile.mkdtemp(prefix=f"btgym-{dead}-")
    open(os.path.join(stale, "data.sock"), "w").close()
    mine = tempfile.mkdtemp(prefix=f"btgym-{os.getpid()}-")  # a live owner's: kept
    try:
        assert stale in endpoints.sweep_stale()
        assert not os.path.exists(stale) and os.path.isdir(mine)
    finally:
        endpoints.cleanup(mine)
