"""The container image definition and the Kubernetes manifests, checked offline: schemas of
the Kubernetes API (kubernetes-validate), hadolint, and what a schema cannot see — probes
that name real URLs, selectors that select, a non-root user, limits on every container."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from django.conf import settings
from django.urls import resolve

ROOT = Path(settings.BASE_DIR)
K8S = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
# The oldest Kubernetes release we promise to run on, and the newest the validator knows.
K8S_VERSIONS = ("1.33.0", kubernetes_validate.latest_version())


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
OBJECTS = [d for p in MANIFESTS for d in _docs(p)]


def _kind(kind: str, name: str | None = None) -> list[dict]:
    return [o for o in OBJECTS if o["kind"] == kind and name in (None, o["metadata"]["name"])]


def _web() -> dict:
    (deployment,) = _kind("Deployment", "monograph")
    return deployment


def _containers() -> list[tuple[str, dict, dict]]:
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"], c)
            for d in _kind("Deployment") for c in d["spec"]["template"]["spec"]["containers"]]


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# -- Kubernetes ---------------------------------------------------------------------------------
@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_is_valid_against_the_kubernetes_schemas(path, version):
    for doc in _docs(path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_kustomization_applies_every_manifest_of_ours():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    controller_wide = {"ingress-nginx-config.yaml"}  # the ingress controller's namespace
    assert listed == {p.name for p in MANIFESTS} - controller_wide


def test_the_web_probes_point_at_the_apps_liveness_and_readiness_urls():
    (container,) = _web()["spec"]["template"]["spec"]["containers"]
    ports = {p["name"] for p in container["ports"]}
    expect = {"startupProbe": "healthz", "livenessProbe": "healthz", "readinessProbe": "readyz"}
    for probe, url_name in expect.items():
        get = container[probe]["httpGet"]
        assert resolve(get["path"]).url_name == url_name, probe
        assert get["port"] in ports, probe


def test_the_web_container_listens_where_the_image_serves():
    (container,) = _web()["spec"]["template"]["spec"]["containers"]
    (port,) = container["ports"]
    assert f"EXPOSE {port['containerPort']}" in DOCKERFILE.read_text()
    assert f"PORT={port['containerPort']}" in DOCKERFILE.read_text()


@pytest.mark.parametrize(("deployment", "pod", "container"), _containers(),
                         ids=lambda x: x if isinstance(x, str) else "")
def test_every_container_runs_as_non_root_on_a_read_only_root_with_limits(deployment, pod,
                                                                          container):
    ctx = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True and ctx["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"]["drop"] == ["ALL"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    assert "livenessProbe" in container and "readinessProbe" in container


def test_the_web_pods_run_as_the_images_user():
    uid = _web()["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert _final_stage_user() == f"{uid}:{uid}"


def test_services_hpa_pdb_policy_and_ingress_point_at_things_that_exist():
    pods = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
            for d in _kind("Deployment")}
    for svc in _kind("Service"):
        assert sum(_selects(svc["spec"]["selector"], labels) for labels in pods.values()) == 1
    (hpa,) = _kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] in pods
    assert hpa["spec"]["minReplicas"] >= 2  # one node or one rollout never empties the service
    (pdb,) = _kind("PodDisruptionBudget")
    assert _selects(pdb["spec"]["selector"]["matchLabels"], pods["monograph"])
    for policy in _kind("NetworkPolicy"):
        assert _selects(policy["spec"]["podSelector"]["matchLabels"], pods["redis"])
        (rule,) = policy["spec"]["ingress"]
        assert _selects(rule["from"][0]["podSelector"]["matchLabels"], pods["monograph"])
    (ingress,) = _kind("Ingress")
    services = {s["metadata"]["name"]: {p["name"] for p in s["spec"]["ports"]}
                for s in _kind("Service")}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["port"]["name"] in services[backend["name"]]


def test_the_ingress_buffers_requests_and_responses_with_bounded_timeouts():
    (ingress,) = _kind("Ingress")
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "on"
    for name in ("proxy-connect-timeout", "proxy-send-timeout", "proxy-read-timeout"):
        assert 0 < int(notes[f"nginx.ingress.kubernetes.io/{name}"]) <= 30, name
    (controller,) = _kind("ConfigMap", "ingress-nginx-controller")
    assert int(controller["data"]["client-header-timeout"]) <= 10


def test_the_cache_the_web_pods_use_is_the_redis_service():
    (config,) = _kind("ConfigMap", "monograph")
    (redis,) = _kind("Service", "redis")
    port = redis["spec"]["ports"][0]["port"]
    assert config["data"]["MONOGRAPH_CACHE_URL"] == f"redis://redis:{port}/0"


# -- the image ----------------------------------------------------------------------------------
def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(m[1].upper(), m[2].strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", text, re.M)]


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def _final_stage_user() -> str:
    (user,) = [arg for op, arg in _final_stage() if op == "USER"]
    return user


def test_hadolint_finds_nothing_in_the_dockerfile():
    hadolint = shutil.which("hadolint") or str(Path(settings.BASE_DIR) / ".venv" / "bin" / "hadolint")
    proc = subprocess.run([hadolint, "--failure-threshold", "info", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_image_runs_as_a_numeric_non_root_user():
    user = _final_stage_user()
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), user  # numeric: runAsNonRoot can check it


def test_the_base_image_is_pinned_to_a_patch_release():
    args = dict(re.match(r"(\w+)=(\S+)", arg).groups() for op, arg in _instructions()
                if op == "ARG" and "=" in arg)
    for op, arg in _instructions():
        if op == "FROM":
            image = arg.split()[0]
            image = args.get(image.strip("${}"), image)
            assert re.search(r":\d+\.\d+\.\d+", image) and "latest" not in image, image


def test_the_image_has_a_health_check_on_the_liveness_url():
    (check,) = [arg for op, arg in _final_stage() if op == "HEALTHCHECK"]
    path = re.search(r"http://127\.0\.0\.1:\d+(/\w+)", check)[1]
    assert resolve(path).url_name == "healthz"


def test_the_image_installs_the_locked_environment_and_debians_chromium():
    steps = _instructions()
    assert any(op == "RUN" and "uv sync --frozen --no-dev" in arg for op, arg in steps)
    assert any(op == "RUN" and re.search(r"apt-get install .*\bchromium\b", arg)
               for op, arg in _final_stage())


def test_the_image_carries_no_secret_and_its_context_leaves_out_history_and_env_files():
    env = " ".join(arg for op, arg in _instructions() if op in ("ENV", "ARG"))
    assert "SECRET_KEY" not in env
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".env"} <= ignored


def test_every_variable_the_deployment_sets_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    (config,) = _kind("ConfigMap", "monograph")
    names = set(config["data"]) | {"SECRET_KEY"}
    names |= {m for op, arg in _final_stage() if op == "ENV"
              for m in re.findall(r"\b([A-Z][A-Z0-9_]+)=", arg)
              if m.startswith(("MONOGRAPH_", "PROMETHEUS_", "WEB_", "PORT"))}
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, f"add to README's configuration table: {missing}"
