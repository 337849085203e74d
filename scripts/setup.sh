#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine with only Rust lacks for building,
# testing and fuzzing Secours. Idempotent; both README commands call it.
#   scripts/setup.sh          build and test prerequisites
#   scripts/setup.sh --fuzz   also cargo-fuzz
set -euo pipefail

# System packages the workspace needs. pkg-config finds system libraries for
# the -sys crates; coturn brings turnutils_stunclient, the standard STUN
# client the reflexive-address tests talk to, and turnserver, the TURN server
# the TURN client is tested against; iproute2 and nftables build the
# NAT lab (network namespaces, NAT; procps for sysctl); postgresql runs the
# server's suite a second time on PostgreSQL. The codec builds libaom
# (cmake, nasm), dav1d (meson, ninja-build, nasm) and libwebm (g++) from
# their bundled sources; its tests run a real X server (xvfb) and check
# recordings with ffprobe/ffmpeg (ffmpeg) and in Chromium's <video> (chromium);
# the server's web pages are driven in chromium through WebDriver (chromium-driver);
# the programs' end-to-end tests drive real X clients on it (xterm, xdotool,
# xclip, x11-utils). The windows (egui on OpenGL) load Mesa's software
# renderer and winit's X11 libraries at run time (libgl1-mesa-dri, libegl1,
# libxkbcommon-x11-0, libxcursor1, libxrandr2, libxi6). python3-venv holds
# schemathesis (below).
APT_PACKAGES=(pkg-config coturn iproute2 nftables procps postgresql
  cmake nasm meson ninja-build g++ xvfb ffmpeg chromium chromium-driver xterm xdotool
  xclip x11-utils libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6
  python3-venv)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

for tool in cargo rustfmt cargo-clippy; do
  command -v "$tool" >/dev/null || { echo "setup: $tool not found; install Rust with rustfmt and clippy" >&2; exit 1; }
done

# schemathesis (PyPI), the schema-driven fuzzer tests/schemathesis.rs runs
# against a real server, in its own virtual environment (that test skips,
# saying so, when it is missing).
SCHEMATHESIS_VERSION=4.32.5
VENV="$HOME/.cache/secours-venv"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "setup: installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if [ "${1:-}" = "--fuzz" ] && ! command -v cargo-fuzz >/dev/null; then
  echo "setup: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked --quiet
fi
