#!/bin/sh
# Build the amlflow Airflow image:  docker/build.sh [TAG]      (default tag amlflow/airflow:<version>)
#
#   BASE_IMAGE  image to build FROM (default python:3.11-slim-bookworm), e.g. one made locally
#   PYTHON      the Python that downloads the wheels (default .venv/bin/python); it must be 3.11, as the
#               image's, because binary wheels are fetched for this interpreter
#
# The wheels come from the machine's pip configuration (index, proxy, certificates), so the image build
# itself needs no network. They are kept in build/docker-context/wheels and fetched again only when
# constraints.txt or setup.cfg change.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim-bookworm}
TAG=${1:-amlflow/airflow:$("$PYTHON" -c 'import amlflow; print(amlflow.__version__)')}
CONTEXT=build/docker-context

stamp=$(cat constraints.txt setup.cfg | sha256sum | cut -c1-16)
if [ "$(cat "$CONTEXT/wheels/.stamp" 2>/dev/null || true)" != "$stamp" ]; then
    rm -rf "$CONTEXT/wheels"
    mkdir -p "$CONTEXT/wheels"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        -c constraints.txt -d "$CONTEXT/wheels" '.[deploy]'
    echo "$stamp" > "$CONTEXT/wheels/.stamp"
fi
# amlflow's wheel is rebuilt only when its source changes: an unchanged wheel file keeps the image's
# last layer cached too.
source=$(find plugin setup.cfg setup.py pyproject.toml -type f -not -path '*/__pycache__/*' | sort \
    | xargs sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$CONTEXT/dist/.stamp" 2>/dev/null || true)" != "$source" ]; then
    rm -rf "$CONTEXT/dist"
    # Built from a copy: setuptools writes its build/ folder into the tree it builds.
    tree=$(mktemp -d)
    trap 'rm -rf "$tree"' EXIT
    cp -r plugin setup.cfg setup.py pyproject.toml README.md "$tree/"
    find "$tree" -name __pycache__ -prune -exec rm -rf {} +
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$CONTEXT/dist" "$tree"
    echo "$source" > "$CONTEXT/dist/.stamp"
fi

docker build --network=none --build-arg "BASE_IMAGE=$BASE_IMAGE" -f docker/Dockerfile -t "$TAG" "$CONTEXT"
echo "built $TAG from $BASE_IMAGE"
