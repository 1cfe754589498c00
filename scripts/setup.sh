#!/usr/bin/env bash
# Puts everything the service needs at run time into the project, with no manual step:
#   runtime/onnxruntime/libonnxruntime.so.*  from the PyPI `onnxruntime` wheel (pinned, sha256-checked)
#   models/*.onnx                             from a mirror folder or the pinned upstream URL (sha256-checked)
# Idempotent: when every file is present and its checksum is recorded as verified, it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.32.0
ORT_WHEEL_SHA256=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
ORT_DIR=runtime/onnxruntime
ORT_LIB="$ORT_DIR/libonnxruntime.so.$ORT_VERSION"

die() { echo "setup: error: $*" >&2; exit 1; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- ONNX Runtime -------------------------------------------------------------------------------
if [ ! -f "$ORT_LIB" ] || [ ! -f "$ORT_DIR/LICENSE" ] || [ "$(cat "$ORT_DIR/.wheel-sha256" 2>/dev/null)" != "$ORT_WHEEL_SHA256" ]; then
  command -v python3 >/dev/null || die "python3 with pip is needed to fetch the onnxruntime wheel"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  echo "onnxruntime==$ORT_VERSION --hash=sha256:$ORT_WHEEL_SHA256" > "$tmp/req.txt"
  echo "setup: downloading onnxruntime $ORT_VERSION wheel from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
    --python-version 3.11 --require-hashes -r "$tmp/req.txt" -d "$tmp" \
    || die "could not download onnxruntime==$ORT_VERSION from PyPI (is the package index reachable?)"
  whl=$(ls "$tmp"/onnxruntime-"$ORT_VERSION"-*.whl)
  [ "$(sha256_of "$whl")" = "$ORT_WHEEL_SHA256" ] || die "sha256 mismatch for $whl"
  python3 - "$whl" "$tmp/x" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for n in z.namelist():
    if n.startswith("onnxruntime/capi/libonnxruntime.so") or n.endswith("LICENSE") or n.endswith("ThirdPartyNotices.txt"):
        z.extract(n, sys.argv[2])
PY
  mkdir -p "$ORT_DIR"
  cp "$tmp"/x/onnxruntime/capi/libonnxruntime.so.* "$ORT_DIR/"
  cp "$tmp/x/onnxruntime/LICENSE" "$ORT_DIR/LICENSE"
  find "$tmp/x" -name ThirdPartyNotices.txt -exec cp {} "$ORT_DIR/" \; 2>/dev/null || true
  [ -f "$ORT_LIB" ] || die "the wheel did not contain libonnxruntime.so.$ORT_VERSION"
  echo "$ORT_WHEEL_SHA256" > "$ORT_DIR/.wheel-sha256"
  echo "setup: installed $ORT_LIB"
fi

# --- Models ---------------------------------------------------------------------------------------
MIRROR="${LIVENESS_MODEL_MIRROR:-}"
if [ -z "$MIRROR" ] && [ -d ../shared/models ]; then MIRROR=../shared/models; fi

while IFS=$'\t' read -r file sha url; do
  case "$file" in ''|'#'*) continue ;; esac
  dest="models/$file"
  stamp="models/.$file.sha256"
  # Fast path: already verified (the stamp is written only after a successful check and is
  # older than the file would be if someone replaced it).
  if [ -f "$dest" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sha" ] && [ ! "$dest" -nt "$stamp" ]; then
    continue
  fi
  if [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$sha" ]; then
    echo "$sha" > "$stamp"; continue
  fi
  rm -f "$dest.part"
  if [ -n "$MIRROR" ] && [ -f "$MIRROR/$file" ]; then
    cp "$MIRROR/$file" "$dest.part"
    src="mirror $MIRROR"
  else
    echo "setup: $file not in a mirror folder, downloading $url"
    if ! curl -fsSL --retry 2 --connect-timeout 10 -o "$dest.part" "$url"; then
      rm -f "$dest.part"
      die "cannot get model $file: not in the mirror folder (${MIRROR:-none; set LIVENESS_MODEL_MIRROR}) and download from $url failed"
    fi
    src="$url"
  fi
  got=$(sha256_of "$dest.part")
  if [ "$got" != "$sha" ]; then
    rm -f "$dest.part"
    die "model $file from $src has sha256 $got, expected $sha"
  fi
  mv "$dest.part" "$dest"
  echo "$sha" > "$stamp"
  echo "setup: model $file from $src (sha256 ok)"
done < models/manifest.tsv

# --- The Python test client -----------------------------------------------------------------------
# tests/grpc_python.rs runs tests/clients/bws_client.py, a BWS client that is not this project's
# code: grpcio stubs generated from Protos/ by grpcio-tools, tokens made with PyJWT. Pinned with
# hashes in tests/clients/requirements.txt; reinstalled only when that file changes.
VENV=.venv-test
REQS=tests/clients/requirements.txt
if [ "$(cat "$VENV/.requirements-sha256" 2>/dev/null)" != "$(sha256_of "$REQS")" ]; then
  command -v python3 >/dev/null || die "python3 (with venv and pip) is needed for the test client"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  echo "setup: installing the Python test client's packages into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
    --only-binary=:all: -r "$REQS" \
    || die "could not install $REQS from PyPI (is the package index reachable?)"
  sha256_of "$REQS" > "$VENV/.requirements-sha256"
  echo "setup: $VENV ready"
fi
