#!/usr/bin/env bash
# The course's two commands (see README):
#   bash course.sh run    set up .venv and run every notebook headless (bmcourse run), in the
#                         smoke profile (embedded samples, packaged model) unless BMCOURSE_PROFILE says full
#   bash course.sh test   set up .venv and run the unit and notebook tests (pytest --nbval)
#   bash course.sh site   set up .venv and build the course website into _site/ (bmcourse site; offline,
#                         from the stored notebooks, both editions; what CI tests and GitHub Pages publishes)
# Settings:
#   BMCOURSE_VENV   the virtual environment (default .venv)
#   PYTHON          the interpreter that creates it (default python3)
#   BMCOURSE_TORCH  pip arguments for torch, installed first (default: the pinned torch; on Linux
#                   without an NVIDIA GPU, from PyTorch's CPU wheel index, so no multi-GB CUDA
#                   download). Example: BMCOURSE_TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# Everything else is installed with constraints.txt, the one tested set of versions. A second run
# with nothing changed installs nothing and needs no network.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${BMCOURSE_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
CPU_INDEX="https://download.pytorch.org/whl/cpu"
STAMP="$VENV/.bmcourse-installed"

say() { echo "course.sh: $*"; }

torch_pin() { grep -E '^torch==' constraints.txt | head -n1; }

default_torch_args() {
  # Linux without an NVIDIA GPU: CPU-only wheels. macOS and Windows wheels on PyPI are CPU/MPS already.
  if [ "$(uname -s)" = "Linux" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "$(torch_pin) --index-url $CPU_INDEX"
  else
    torch_pin
  fi
}

# What an installed environment was made from: when it matches the stamp, nothing is reinstalled.
wanted() {
  { cat constraints.txt pyproject.toml; echo "torch: ${BMCOURSE_TORCH:-default}"; } | cksum | cut -d' ' -f1
}

make_venv() {
  if [ -e "$VENV" ] && ! "$VENV/bin/python" -c "import pip" >/dev/null 2>&1; then
    say "$VENV is incomplete (no working python or pip: an earlier set-up stopped half-way); rebuilding it"
    rm -rf "$VENV"
  fi
  if [ ! -e "$VENV" ]; then
    say "creating $VENV"
    if ! "$PYTHON" -m venv "$VENV"; then
      rm -rf "$VENV"
      say "could not create a virtual environment with $PYTHON (on Debian/Ubuntu: apt install python3-venv)" >&2
      exit 1
    fi
  fi
}

install_torch() {
  local py="$VENV/bin/python"
  if "$py" -c "import torch" >/dev/null 2>&1; then
    return
  fi
  # A torch wheel already on this machine (a configured wheel folder) wins: no index to wait for.
  local probe
  probe="$(mktemp -d)"
  # shellcheck disable=SC2046
  if [ -z "${BMCOURSE_TORCH:-}" ] && "$py" -m pip download --quiet --no-index --no-deps -d "$probe" $(torch_pin) >/dev/null 2>&1; then
    rm -rf "$probe"
    say "installing $(torch_pin) from the local wheel folder"
    # shellcheck disable=SC2046
    "$py" -m pip install --quiet $(torch_pin)
    return
  fi
  rm -rf "$probe"
  local args="${BMCOURSE_TORCH:-$(default_torch_args)}"
  say "installing torch first: pip install $args"
  # shellcheck disable=SC2086
  "$py" -m pip install --quiet $args
}

setup() {
  make_venv
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(wanted)" ] && "$VENV/bin/python" -c "import bmcourse, torch" >/dev/null 2>&1; then
    say "$VENV is up to date (nothing to install)"
    return
  fi
  rm -f "$STAMP"
  install_torch
  say "installing bmcourse with constraints.txt"
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[notebooks,test,grading,site]"
  wanted > "$STAMP"
}

case "${1:-}" in
  run)
    shift; setup
    exec "$VENV/bin/bmcourse" run --profile "${BMCOURSE_PROFILE:-smoke}" "$@"
    ;;
  site)
    shift; setup
    exec "$VENV/bin/bmcourse" site "$@"
    ;;
  test)
    shift; setup
    set +e
    "$VENV/bin/python" -m pytest --nbval "$@"
    status=$?
    set -e
    if [ "$status" -eq 5 ]; then
      echo "course.sh: pytest collected no tests (exit 5): treating that as a failure" >&2
    fi
    exit "$status"
    ;;
  *)
    echo "usage: bash course.sh run|test|site [args...]" >&2
    exit 2
    ;;
esac
