#!/usr/bin/env bash
# Installs what pw-bench's suites compare portwarden against, on a fresh Debian machine.
# Idempotent: anything already there at the pinned version is left alone, and every step says
# what it did.
#
#   apt (as root):  iproute2 (ss), lsof, psmisc (fuser), hyperfine
#   pip:            supervisor        -> target/peers/venv            (a venv, not the system's)
#   npm:            pm2, kill-port    -> target/peers/npm/node_modules (a local prefix, not -g)
#
# Usage: benches/setup-peers.sh [--no-apt] [--no-pip] [--no-npm]
# Versions can be overridden: SUPERVISOR_VERSION, PM2_VERSION, KILL_PORT_VERSION.
set -euo pipefail

SUPERVISOR_VERSION="${SUPERVISOR_VERSION:-4.3.0}"
PM2_VERSION="${PM2_VERSION:-7.0.4}"
KILL_PORT_VERSION="${KILL_PORT_VERSION:-2.0.1}"
APT_PACKAGES=(iproute2 lsof psmisc hyperfine)

do_apt=1 do_pip=1 do_npm=1
for arg in "$@"; do
    case "$arg" in
        --no-apt) do_apt=0 ;;
        --no-pip) do_pip=0 ;;
        --no-npm) do_npm=0 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "setup-peers: unknown option $arg (try --help)" >&2; exit 64 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="$root/target/peers"
say() { echo "setup-peers: $*"; }

apt_updated=0
apt_install() {
    if [[ $(id -u) -ne 0 ]]; then
        say "not root: run 'apt-get install -y $*' as root, or rerun this script with sudo"
        return 1
    fi
    if [[ $apt_updated -eq 0 ]]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    say "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if [[ $do_apt -eq 1 ]]; then
    missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        if installed "$pkg"; then
            say "apt: $pkg already installed ($(dpkg-query -W -f='${Version}' "$pkg"))"
        else
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_install "${missing[@]}"
        say "apt: installed ${missing[*]}"
    fi
fi

if [[ $do_pip -eq 1 ]]; then
    venv="$peers/venv"
    have="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("supervisor"))' 2>/dev/null || true)"
    if [[ "$have" == "$SUPERVISOR_VERSION" ]]; then
        say "pip: supervisor $have already in $venv"
    else
        if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
            # Debian splits venv and ensurepip out of python3.
            apt_install python3 python3-venv
        fi
        [[ -x "$venv/bin/python" ]] || { say "python3 -m venv $venv"; python3 -m venv "$venv"; }
        say "pip: installing supervisor==$SUPERVISOR_VERSION into $venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "supervisor==$SUPERVISOR_VERSION"
        say "pip: supervisor $SUPERVISOR_VERSION installed: $venv/bin/supervisord"
    fi
fi

if [[ $do_npm -eq 1 ]]; then
    prefix="$peers/npm"
    version_of() {
        node -p "require('$prefix/node_modules/$1/package.json').version" 2>/dev/null || true
    }
    if ! command -v npm >/dev/null; then
        apt_install nodejs npm
    fi
    wanted=()
    for spec in "pm2@$PM2_VERSION" "kill-port@$KILL_PORT_VERSION"; do
        name="${spec%@*}"
        have="$(version_of "$name")"
        if [[ "$have" == "${spec#*@}" ]]; then
            say "npm: $name $have already in $prefix"
        else
            wanted+=("$spec")
        fi
    done
    if [[ ${#wanted[@]} -gt 0 ]]; then
        mkdir -p "$prefix"
        say "npm: installing ${wanted[*]} into $prefix"
        npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "${wanted[@]}" >/dev/null
        say "npm: installed ${wanted[*]}: $prefix/node_modules/.bin/{pm2,kill-port}"
    fi
fi

say "done"
