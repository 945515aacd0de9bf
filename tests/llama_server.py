"""llama.cpp's llama-server as a test runs it: the merge's printed command on a free loopback port.

The caller registers ``stop`` as a finalizer right after ``start``, so the process ends with the test
even when it never becomes ready.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.fixtures_training import llama_cpp_dir
from training import merge

NOT_BUILT = "llama-server is not built: run `make llama-tools` (BUILD_SERVER=1 scripts/get_llama_cpp.sh)"


def server_binary() -> Path | None:
    """The llama-server binary the merge would name (PATH, else LLAMA_CPP_DIR/build/bin), or None."""
    return merge.built_tool("llama-server", llama_cpp_dir())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_option(argv: list[str], option: str, value: str) -> list[str]:
    """argv with ``option``'s value replaced (or the option appended)."""
    argv = list(argv)
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    return argv


class LlamaServer:
    """One llama-server process; ``post`` and ``get`` return (HTTP status, parsed JSON body)."""

    def __init__(self, argv: list[str], log_path: Path, threads: int = 2):
        self.port = free_port()
        self.argv = with_option(with_option(argv, "--port", str(self.port)), "--threads", str(threads))
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> LlamaServer:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float = 120) -> LlamaServer:
        """Until GET /health answers 200 (503 while the model loads); a server that exits says why."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if self.get("/health")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"llama-server not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def _call(self, request: urllib.request.Request, timeout: float) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                return exc.code, json.loads(body)
            except ValueError:
                return exc.code, {"raw": body.decode(errors="replace")}

    def get(self, path: str, timeout: float = 5) -> tuple[int, dict]:
        return self._call(urllib.request.Request(self.base_url + path), timeout)

    def post(self, path: str, body: dict, timeout: float = 120) -> tuple[int, dict]:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        return self._call(request, timeout)
