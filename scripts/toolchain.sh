#!/usr/bin/env bash
# Makes a Pulumi CLI v3.248.0 available and prints its path on the last line.
#
# No Pulumi binary can be downloaded on these machines (design §7): if a
# suitable `pulumi` is already on PATH we use it, otherwise we build the CLI
# from Go modules into a per-user cache keyed by version, so a machine builds
# it once and every later run is a quick no-op.
set -euo pipefail

PULUMI_VERSION=3.248.0
CACHE_ROOT="${MULTIWAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multiwan}"
DEST="$CACHE_ROOT/pulumi-v$PULUMI_VERSION"
BIN="$DEST/bin/pulumi"

log() { printf 'toolchain: %s\n' "$*" >&2; }
die() { printf 'toolchain: FAILED at step "%s": %s\n' "$1" "$2" >&2; exit 1; }

# Succeeds when version $1 >= $2 (both x.y.z).
version_at_least() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# Times one step and names it when it fails.
step() {
  local name=$1; shift
  local start=$SECONDS
  log "$name ..."
  if ! "$@"; then die "$name" "command failed: $*"; fi
  log "$name done in $((SECONDS - start)) s"
}

if command -v pulumi >/dev/null 2>&1 && [ "$(command -v pulumi)" != "$BIN" ]; then
  have=$(pulumi version 2>/dev/null | sed 's/^v//') || have=""
  if [ -n "$have" ] && version_at_least "$have" "$PULUMI_VERSION"; then
    log "using pulumi v$have from PATH ($(command -v pulumi))"
    command -v pulumi
    exit 0
  fi
fi

# The stamp is written only after the built CLI reported the right version;
# reading it costs nothing, while starting the 112 MB CLI costs ~0.1 s, on
# every `npm run pulumi`.
STAMP="$BIN.version"
if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" != "v$PULUMI_VERSION" ] &&
  [ "$("$BIN" version 2>/dev/null)" = "v$PULUMI_VERSION" ]; then
  echo "v$PULUMI_VERSION" >"$STAMP" # built before stamps existed
fi
if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "v$PULUMI_VERSION" ]; then
  log "pulumi v$PULUMI_VERSION already built in $DEST"
  echo "$BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 ||
  die "find go" "Go is not installed; install Go 1.25 or newer (e.g. 'apt-get install golang-go' or /usr/local/go) and rerun"

WRAP="$DEST/src"
mkdir -p "$WRAP" "$DEST/bin" || die "prepare cache" "cannot create $DEST"

write_wrapper() {
  cat >"$WRAP/go.mod" <<MOD
module multiwan.local/pulumi-cli

go 1.25

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)
MOD
  cat >"$WRAP/tools.go" <<'GO'
//go:build tools

// Package tools pins the Pulumi CLI's main package so `go mod tidy` resolves it.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
}

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
step "write wrapper module" write_wrapper
step "fetch modules (go mod tidy)" bash -c "cd '$WRAP' && go mod tidy"
step "build pulumi v$PULUMI_VERSION" bash -c "cd '$WRAP' && go build -trimpath -tags osusergo,grpcnotrace \
  -ldflags '-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION' \
  -o '$BIN.tmp' github.com/pulumi/pulumi/pkg/v3/cmd/pulumi && mv '$BIN.tmp' '$BIN'"
got=$("$BIN" version) || die "check version" "the built CLI does not run"
[ "$got" = "v$PULUMI_VERSION" ] || die "check version" "built CLI reports $got, expected v$PULUMI_VERSION"
echo "$got" >"$STAMP"
log "pulumi $got ready in $DEST"
echo "$BIN"
