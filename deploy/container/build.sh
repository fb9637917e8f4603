#!/bin/sh
# Build the ovnmeta image from the repository root: wheels first (on this host), then the image.
#   deploy/container/build.sh [extra podman build arguments, e.g. --build-arg BASE=...]
# IMAGE (default localhost/ovnmeta:<version>) names the result.
set -eu
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image=${IMAGE:-localhost/ovnmeta:$version}
python=${PYTHON:-.venv/bin/python}
rm -rf build/wheels
"$python" -m pip wheel -q --disable-pip-version-check -w build/wheels .
podman build --format docker -f deploy/container/Containerfile -t "$image" "$@" .
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$image"
