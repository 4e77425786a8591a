# Shared by scripts/test and bench/run: installing Debian packages and starting a private
# Docker engine. Source it; it defines functions and changes nothing by itself.

# ensure_packages PACKAGE...: installs those not yet installed (apt-get update once first).
ensure_packages() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# ensure_cargo_tool CRATE VERSION: `cargo install CRATE --locked` at VERSION unless that version
# is installed already.
ensure_cargo_tool() {
  local crate=$1 version=$2
  cargo install --list | grep -qx "$crate v$version:" && return 0
  echo "installing $crate $version"
  cargo install --quiet --locked "$crate" --version "$version"
}

# start_dockerd WORKDIR: starts dockerd (no iptables, no bridge) with its data root, exec root
# and socket under WORKDIR, exports DOCKER_HOST, and waits until it answers. stop_dockerd
# WORKDIR stops it again.
start_dockerd() {
  local work=$1
  dockerd --iptables=false --bridge=none --data-root "$work/docker" --exec-root "$work/exec" \
    -H "unix://$work/docker.sock" --pidfile "$work/dockerd.pid" >"$work/dockerd.log" 2>&1 &
  export DOCKER_HOST="unix://$work/docker.sock"
  for _ in $(seq 60); do docker version >/dev/null 2>&1 && return 0; sleep 1; done
  echo "dockerd did not start:" >&2
  cat "$work/dockerd.log" >&2
  return 1
}

stop_dockerd() {
  local work=$1 pid
  if [ -f "$work/dockerd.pid" ]; then
    pid=$(cat "$work/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
}
