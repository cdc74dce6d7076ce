#!/usr/bin/env bash
# Installs a local Kubernetes control plane for the integration tests, built from Go modules:
#   kube-apiserver and kubectl  from k8s.io/kubernetes (the version in control-plane.env)
#   etcd                        from go.etcd.io/etcd/server/v3
# k8s.io/kubernetes pins its staging modules (k8s.io/api, apimachinery, ...) to ./staging, so
# `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` is refused: the build runs in a small
# wrapper module that replaces each staging module with its published v0.<minor>.<patch> tag
# (etcd's server module does the same with ../api, ../pkg, ...). The version ldflags are set
# so `--version` and discovery report the real version.
#
# Binaries land in an envtest-style folder per version outside the repo
# (~/.cache/driftless/envtest/<version>, or $DRIFTLESS_ENVTEST_DIR/<version>). When
# KUBEBUILDER_ASSETS holds kube-apiserver and etcd (e.g. from setup-envtest), nothing is built.
# Idempotent: a second run with the binaries in place returns at once.
# Needs Go (>= the go line of k8s.io/kubernetes' go.mod) and the Go module proxy; git too.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=control-plane.env
. "$here/control-plane.env"
root="${DRIFTLESS_ENVTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/driftless/envtest}"
dest="$root/$KUBE_VERSION"

step() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'install-control-plane: %s\n' "$*" >&2; exit 1; }

# The tests and the demo use git; the test git server makes its TLS certificate with openssl.
missing=()
command -v git >/dev/null || missing+=(git)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "${missing[*]} missing: install them"
  step "installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then apt_prefix=(); else apt_prefix=(sudo); fi
  "${apt_prefix[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${apt_prefix[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed"
fi

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  if [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
    step "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS ($("$KUBEBUILDER_ASSETS/kube-apiserver" --version))"
    exit 0
  fi
  fail "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS must contain executable kube-apiserver and etcd"
fi

if [ -x "$dest/kube-apiserver" ] && [ -x "$dest/etcd" ] && [ -x "$dest/kubectl" ] \
  && "$dest/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes v$KUBE_VERSION"; then
  step "control plane already installed in $dest ($("$dest/kube-apiserver" --version), etcd $ETCD_VERSION)"
  exit 0
fi

command -v go >/dev/null || fail "go not found: install Go $GO_MIN or newer, or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd (e.g. from setup-envtest)"

work="$root/build-$KUBE_VERSION"
rm -rf "$work"
mkdir -p "$work/kubernetes" "$work/etcd" "$dest"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
start=$(date +%s)

# --- kube-apiserver and kubectl ------------------------------------------------------------
step "resolving k8s.io/kubernetes v$KUBE_VERSION"
cd "$work/kubernetes"
staging_minor="0.${KUBE_VERSION#1.}"
kube_mod="$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
[ -f "$kube_mod" ] || fail "could not download k8s.io/kubernetes@v$KUBE_VERSION from the Go module proxy"
{
  printf 'module driftless.test/envtest\n\ngo %s\n\nrequire k8s.io/kubernetes v%s\n\n' "$GO_MIN" "$KUBE_VERSION"
  # Every `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.<minor>.<patch>`.
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#replace \1 => \1 v'"$staging_minor"'#p' "$kube_mod"
} >go.mod
grep -q '^replace k8s.io/api ' go.mod || fail "no staging replacements found in $kube_mod"
go get "k8s.io/kubernetes/cmd/kube-apiserver@v$KUBE_VERSION" "k8s.io/kubernetes/cmd/kubectl@v$KUBE_VERSION" >"$work/get.log" 2>&1 \
  || { tail -n 30 "$work/get.log" >&2; fail "resolving the kube-apiserver module graph failed (log: $work/get.log)"; }

major="${KUBE_VERSION%%.*}"
minor="${KUBE_VERSION#*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags="$ldflags -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
step "building kube-apiserver and kubectl v$KUBE_VERSION (about 10 minutes on 2 cores, once)"
go build -trimpath -ldflags "$ldflags" -o "$work/bin/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl >"$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log" >&2; fail "kube-apiserver build failed (log: $work/build.log)"; }

# --- etcd ----------------------------------------------------------------------------------
step "building etcd v$ETCD_VERSION"
cd "$work/etcd"
{
  printf 'module driftless.test/etcd\n\ngo %s\n\nrequire go.etcd.io/etcd/server/v3 v%s\n\n' "$GO_MIN" "$ETCD_VERSION"
  for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
    printf 'replace go.etcd.io/etcd/%s => go.etcd.io/etcd/%s v%s\n' "$m" "$m" "$ETCD_VERSION"
  done
} >go.mod
go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >"$work/get-etcd.log" 2>&1 \
  || { tail -n 30 "$work/get-etcd.log" >&2; fail "resolving etcd failed (log: $work/get-etcd.log)"; }
go build -trimpath -ldflags "-s -w" -o "$work/bin/etcd" go.etcd.io/etcd/server/v3 >"$work/build-etcd.log" 2>&1 \
  || { tail -n 30 "$work/build-etcd.log" >&2; fail "etcd build failed (log: $work/build-etcd.log)"; }

# Move into place last, kube-apiserver at the very end, so a killed build is never taken as done.
mv -f "$work/bin/etcd" "$work/bin/kubectl" "$dest/"
mv -f "$work/bin/kube-apiserver" "$dest/kube-apiserver"
rm -rf "$work"
step "installed $("$dest/kube-apiserver" --version), kubectl and etcd $ETCD_VERSION in $dest ($(( $(date +%s) - start )) s)"
