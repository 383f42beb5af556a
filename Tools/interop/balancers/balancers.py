"""Replicas and load balancers on loopback, shared by Tools/interop/balancers/balancers_check.py (the interop test)
and Tools/bench/scaleout_bench.py (the scaling curve).

  Replica       one tensorwire-server process whose port stays the same across restarts
  render        a deploy/ balancer file with its `# replica` and `# listen` lines re-pointed at loopback
  Nginx, HAProxy  the balancers, run from deploy/nginx/tensorwire.conf and deploy/haproxy/tensorwire.cfg as
                processes of the caller on free loopback ports (never a system service)

Failures raise BalancerError with what went wrong; the callers report it.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import grpc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


class BalancerError(Exception):
    """A replica or a balancer did not start, stop or become ready as expected."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what, seconds=20.0):
    """Re-checks condition until it is true; the limit only turns a hang into a failure."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise BalancerError("timed out waiting for " + what)


def connects(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Replica:
    """One tensorwire-server process (the built-in digits model unless args say otherwise); its port stays the same
    across restarts, so a balancer's configuration keeps pointing at it."""

    def __init__(self, binary, workdir, index, args=()):
        self.binary, self.index, self.args = binary, index, list(args)
        self.log_path = os.path.join(workdir, "replica%d.log" % index)
        self.port, self.process = 0, None

    def start(self, prefix=()):
        with open(self.log_path, "a") as log:
            offset = log.tell()
            self.process = subprocess.Popen(list(prefix) + [self.binary, "--port", str(self.port)] + self.args,
                                            stdout=log, stderr=subprocess.STDOUT)
        pattern = re.compile(r"listening on [\d.]+:(\d+)")

        def listening():
            if self.process.poll() is not None:
                with open(self.log_path) as f:
                    raise BalancerError("replica %d exited during start-up:\n%s" % (self.index, f.read()[offset:]))
            with open(self.log_path) as f:
                f.seek(offset)
                match = pattern.search(f.read())
            if match:
                self.port = int(match.group(1))
            return bool(match)
        wait_for(listening, "replica %d to listen" % self.index)
        wait_for(self.ready, "replica %d to be ready" % self.index)

    def ready(self):
        """grpc.health.v1 Check of the whole server answers SERVING."""
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        try:
            with grpc.insecure_channel("127.0.0.1:%d" % self.port) as channel:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
                return answer.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.RpcError:
            return False

    def terminate(self, seconds=30):
        """SIGTERM, then the exit status (a drain ends with 0)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=seconds)

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def render(template_path, out_path, replicas, grpc_port, http_port, extra_global=""):
    """The deploy/ file with each group of `# replica` lines replaced by one line per replica (same options, the
    replica's loopback address, and for HAProxy its own server name) and each `# listen` line bound to a loopback
    port (the first to grpc_port, the second to http_port); extra_global goes after a `global` line."""
    out, listens = [], iter([grpc_port, http_port])
    in_group = False
    with open(template_path) as f:
        lines = f.read().splitlines()
    for line in lines:
        if line.rstrip().endswith("# replica"):
            if not in_group:
                for replica in replicas:
                    rendered = re.sub(r"\b[\d.]+:\d+\b", "127.0.0.1:%d" % replica.port, line, count=1)
                    rendered = re.sub(r"\bserver r\d+\b", "server r%d" % (replica.index + 1), rendered)
                    out.append(rendered)
            in_group = True
            continue
        in_group = False
        if line.rstrip().endswith("# listen"):
            line = re.sub(r"(listen|bind) :?\d+", r"\1 127.0.0.1:%d" % next(listens), line)
        out.append(line)
        if extra_global and line.strip() == "global":
            out.append(extra_global)
    with open(out_path, "w") as f:
        f.write("\n".join(out) + "\n")


class Balancer:
    """A balancer process in front of replicas: grpc_port (gRPC, HTTP/2) and http_port (REST, HTTP/1.1)."""
    name = ""

    def wait_listening(self):
        wait_for(lambda: connects(self.grpc_port), "%s to listen" % self.name)

    def wait_replicas_up(self, replicas):
        """Until the balancer's own health checks see every replica up (nginx has none: nothing to wait for)."""

    def stop(self, stop_signal):
        self.process.send_signal(stop_signal)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Nginx(Balancer):
    """nginx with deploy/nginx/tensorwire.conf included from a main configuration whose paths are all under
    workdir; worker_processes as given (Debian's default nginx.conf says auto)."""
    name = "nginx"

    def __init__(self, workdir, replicas, workers=1, prefix=()):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.grpc_port, self.http_port = free_port(), free_port()
        render(os.path.join(ROOT, "deploy", "nginx", "tensorwire.conf"), os.path.join(self.dir, "tensorwire.conf"),
               replicas, self.grpc_port, self.http_port)
        paths = "\n".join("    %s_temp_path %s/tmp;" % (kind, self.dir)
                          for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write("worker_processes %s;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
                    "events { worker_connections 4096; }\nhttp {\n    access_log off;\n%s\n    include %s/tensorwire.conf;\n}\n"
                    % (workers, self.dir, self.dir, paths, self.dir))
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        argv = [binary, "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"), "-e", os.path.join(self.dir, "error.log")]
        check = subprocess.run(argv + ["-t"], capture_output=True, text=True)
        if check.returncode != 0:
            raise BalancerError("nginx -t refused the rendered deploy/nginx/tensorwire.conf:\n" + check.stderr)
        self.process = subprocess.Popen(list(prefix) + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_listening()

    def stop(self):
        super().stop(signal.SIGQUIT)   # nginx's graceful stop


class HAProxy(Balancer):
    """HAProxy with deploy/haproxy/tensorwire.cfg, plus a runtime API socket (the test's addition) to read which
    replicas its health checks see as UP; nbthread as given (HAProxy's default: one per CPU)."""
    name = "haproxy"

    def __init__(self, workdir, replicas, threads=None, prefix=()):
        self.dir = os.path.join(workdir, "haproxy")
        os.makedirs(self.dir, exist_ok=True)
        self.grpc_port, self.http_port = free_port(), free_port()
        self.socket = os.path.join(self.dir, "admin.sock")
        config = os.path.join(self.dir, "tensorwire.cfg")
        extra = "    stats socket %s level admin" % self.socket
        if threads:
            extra += "\n    nbthread %d" % threads
        render(os.path.join(ROOT, "deploy", "haproxy", "tensorwire.cfg"), config, replicas, self.grpc_port,
               self.http_port, extra_global=extra)
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        check = subprocess.run([binary, "-c", "-f", config], capture_output=True, text=True)
        if check.returncode != 0:
            raise BalancerError("haproxy -c refused the rendered deploy/haproxy/tensorwire.cfg:\n"
                                + check.stdout + check.stderr)
        self.log = open(os.path.join(self.dir, "haproxy.log"), "w")
        self.process = subprocess.Popen(list(prefix) + [binary, "-db", "-f", config], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self.wait_listening()

    def server_states(self):
        """{server name: operational state} from `show servers state` (2 is running)."""
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(self.socket)
                s.sendall(b"show servers state tensorwire\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
        except OSError:
            return {}
        states = {}
        for line in data.decode().splitlines():
            fields = line.split()
            if len(fields) > 5 and fields[1] == "tensorwire":
                states[fields[3]] = int(fields[5])
        return states

    def wait_replicas_up(self, replicas):
        names = ["r%d" % (r.index + 1) for r in replicas]
        wait_for(lambda: all(self.server_states().get(n) == 2 for n in names),
                 "HAProxy's checks to see every replica UP")

    def stop(self):
        super().stop(signal.SIGUSR1)   # HAProxy's soft stop
        self.log.close()
