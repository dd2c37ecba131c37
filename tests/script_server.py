"""``python <script> <args>`` for the many one-line-error tests, without paying Python's
start-up each time.

Each such test runs a script that fails within a second of its start, yet a fresh
``python train.py`` spends 4-5 s importing torch, Hydra and scikit-learn first, and
the error tests start about thirty of them. A :class:`ScriptServer` is one process
that imports what the scripts import, once; for each run it forks a child, which
runs the script as ``__main__`` (``runpy``, as ``python <script>`` does) with its
own arguments, working directory, stdout and stderr, and exits with the script's
status. What the tests check (the exit status, every line on stderr, the files
left behind) is then the script's own, from its own process; only the imports are
done before the fork instead of after.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

SERVER = r"""
import atexit, json, os, runpy, sys, threading, traceback
sys.path.insert(0, os.getcwd())  # the repo root: what `python <script>` puts first
import evaluate, sample, train  # noqa: F401  (their imports: torch, Hydra, the zoo)
import engine.run  # noqa: F401
import torch._dynamo  # noqa: F401  (what a run's first optimizer imports: ~1 s)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:  # the child: the script, as `python <script> <args>` would run it
        code = 1
        try:
            os.chdir(job["cwd"])
            os.environ.update(job["env"])
            # what the interpreter makes of a PYTHONPATH given for this run: its folders
            # after the script's own (only the server's environment was read at start)
            extra = job["env"].get("PYTHONPATH", "")
            sys.path[1:1] = [os.path.abspath(p) for p in extra.split(os.pathsep) if p]
            for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            sys.stdin = open(os.devnull)
            sys.argv = [job["script"], *job["args"]]
            sys.path[0] = os.path.dirname(job["script"])
            try:
                runpy.run_path(job["script"], run_name="__main__")
                code = 0
            except SystemExit as e:  # what the interpreter does with it
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:
                    print(e.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
        finally:
            # What the interpreter does at exit: wait for the run's threads, then call
            # the exit handlers (joblib's stops its worker processes, which would
            # otherwise outlive the run by minutes; multiprocessing's releases its
            # semaphores).
            try:
                threading._shutdown()
                atexit._run_exitfuncs()
            except BaseException:
                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(status)), flush=True)
"""


class ScriptServer:
    """Runs ``python <root>/<script> <args>`` in forks of one process that has the
    scripts' imports done (the environment of :func:`conftest.run_script`)."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env
        self._tmp = tempfile.TemporaryDirectory(prefix="script-server-")
        self._start()

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: a hung run is killed with it
        )

    def run(
        self,
        script: str,
        *args: str,
        cwd: Path | None = None,
        timeout: float = 900,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess:
        """As :func:`conftest.run_script`: ``env`` is added to the server's environment
        for this run; the timeout catches a hang, not a slow machine (the server and the
        run are killed, and the next run starts a new one)."""
        out, err = Path(self._tmp.name, "stdout"), Path(self._tmp.name, "stderr")
        command = [sys.executable, str(self.root / script), *args]
        job = {
            "script": command[1],
            "args": list(args),
            "cwd": str(cwd or self.root),
            "env": env or {},
            "stdout": str(out),
            "stderr": str(err),
        }
        self._proc.stdin.write(json.dumps(job) + "\n")
        self._proc.stdin.flush()
        if not select.select([self._proc.stdout], [], [], timeout)[0]:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            self._start()
            raise subprocess.TimeoutExpired(command, timeout)
        reply = self._proc.stdout.readline()
        if not reply:
            raise RuntimeError(f"the script server ended (exit {self._proc.wait()})")
        return subprocess.CompletedProcess(
            command, json.loads(reply), out.read_text(), err.read_text()
        )

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait()
        self._tmp.cleanup()
