#!/usr/bin/env bash
# Installs the Debian packages cronplane's tests need, only when something is missing.
# redis-server / redis-sentinel: tests start their own servers and sentinels; nodejs/npm: Azurite (Storage Queue peer);
# gcc + python3-dev: python-qpid-proton (Service Bus AMQP test peer) builds from source; git: git mode;
# chromium: the dashboard's browser tests (driven by playwright with the system browser, no download).
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-sentinel >/dev/null || need+=(redis-sentinel)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v git >/dev/null || need+=(git)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
[ -x /usr/bin/chromium ] || need+=(chromium)
python3 -c 'import sysconfig,os,sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")) else 1)' || need+=(python3-dev)
[ -e /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "missing system packages: ${need[*]} (not root and no sudo: install them, then re-run)" >&2
    exit 1
  fi
  SUDO="sudo"
fi
echo "installing system packages: ${need[*]}"
# another apt run (a second `make` at once) holds the lock for a while: wait for it rather than fail
LOCK=(-o DPkg::Lock::Timeout=600)
$SUDO apt-get "${LOCK[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${LOCK[@]}" install -y -qq "${need[@]}" >/dev/null
