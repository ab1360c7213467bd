"""Consistency checks of the deployment files under deploy/ (no Docker or cluster needed).

Each check ties two places that must agree and would silently drift apart otherwise: the drain time
and the stop timeouts, the flags and the ports/probes/annotations, the image's runtime packages
and the shared libraries the binaries really load (ldd + dpkg -S, at test time).

Usage (ctest does this): deploy_files_test.py SOURCE_DIR KVSERVE_BINARY KVCTL_BINARY
"""
import os
import re
import shlex
import subprocess
import sys
import unittest

import yaml

SOURCE_DIR, KVSERVE, KVCTL = sys.argv[1:4]
DEPLOY = os.path.join(SOURCE_DIR, "deploy")
GRPC_SHUTDOWN_GRACE_S = 5  # KvServer::Shutdown's default grace after the drain (kv_server.h)


def read(*parts):
    with open(os.path.join(DEPLOY, *parts)) as f:
        return f.read()


def flags(args):
    """{"--name": "value"} from ["--name=value", "--name", "value", ...]."""
    out, i = {}, 0
    while i < len(args):
        a = args[i]
        if "=" in a:
            name, value = a.split("=", 1)
        else:
            name, value = a, args[i + 1] if i + 1 < len(args) else ""
            i += 1
        out[name] = value
        i += 1
    return out


def systemd_settings(text):
    """[Service] key -> list of values, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", text)
    settings, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


SANITIZER_RUNTIME = re.compile(r"lib(asan|ubsan|tsan|lsan)\.so")


def owning_packages(paths):
    """{path: Debian package shipping it, or None}. One dpkg call: dpkg reads its whole database
    each time. usrmerge: dpkg may know a library under /lib rather than /usr/lib, or by its
    symlink's target."""
    candidates = {}
    for path in paths:
        real = os.path.realpath(path)
        for c in (path, real, re.sub(r"^/usr", "", path), re.sub(r"^/usr", "", real)):
            candidates.setdefault(c, set()).add(path)
    result = subprocess.run(["dpkg", "-S"] + sorted(candidates), capture_output=True, text=True)
    owners = dict.fromkeys(paths)
    for line in result.stdout.splitlines():  # "package[:arch]: /path"; not-found goes to stderr
        package, _, found = line.partition(": ")
        for path in candidates.get(found, ()):
            owners[path] = package.split(":", 1)[0]
    return owners


class KubernetesTest(unittest.TestCase):
    def setUp(self):
        (self.deployment,) = yaml.safe_load_all(read("k8s", "deployment.yaml"))
        self.services = list(yaml.safe_load_all(read("k8s", "service.yaml")))
        self.pod = self.deployment["spec"]["template"]
        (self.container,) = self.pod["spec"]["containers"]
        self.flags = flags(self.container["args"])
        self.ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}

    def test_grace_period_covers_the_drain(self):
        drain = int(self.flags["--drain_seconds"])
        grace = self.pod["spec"]["terminationGracePeriodSeconds"]
        self.assertGreater(grace, drain + GRPC_SHUTDOWN_GRACE_S)
        live = self.container["livenessProbe"]
        self.assertGreater(live["periodSeconds"] * live["failureThreshold"], grace,
                           "liveness could restart a draining container")

    def test_probes_annotations_and_ports_match_the_flags(self):
        self.assertEqual(self.ports["grpc"], int(self.flags["--port"]))
        self.assertEqual(self.ports["metrics"], int(self.flags["--metrics_port"]))
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            self.assertEqual(self.container[probe]["grpc"]["port"], self.ports["grpc"], probe)
        annotations = self.pod["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(int(annotations["prometheus.io/port"]), self.ports["metrics"])
        self.assertEqual(self.deployment["spec"]["replicas"], 2)
        for resource in ("cpu", "memory"):
            self.assertIn(resource, self.container["resources"]["requests"])

    def test_services_select_the_pods_and_name_existing_ports(self):
        labels = self.pod["metadata"]["labels"]
        for service in self.services:
            name = service["metadata"]["name"]
            for key, value in service["spec"]["selector"].items():
                self.assertEqual(labels.get(key), value, name)
            for port in service["spec"]["ports"]:
                self.assertIn(port["targetPort"], self.ports, name)

    def test_runs_as_the_image_user(self):
        dockerfile = read("docker", "Dockerfile")
        (user,) = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.M)
        security = self.pod["spec"]["securityContext"]
        self.assertTrue(security["runAsNonRoot"])
        self.assertEqual((str(security["runAsUser"]), str(security["runAsGroup"])), user)


class SystemdTest(unittest.TestCase):
    def setUp(self):
        self.settings = systemd_settings(read("systemd", "kvserve.service"))

    def test_stop_timeout_covers_the_drain(self):
        (exec_start,) = self.settings["ExecStart"]
        drain = int(flags(shlex.split(exec_start)[1:])["--drain_seconds"])
        (timeout,) = self.settings["TimeoutStopSec"]
        self.assertGreater(int(timeout), drain + GRPC_SHUTDOWN_GRACE_S)
        self.assertEqual(self.settings["KillSignal"], ["SIGTERM"])

    def test_hardening(self):
        for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                           ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                           ("CapabilityBoundingSet", ""), ("DynamicUser", "yes")]:
            self.assertEqual(self.settings.get(key), [value], key)
        self.assertIn("RestrictAddressFamilies", self.settings)
        # oneDNN JIT-compiles kernels: W^X memory would break every model step.
        self.assertNotIn("MemoryDenyWriteExecute", self.settings)


class DockerfileTest(unittest.TestCase):
    BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1"}  # in debian:12-slim already

    def runtime_packages(self):
        dockerfile = read("docker", "Dockerfile")
        runtime = dockerfile.split("FROM debian:12-slim", 1)[1]
        install = re.search(r"apt-get install -y --no-install-recommends((?:[^&])*)", runtime)
        return set(install.group(1).replace("\\", " ").split())

    def test_runtime_packages_cover_every_shared_library(self):
        packages = self.runtime_packages()
        needed = {}  # library path -> "binary (soname)"
        for binary in (KVSERVE, KVCTL):
            ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True)
            for line in ldd.stdout.splitlines():
                match = re.match(r"\s*(\S+) => (/\S+)", line)
                # Not linux-vdso nor the dynamic loader; nor a sanitizer runtime (in the ASan/TSan
                # builds of deploy/test.sh): the image is a Release build without them.
                if match and not SANITIZER_RUNTIME.match(match.group(1)):
                    needed[match.group(2)] = "%s (%s)" % (os.path.basename(binary), match.group(1))
        self.assertGreater(len(needed), 10, "ldd found too few libraries")
        for path, package in owning_packages(list(needed)).items():
            self.assertIsNotNone(package, "no package ships %s" % path)
            self.assertIn(package, packages | self.BASE_IMAGE_PACKAGES,
                          "%s needs %s, missing from the Dockerfile's runtime stage" % (
                              needed[path], package))

    def test_non_root_entrypoint_on_all_interfaces(self):
        dockerfile = read("docker", "Dockerfile")
        self.assertEqual(dockerfile.count("\nFROM "), 2, "two stages")
        self.assertRegex(dockerfile, r'ENTRYPOINT \["kvserve", "--host", "0\.0\.0\.0"\]')
        (uid,) = re.findall(r"^USER (\d+):", dockerfile, re.M)
        self.assertNotEqual(int(uid), 0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
