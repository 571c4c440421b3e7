#!/bin/sh
# Installs hark from a GitHub release: picks the binary for this machine,
# checks it against the release's SHA256SUMS, puts it in ~/.local/bin and
# runs `hark service install` so the agent starts at login.
#
#   curl -fsSL https://github.com/hark-mesh/hark/releases/latest/download/install.sh | sh
#   curl -fsSL .../install.sh | sh -s -- --no-service
#
# Environment:
#   HARK_REPO         GitHub owner/name of the releases (default hark-mesh/hark)
#   HARK_VERSION      a release tag such as v0.1.0 (default: the latest release)
#   HARK_RELEASE_URL  the directory of the release's files; overrides the two above
#   HARK_GITHUB_URL   for a GitHub Enterprise server or mirror (default https://github.com)
#   HARK_INSTALL_DIR  where `hark` goes (default ~/.local/bin)
#   HARK_NO_SERVICE=1 do not run `hark service install` (same as --no-service)
#
# POSIX sh (dash, busybox, bash, zsh); needs curl or wget, and sha256sum or shasum.

set -eu

HARK_REPO=${HARK_REPO:-hark-mesh/hark}
HARK_GITHUB_URL=${HARK_GITHUB_URL:-https://github.com}

say() {
  printf '%s\n' "$*"
}

fail() {
  printf 'hark install: %s\n' "$*" >&2
  exit 1
}

usage() {
  say "Usage: install.sh [--no-service]"
  say "Installs hark to \${HARK_INSTALL_DIR:-~/.local/bin} and runs \`hark service install\`."
  say "Environment: HARK_VERSION, HARK_REPO, HARK_RELEASE_URL, HARK_INSTALL_DIR, HARK_NO_SERVICE=1."
}

# Sets TARGET to the release's name for this machine (Rust target triples,
# as `deno compile --target` names them).
detect_target() {
  os=$(uname -s)
  arch=$(uname -m)
  case $arch in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) fail "there is no hark binary for the $arch processor; build one from source with \`deno task compile\`" ;;
  esac
  case $os in
    Linux) TARGET=$arch-unknown-linux-gnu ;;
    Darwin)
      # A shell running under Rosetta reports x86_64 on Apple silicon; the
      # native binary is faster and needs no Rosetta.
      if [ "$arch" = x86_64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
        arch=aarch64
      fi
      TARGET=$arch-apple-darwin
      ;;
    MINGW* | MSYS* | CYGWIN*)
      fail "on Windows, download hark-VERSION-x86_64-pc-windows-msvc.exe from the release page instead"
      ;;
    *) fail "there is no hark binary for $os; build one from source with \`deno task compile\`" ;;
  esac
}

# Chosen before anything is downloaded, so a missing tool fails early.
pick_tools() {
  if command -v curl >/dev/null 2>&1; then
    DOWNLOADER=curl
  elif command -v wget >/dev/null 2>&1; then
    DOWNLOADER=wget
  else
    fail "needs curl or wget to download hark"
  fi
  if command -v sha256sum >/dev/null 2>&1; then
    HASHER="sha256sum"
  elif command -v shasum >/dev/null 2>&1; then
    HASHER="shasum -a 256"
  else
    fail "needs sha256sum or shasum to check the download; install one, or download hark by hand"
  fi
}

download() { # URL FILE
  if [ "$DOWNLOADER" = curl ]; then
    curl -fsSL --retry 3 -o "$2" "$1" || fail "cannot download $1"
  else
    wget -q -O "$2" "$1" || fail "cannot download $1"
  fi
}

main() {
  service=yes
  if [ "${HARK_NO_SERVICE:-}" = 1 ]; then service=no; fi
  for arg in "$@"; do
    case $arg in
      --no-service) service=no ;;
      -h | --help)
        usage
        exit 0
        ;;
      *)
        usage >&2
        printf 'hark install: unknown option "%s"\n' "$arg" >&2
        exit 2
        ;;
    esac
  done

  detect_target
  pick_tools
  if [ -n "${HARK_RELEASE_URL:-}" ]; then
    base=${HARK_RELEASE_URL%/}
  elif [ -n "${HARK_VERSION:-}" ]; then
    base=$HARK_GITHUB_URL/$HARK_REPO/releases/download/v${HARK_VERSION#v}
  else
    base=$HARK_GITHUB_URL/$HARK_REPO/releases/latest/download
  fi
  dir=${HARK_INSTALL_DIR:-${HOME:?set HOME or HARK_INSTALL_DIR}/.local/bin}

  work=$(mktemp -d 2>/dev/null || mktemp -d -t hark) || fail "cannot make a temporary directory"
  partial=
  trap 'rm -rf "$work"; if [ -n "$partial" ]; then rm -f "$partial"; fi' EXIT
  trap 'exit 1' HUP INT TERM

  say "Downloading hark for $TARGET from $base"
  download "$base/SHA256SUMS" "$work/SHA256SUMS"
  # SHA256SUMS names each binary hark-VERSION-TARGET; reading the name from
  # it means "latest" needs no extra request to learn the version.
  line=$(awk -v target="$TARGET" '
    { name = $2; sub(/^\*/, "", name) }
    name ~ ("^hark-[0-9A-Za-z.+-]+-" target "$") { print $1, name; exit }
  ' "$work/SHA256SUMS")
  [ -n "$line" ] || fail "the release at $base has no binary for $TARGET (none is listed in its SHA256SUMS)"
  expected=${line%% *}
  asset=${line#* }
  case $expected in
    *[!0-9a-f]* | "") fail "SHA256SUMS at $base has a malformed line for $asset" ;;
  esac
  [ ${#expected} -eq 64 ] || fail "SHA256SUMS at $base has a malformed line for $asset"

  download "$base/$asset" "$work/$asset"
  actual=$($HASHER "$work/$asset" | awk '{ print $1 }')
  if [ "$actual" != "$expected" ]; then
    rm -f "$work/$asset"
    fail "checksum mismatch for $asset: SHA256SUMS says $expected, the download is $actual. The download was deleted and nothing was installed; try again, and report it if it persists."
  fi

  mkdir -p "$dir" || fail "cannot create $dir; set HARK_INSTALL_DIR to a directory you can write to"
  partial=$dir/.hark.$$.tmp
  cp "$work/$asset" "$partial" || fail "cannot write to $dir; set HARK_INSTALL_DIR to a directory you can write to"
  chmod 755 "$partial"
  # Renamed into place, never copied over: an agent that is running keeps
  # its old binary, and Linux refuses to overwrite a running executable.
  mv -f "$partial" "$dir/hark"
  partial=
  version=$("$dir/hark" --version 2>&1) || fail "installed $dir/hark, but it does not run on this machine: $version"
  say "Installed $version to $dir/hark"

  status=0
  if [ "$service" = yes ]; then
    say "Running: hark service install"
    if ! "$dir/hark" service install; then
      printf '%s\n' "hark install: \`hark service install\` failed (see above). hark itself is installed: run \`hark run\` in a terminal, or fix the cause and run \`hark service install\` again." >&2
      status=1
    fi
  fi

  say ""
  case ":$PATH:" in
    *":$dir:"*) ;;
    *)
      say "$dir is not on your PATH. Add it, for example in ~/.profile:"
      say "  export PATH=\"$dir:\$PATH\""
      say ""
      ;;
  esac
  say "Next steps:"
  if [ "$service" = yes ]; then
    say "  hark network show          on the first machine: prints the join token of the network its agent made"
  else
    say "  hark network create NAME   on the first machine: makes a network and prints its join token"
  fi
  say "  hark network join TOKEN    on every other machine; then restart its agent"
  if [ "$service" = no ]; then
    say "  hark run                   runs the agent in a terminal (\`hark service install\` runs it at login)"
  fi
  say "  hark send \"hello\"          publishes an event; every agent in the network gets it"
  say "  hark doctor                checks this machine and says what is missing"
  exit "$status"
}

# Everything runs from here, on the last line: if `curl | sh` is cut off
# mid-download, the shell never sees this line and runs nothing.
main "$@"
