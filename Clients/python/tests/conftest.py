"""Fixtures of the package's tests: live tensorwire-server processes (plain, TLS, mutual TLS, API keys), a
throwaway PKI made with the openssl CLI (as Tools/interop/tls.sh makes it), keys made with `tensorwire keys new` (as
Tools/interop/auth.sh does), and one local[2] SparkSession for every Spark test.

Binaries: TENSORWIRE_SERVER_BIN and TENSORWIRE_CLI_BIN, by default the debug builds of the repository holding this
folder (`swift build` first). Tools/interop/python-spark.sh runs these tests.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SERVER_BIN = os.environ.get("TENSORWIRE_SERVER_BIN", os.path.join(ROOT, ".build", "debug", "tensorwire-server"))
CLI_BIN = os.environ.get("TENSORWIRE_CLI_BIN", os.path.join(ROOT, ".build", "debug", "tensorwire"))
DIGITS_ONNX = os.path.join(ROOT, "Tests", "InferenceTests", "Fixtures", "digits.onnx")


@dataclass
class Server:
    """A running tensorwire-server: its address and log."""

    process: subprocess.Popen
    port: int
    log_path: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(*args: str, log_dir: str) -> Server:
    """Starts tensorwire-server on an ephemeral port with `args`; returns once it says where it listens."""
    if not os.access(SERVER_BIN, os.X_OK):
        pytest.skip(f"no server binary at {SERVER_BIN} (swift build, or set TENSORWIRE_SERVER_BIN)")
    log = tempfile.NamedTemporaryFile(prefix="server-", suffix=".log", dir=log_dir, delete=False)
    log_path = log.name
    process = subprocess.Popen([SERVER_BIN, "--port", "0", *args], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    for _ in range(600):  # up to 60 s: a loaded 2-core machine can be slow to start a debug build
        with open(log_path, encoding="utf-8", errors="replace") as f:
            found = re.search(r"listening on [^ ]*:(\d+)", f.read())
        if found:
            return Server(process, int(found.group(1)), log_path)
        if process.poll() is not None:
            raise RuntimeError(f"tensorwire-server exited during start-up:\n{open(log_path).read()}")
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"tensorwire-server did not say where it listens:\n{open(log_path).read()}")


@pytest.fixture(scope="session")
def workdir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="tensorwire-pytest-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def servers() -> Iterator[List[Server]]:
    """Every server a test started, stopped at the end of the session."""
    started: List[Server] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def model_repository(workdir: str) -> str:
    """A repository serving the digits fixture (the built-in model's ONNX file) as `digits`."""
    repo = os.path.join(workdir, "models")
    os.makedirs(os.path.join(repo, "digits", "1"), exist_ok=True)
    shutil.copy(DIGITS_ONNX, os.path.join(repo, "digits", "1", "model.onnx"))
    return repo


@pytest.fixture(scope="session")
def server(servers: List[Server], workdir: str, model_repository: str) -> Server:
    """A plaintext server on the digits fixture."""
    started = start_server("--models", model_repository, log_dir=workdir)
    servers.append(started)
    return started


@pytest.fixture(scope="session")
def pki(workdir: str) -> Dict[str, str]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as tls.sh makes them."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI")
    out = os.path.join(workdir, "pki")
    os.makedirs(out, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", f"{out}/ca.key", "-out", f"{out}/ca.pem", "-days", "2", "-subj",
        "/CN=Tensorwire Python CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, subject, extensions in (
            ("server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
            ("client", "/CN=python-client", "extendedKeyUsage=clientAuth\n")):
        with open(f"{out}/{name}.ext", "w") as f:
            f.write(extensions)
        run("req", *ec, "-keyout", f"{out}/{name}.key", "-out", f"{out}/{name}.csr", "-subj", subject)
        run("x509", "-req", "-in", f"{out}/{name}.csr", "-CA", f"{out}/ca.pem", "-CAkey", f"{out}/ca.key",
            "-CAcreateserial", "-out", f"{out}/{name}.pem", "-days", "2", "-extfile", f"{out}/{name}.ext")
    return {name: f"{out}/{name}" for name in ("ca", "server", "client")}


@pytest.fixture(scope="session")
def tls_server(servers: List[Server], workdir: str, pki: Dict[str, str], model_repository: str) -> Server:
    started = start_server("--models", model_repository, "--tls-cert", pki["server"] + ".pem",
                           "--tls-key", pki["server"] + ".key", log_dir=workdir)
    servers.append(started)
    return started


@pytest.fixture(scope="session")
def mtls_server(servers: List[Server], workdir: str, pki: Dict[str, str], model_repository: str) -> Server:
    started = start_server("--models", model_repository, "--tls-cert", pki["server"] + ".pem",
                           "--tls-key", pki["server"] + ".key", "--tls-client-ca", pki["ca"] + ".pem",
                           log_dir=workdir)
    servers.append(started)
    return started


@dataclass
class AuthServer:
    server: Server
    etl_key: str  # infer:digit*, read:*
    reader_key: str  # read:digits only


@pytest.fixture(scope="session")
def auth_server(servers: List[Server], workdir: str, model_repository: str) -> AuthServer:
    """A server with --auth-keys and two keys made by `tensorwire keys new`."""
    if not os.access(CLI_BIN, os.X_OK):
        pytest.skip(f"no CLI binary at {CLI_BIN} to make keys (swift build, or set TENSORWIRE_CLI_BIN)")
    keys, entries = {}, []
    for name, scopes in (("etl", ["infer:digit*", "read:*"]), ("reader", ["read:digits"])):
        args = [CLI_BIN, "keys", "new", name] + [a for s in scopes for a in ("--scope", s)]
        lines = subprocess.run(args, check=True, capture_output=True, text=True).stdout.splitlines()
        keys[name] = lines[0].rsplit(" ", 1)[1]
        entries.append(json.loads(lines[2]))
    path = os.path.join(workdir, "keys.json")
    with open(path, "w") as f:
        json.dump({"keys": entries}, f)
    started = start_server("--models", model_repository, "--auth-keys", path, log_dir=workdir)
    servers.append(started)
    return AuthServer(started, keys["etl"], keys["reader"])


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for every Spark test (JVM start-up is the slow part). Executors run this Python."""
    pyspark = pytest.importorskip("pyspark")
    del pyspark
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java (Tools/setup installs openjdk-17-jre-headless)")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession
    session = (SparkSession.builder.master("local[2]").appName("tensorwire-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.memory", "2g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def onnxruntime_session(path: str):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def env_flag(name: str) -> Optional[str]:
    return os.environ.get(name) or None
