#!/usr/bin/env bash
# The whole test suite from a fresh Debian machine: installs what is missing (Ceph packages for a real S3, a
# virtualenv with the project), checks style and types, then runs every test against moto's S3 server and
# against a Ceph RADOS Gateway that the tests start on loopback and stop afterwards. Safe to run again.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

packages=()
for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool; do
  command -v "$tool" >/dev/null 2>&1 || { packages+=(ceph-mon ceph-osd radosgw ceph-common); break; }
done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || packages+=(python3-venv)
# Node and npm run tus-js-client against the gateway (tests/uploads/test_js_client.py).
{ command -v node && command -v npm; } >/dev/null 2>&1 || packages+=(nodejs npm)
# The web console's tests drive Debian's Chromium through Playwright (tests/console/).
[ -x /usr/bin/chromium ] || packages+=(chromium)
# Emoji in names are drawn in the console's screenshots, not shown as boxes.
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || packages+=(fonts-noto-color-emoji)
if ((${#packages[@]})); then
  echo "installing ${packages[*]}" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# With the Python client, its own distribution in client/, tested against the gateway like any other part.
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' -e ./client

# tus-js-client from the npm registry, exactly as locked; again only when the lock changed since the last install.
js=tests/uploads/js
if ! cmp -s "$js/package-lock.json" "$js/node_modules/.installed-lock.json"; then
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$js/package-lock.json" "$js/node_modules/.installed-lock.json"
fi

# The web console, built from console/ into the package (its lock installed only when it changed, as above).
web=console
if ! cmp -s "$web/package-lock.json" "$web/node_modules/.installed-lock.json"; then
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$web/package-lock.json" "$web/node_modules/.installed-lock.json"
fi
(cd "$web" && npm run --silent build >/dev/null)

.venv/bin/ruff check gateway tests client
.venv/bin/ruff format --check -q gateway tests client
.venv/bin/mypy
.venv/bin/mypy --config-file client/pyproject.toml client/session_gateway_client

# One worker process per core (GATEWAY_TEST_WORKERS overrides; 0 runs in this process): the gateway, moto and the
# test client of one process share one interpreter lock. A test file stays on one worker, so the gateways a module
# shares are started once; the first worker to need the RGW starts it and the last one stops it.
exec .venv/bin/python -m pytest -n "${GATEWAY_TEST_WORKERS:-auto}" --dist loadfile "$@"
