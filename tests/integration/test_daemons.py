"""Daemons for the Python integration tests: kvserve replicas and an nginx in front of them.

Replica starts the real kvserve binary on a free loopback port (--port 0 --port_file) and
Nginx fills deploy/nginx/kvserve-grpc.conf with their addresses and runs nginx in the foreground,
every path inside a temp dir. Used by nginx_replicas_test.py and tests/soak/hardening_test.py.
The caller puts the kvserve Python stubs and clients/python on sys.path before importing this.
"""
import os
import signal
import socket
import subprocess
import time

from kvserve_client import KvserveClient

START_TIMEOUT_S = 30


def wait_for(predicate, what, process, log_path, timeout=START_TIMEOUT_S):
    """Polls predicate() until true; fails naming `what` (with the process's log) otherwise."""
    deadline = time.time() + timeout
    while not predicate():
        if process.poll() is not None or time.time() > deadline:
            with open(log_path, errors="replace") as f:
                log = f.read()
            state = ("exited with %d" % process.returncode if process.poll() is not None
                     else "timed out after %ds" % timeout)
            raise RuntimeError("%s: %s; log %s:\n%s" % (what, state, log_path, log[-4000:]))
        time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts_connections(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Replica:
    """One kvserve daemon on a free loopback port (--model micro unless `args` says otherwise)."""

    def __init__(self, kvserve, name, tmp, args=()):
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        port_file = os.path.join(tmp, name + ".port")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [kvserve, "--model", "micro", "--host", "127.0.0.1", "--port", "0",
                 "--port_file", port_file, "--threads", "1", "--drain_seconds", "1", *args],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(port_file), "replica %s did not start" % name,
                 self.process, self.log_path)
        with open(port_file) as f:
            self.address = "127.0.0.1:" + f.read().strip()

    def requests_finished(self):
        with KvserveClient(self.address, timeout=10) as client:
            return client.server_info()["requests_finished"]

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Nginx:
    """nginx in the foreground with its prefix, pid, logs and temp paths all inside `tmp`."""

    def __init__(self, nginx, template, tmp, replicas):
        self.tmp = tmp
        self.error_log = os.path.join(tmp, "nginx-error.log")
        with open(template) as f:
            template = f.read()
        for attempt in range(3):  # the free port may be taken between free_port() and bind()
            self.port = free_port()
            site = template.replace("@LISTEN@", "127.0.0.1:%d" % self.port)
            for i, replica in enumerate(replicas, start=1):
                site = site.replace("@REPLICA_%d@" % i, replica.address)
            if "@" in site.split("upstream", 1)[1]:
                raise RuntimeError("template %s has markers this test does not fill" % template)
            with open(os.path.join(tmp, "kvserve-grpc.conf"), "w") as f:
                f.write(site)
            conf = os.path.join(tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self._main_conf())
            open(self.error_log, "w").close()
            self.process = subprocess.Popen(
                [nginx, "-p", tmp + "/", "-c", conf, "-e", self.error_log],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: accepts_connections(self.port), "nginx did not start",
                         self.process, self.error_log)
                return
            except RuntimeError:
                with open(self.error_log) as f:
                    if "Address already in use" not in f.read() or attempt == 2:
                        raise

    def _main_conf(self):
        t = self.tmp
        return "\n".join([
            "daemon off;",
            "worker_processes 1;",
            "pid %s/nginx.pid;" % t,
            "error_log %s info;" % self.error_log,
            "events { worker_connections 1024; }",
            "http {",
            "    access_log %s/nginx-access.log;" % t,
            "    client_body_temp_path %s/client_body;" % t,
            "    proxy_temp_path %s/proxy;" % t,
            "    fastcgi_temp_path %s/fastcgi;" % t,
            "    uwsgi_temp_path %s/uwsgi;" % t,
            "    scgi_temp_path %s/scgi;" % t,
            "    include %s/kvserve-grpc.conf;" % t,
            "}",
            ""])

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful; nginx's SIGTERM is "fast"
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
