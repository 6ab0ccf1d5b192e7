#!/usr/bin/env bash
# Runs every zk-rs test on a fresh machine: the one command CI and people use.
#
#   scripts/test.sh                     # cargo test --workspace
#   scripts/test.sh -p interop-tests    # extra arguments go to `cargo test`
#   scripts/test.sh -- --nocapture      # ... including test-binary arguments after `--`
#
# The interop tests run the real Apache ZooKeeper (Java) server, Java/Curator drivers and kazoo, and
# the tree browser's tests drive headless Chromium, so first this makes sure these Debian packages
# are installed, installing the missing ones with apt:
#
#   zookeeper zookeeper-bin libcurator-recipes-java python3-kazoo python3-prometheus-client
#   chromium          (+ default-jdk-headless if java or javac is missing)
#
#   python3-prometheus-client parses /metrics, chromium runs the tree browser's headless tests.
#
# apt runs directly as root, else through `sudo -n` (never prompts); without either the script stops
# and prints the apt-get command to run. Set ZK_SKIP_SYSTEM_DEPS=1 to skip this step (for example
# with ZK_JAVA_CLASSPATH / ZK_JAVA_HOME pointing at your own ZooKeeper, see interop-tests docs).
#
# The exit status is cargo's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DEBIAN_FRONTEND=noninteractive
export NEEDRESTART_MODE=a # Ubuntu's needrestart must not ask either.

PACKAGES=(zookeeper zookeeper-bin libcurator-recipes-java python3-kazoo python3-prometheus-client
    chromium)
JDK_PACKAGE=default-jdk-headless

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'scripts/test.sh: error: %s\n' "$*" >&2
  exit 1
}

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

# Runs apt-get as root: directly, or via passwordless sudo. Returns 2 when neither is possible.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n env DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a "$@"
  else
    return 2
  fi
}

apt_get() {
  as_root apt-get -q -y \
    -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold \
    "$@" </dev/null
}

install_system_deps() {
  if [ "${ZK_SKIP_SYSTEM_DEPS:-}" = 1 ]; then
    say "ZK_SKIP_SYSTEM_DEPS=1: not checking Debian packages"
    return
  fi
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    die "this is not a Debian/Ubuntu system (no dpkg-query/apt-get). Install ZooKeeper 3.8, Curator 5 \
and a JDK yourself, set ZK_JAVA_CLASSPATH (and ZK_JAVA_HOME), install the kazoo Python module and \
Chromium (or set ZK_SKIP_BROWSER_TESTS=1), and rerun with ZK_SKIP_SYSTEM_DEPS=1."
  fi

  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
  done
  if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
    missing+=("$JDK_PACKAGE")
  fi

  if [ "${#missing[@]}" -eq 0 ]; then
    say "system packages present: ${PACKAGES[*]} (and java, javac)"
    return
  fi

  say "installing missing packages: ${missing[*]}"
  local status=0
  as_root true || status=$?
  if [ "$status" -eq 2 ]; then
    die "missing packages: ${missing[*]}. Not root and no passwordless sudo, so install them yourself:
    sudo apt-get update && sudo apt-get install -y ${missing[*]}
then rerun scripts/test.sh."
  fi

  local attempt
  for attempt in 1 2 3; do
    say "apt-get update (attempt $attempt of 3)"
    # A broken third-party source fails `update` without harming Debian's own lists: go on.
    apt_get update || say "apt-get update reported errors; trying the install anyway"
    say "apt-get install ${missing[*]}"
    if apt_get install --no-install-recommends "${missing[@]}"; then
      break
    fi
    [ "$attempt" -lt 3 ] || die "apt-get could not install: ${missing[*]} (see the apt output above)"
    say "apt-get install failed; retrying in $((attempt * 10)) s"
    sleep $((attempt * 10))
  done

  for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || die "package $pkg is still not installed after apt-get"
  done
  command -v java >/dev/null 2>&1 || die "java is still missing after installing $JDK_PACKAGE"
  command -v javac >/dev/null 2>&1 || die "javac is still missing after installing $JDK_PACKAGE"
  say "installed: ${missing[*]}"
}

install_system_deps

command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (https://rustup.rs) first."

if command -v java >/dev/null 2>&1; then
  say "java: $(java -version 2>&1 | head -n 1)"
fi
say "zookeeper: $(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo 'not from dpkg')"
say "$(cargo --version)"

# `--workspace` unless the caller picked packages themselves (only arguments before `--` count:
# the rest belong to the test binaries).
cargo_args=(test)
select_all=1
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    -p | -p* | --package | --package=* | --workspace | --all | --manifest-path | --manifest-path=*)
      select_all=0
      ;;
  esac
done
[ "$select_all" -eq 1 ] && cargo_args+=(--workspace)
cargo_args+=("$@")

say "cargo ${cargo_args[*]}"
started=$SECONDS
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo "${cargo_args[@]}" </dev/null 2>&1 | tee "$log" || status=$?
say "cargo test exited with status $status after $((SECONDS - started)) s"
# One closing line over every test binary (cargo's own last line is often a doc-test run of a
# crate with none, which reads as "no test ran").
awk '/^test result:/ {
       for (i = 1; i <= NF; i++) {
         if ($(i+1) ~ /^passed/) p += $i
         if ($(i+1) ~ /^failed/) f += $i
         if ($(i+1) ~ /^ignored/) s += $i
       }
     }
     END { printf "all tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
