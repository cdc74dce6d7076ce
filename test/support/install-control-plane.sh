#!/usr/bin/env bash
# Installs a local Kubernetes cluster for the integration tests, built from Go modules:
#   kube-apiserver, kubectl, kube-controller-manager, kube-scheduler
#                               from k8s.io/kubernetes (the version in control-plane.env, or
#                               DRIFTLESS_KUBE_VERSION for the compatibility run)
#   etcd                        from go.etcd.io/etcd/server/v3
#   kwok                        from sigs.k8s.io/kwok: fake nodes whose Pods run, become Ready
#                               and complete, so Deployments roll out and Jobs finish
# k8s.io/kubernetes pins its staging modules (k8s.io/api, apimachinery, ...) to ./staging, so
# `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` is refused: the build runs in a small
# wrapper module that replaces each staging module with its published v0.<minor>.<patch> tag
# (etcd's server module does the same with ../api, ../pkg, ...). The version ldflags are set
# so `--version` and discovery report the real version.
#
# Binaries land in an envtest-style folder per version outside the repo
# (~/.cache/driftless/envtest/<version>, or $DRIFTLESS_ENVTEST_DIR/<version>). When
# KUBEBUILDER_ASSETS holds kube-apiserver and etcd (e.g. from setup-envtest), those are taken
# from there and only kubectl, the controllers and kwok are built. DRIFTLESS_NO_CONTROLLERS=1
# builds no controllers and no kwok (the compatibility run needs none; tests that need them skip,
# saying so). Idempotent: a second run with the binaries in place returns at once.
# Needs Go (>= the go line of k8s.io/kubernetes' go.mod) and the Go module proxy; git too.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=control-plane.env
. "$here/control-plane.env"
KUBE_VERSION="${DRIFTLESS_KUBE_VERSION:-$KUBE_VERSION}"
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

# What this machine needs: everything below that is not already in place.
k8s_bins=(kube-apiserver kubectl kube-controller-manager kube-scheduler)
need_etcd=1 need_kwok=1
if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ] \
    || fail "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS must contain executable kube-apiserver and etcd"
  step "using kube-apiserver and etcd from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS ($("$KUBEBUILDER_ASSETS/kube-apiserver" --version))"
  k8s_bins=(kubectl kube-controller-manager kube-scheduler)
  need_etcd=0
fi
if [ "${DRIFTLESS_NO_CONTROLLERS:-}" = 1 ]; then
  step "DRIFTLESS_NO_CONTROLLERS=1: no kube-controller-manager, kube-scheduler or kwok (tests that need them skip, saying so)"
  k8s_bins=("${k8s_bins[@]/kube-controller-manager}")
  k8s_bins=("${k8s_bins[@]/kube-scheduler}")
  need_kwok=0
fi

present() { [ -x "$1/$2" ] || { [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$2" ]; }; }
build_k8s=()
for bin in "${k8s_bins[@]}"; do
  [ -n "$bin" ] || continue
  if ! present "$dest" "$bin" || { [ "$bin" = kube-apiserver ] && ! "$dest/$bin" --version 2>/dev/null | grep -qx "Kubernetes v$KUBE_VERSION"; }; then
    build_k8s+=("$bin")
  fi
done
[ "$need_etcd" = 1 ] && [ -x "$dest/etcd" ] && need_etcd=0
[ "$need_kwok" = 1 ] && [ -x "$dest/kwok" ] && [ -f "$dest/kwok-stages.yaml" ] && need_kwok=0
if [ ${#build_k8s[@]} -eq 0 ] && [ "$need_etcd" = 0 ] && [ "$need_kwok" = 0 ]; then
  step "cluster already installed in $dest (Kubernetes v$KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
  exit 0
fi

command -v go >/dev/null || fail "go not found: install Go $GO_MIN or newer, or set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd (e.g. from setup-envtest) and DRIFTLESS_NO_CONTROLLERS=1"

work="$root/build-$KUBE_VERSION"
rm -rf "$work"
mkdir -p "$work/kubernetes" "$work/etcd" "$work/bin" "$dest"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off
start=$(date +%s)

# --- Kubernetes: one build of every binary missing, sharing its compile ---------------------
if [ ${#build_k8s[@]} -gt 0 ]; then
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
  pkgs=()
  for bin in "${build_k8s[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$bin"); done
  go get "${pkgs[@]/%/@v$KUBE_VERSION}" >"$work/get.log" 2>&1 \
    || { tail -n 30 "$work/get.log" >&2; fail "resolving the k8s.io/kubernetes module graph failed (log: $work/get.log)"; }

  major="${KUBE_VERSION%%.*}"
  minor="${KUBE_VERSION#*.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  step "building ${build_k8s[*]} v$KUBE_VERSION (10 to 25 minutes on 2 cores, once)"
  go build -trimpath -ldflags "$ldflags" -o "$work/bin/" "${pkgs[@]}" >"$work/build.log" 2>&1 \
    || { tail -n 30 "$work/build.log" >&2; fail "Kubernetes build failed (log: $work/build.log)"; }
fi

# --- etcd ----------------------------------------------------------------------------------
if [ "$need_etcd" = 1 ]; then
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
fi

# --- kwok, and its own stages for fake nodes and Pods ----------------------------------------
if [ "$need_kwok" = 1 ]; then
  step "building kwok v$KWOK_VERSION"
  cd "$work"
  GOBIN="$work/bin" go install "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" >"$work/build-kwok.log" 2>&1 \
    || { tail -n 30 "$work/build-kwok.log" >&2; fail "kwok build failed (log: $work/build-kwok.log)"; }
  # kwok (unlike kwokctl) starts with no stages: take its released "fast" ones from the module.
  kwok_dir="$(go mod download -json "sigs.k8s.io/kwok@v$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  for stage in node/fast/node-initialize pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    [ -f "$kwok_dir/kustomize/stage/$stage.yaml" ] || fail "kwok v$KWOK_VERSION has no stage $stage"
    printf -- '---\n'
    cat "$kwok_dir/kustomize/stage/$stage.yaml"
  done >"$work/bin/kwok-stages.yaml"
fi

# Move into place last, kube-apiserver at the very end, so a killed build is never taken as done.
for file in "$work/bin/"*; do
  [ "$(basename "$file")" = kube-apiserver ] || mv -f "$file" "$dest/"
done
[ -f "$work/bin/kube-apiserver" ] && mv -f "$work/bin/kube-apiserver" "$dest/kube-apiserver"
rm -rf "$work"
step "installed in $dest: $(cd "$dest" && echo *) ($(( $(date +%s) - start )) s)"
