#!/usr/bin/env bash
# The course's two commands (see README):
#   bash course.sh run    set up .venv and run every notebook headless (bmcourse run), in the
#                         smoke profile (embedded samples, packaged model) unless BMCOURSE_PROFILE says full
#   bash course.sh test   set up .venv and run the unit and notebook tests (pytest --nbval)
# Settings: BMCOURSE_VENV (default .venv), PYTHON (default python3),
#           BMCOURSE_TORCH (default torch==2.13.0; installed first, only if torch is missing).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${BMCOURSE_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "course.sh: creating $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local py="$VENV/bin/python"
  "$py" -m pip install --quiet --upgrade pip
  if ! "$py" -c "import torch" 2>/dev/null; then
    echo "course.sh: installing ${BMCOURSE_TORCH:-torch==2.13.0} first"
    "$py" -m pip install --quiet "${BMCOURSE_TORCH:-torch==2.13.0}"
  fi
  echo "course.sh: installing bmcourse and its dependencies"
  "$py" -m pip install --quiet -e ".[notebooks,test]"
}

case "${1:-}" in
  run)
    shift; setup
    exec "$VENV/bin/bmcourse" run --profile "${BMCOURSE_PROFILE:-smoke}" "$@"
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
    echo "usage: bash course.sh run|test [args...]" >&2
    exit 2
    ;;
esac
