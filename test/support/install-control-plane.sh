#!/usr/bin/env bash
# Installs a local Kubernetes control plane for the integration tests:
#   etcd            from Debian's etcd-server package
#   kube-apiserver  v1.20.2, built from Debian bookworm's `kubernetes` source package
# It also installs git and kubectl (Debian's kubernetes-client) when they are missing.
# Binaries land in an envtest-style folder outside the repo (default
# ~/.cache/driftless/envtest, override with DRIFTLESS_ENVTEST_DIR). When
# KUBEBUILDER_ASSETS already holds kube-apiserver and etcd, nothing is done.
# Idempotent: a second run with the binaries in place returns at once.
set -euo pipefail

dest="${DRIFTLESS_ENVTEST_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/driftless/envtest}"
work="$(dirname "$dest")/build"

step() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'install-control-plane: %s\n' "$*" >&2; exit 1; }

# The tests and the demo use git and kubectl (as the independent observer) too.
missing=()
command -v git >/dev/null || missing+=(git)
command -v kubectl >/dev/null || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || fail "${missing[*]} missing: install git and kubectl"
  step "installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then apt_prefix=(); else apt_prefix=(sudo); fi
  "${apt_prefix[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${apt_prefix[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed"
fi

if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
  if [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
    step "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
    exit 0
  fi
  fail "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS must contain executable kube-apiserver and etcd"
fi

if [ -x "$dest/kube-apiserver" ] && [ -x "$dest/etcd" ] && "$dest/kube-apiserver" --version >/dev/null 2>&1; then
  step "control plane already installed in $dest ($("$dest/kube-apiserver" --version))"
  exit 0
fi

command -v apt-get >/dev/null || fail "apt-get not found: on a non-Debian machine set KUBEBUILDER_ASSETS to a folder with kube-apiserver and etcd (e.g. from setup-envtest)"
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || fail "must run as root or with sudo to install Debian packages"
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

src_list=/etc/apt/sources.list.d/driftless-bookworm-src.sources
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# The deb-src entry is signed by Debian's archive keyring, which Debian has and Ubuntu lacks.
if [ ! -f "$keyring" ]; then
  # An entry left by an earlier run without the keyring would make this update fail: re-add it below.
  $sudo rm -f "$src_list"
  step "installing debian-archive-keyring (signs the bookworm deb-src entry)"
  $sudo apt-get update -qq || fail "apt-get update failed"
  $sudo apt-get install -y -qq --no-install-recommends debian-archive-keyring >/dev/null \
    || fail "apt-get install debian-archive-keyring failed"
  [ -f "$keyring" ] || fail "debian-archive-keyring did not provide $keyring"
fi
if [ ! -f "$src_list" ]; then
  step "adding a deb-src entry for bookworm main"
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: %s\n' "$keyring" \
    | $sudo tee "$src_list" >/dev/null
fi

step "apt-get update"
$sudo apt-get update -qq || fail "apt-get update failed"
step "installing etcd-server golang-go rsync jq dpkg-dev golang-github-modern-go-reflect2-dev"
$sudo apt-get install -y -qq --no-install-recommends \
  etcd-server golang-go rsync jq dpkg-dev golang-github-modern-go-reflect2-dev >/dev/null \
  || fail "apt-get install failed"

mkdir -p "$dest" "$work"
ln -sf "$(command -v etcd)" "$dest/etcd"

cd "$work"
if ! ls kubernetes_1.20.2*.orig.tar.gz >/dev/null 2>&1; then
  step "downloading the kubernetes source package"
  apt-get source --download-only kubernetes >/dev/null 2>&1 || fail "apt-get source --download-only kubernetes failed"
fi
tarball="$(ls kubernetes_*.orig.tar.gz | head -n1)"
rm -rf src && mkdir src
step "unpacking $tarball"
tar -xzf "$tarball" -C src --strip-components=1 || fail "could not unpack $tarball"

reflect2=/usr/share/gocode/src/github.com/modern-go/reflect2
[ -d "$reflect2" ] || fail "$reflect2 missing (package golang-github-modern-go-reflect2-dev)"
step "replacing vendored reflect2 1.0.1 with Debian's 1.0.2 (1.0.1 crashes under Go 1.19)"
rm -rf src/vendor/github.com/modern-go/reflect2
cp -r "$reflect2" src/vendor/github.com/modern-go/reflect2

export GOPATH="$work/.go" CGO_ENABLED=0 GOFLAGS=-mod=vendor GO111MODULE=on
mkdir -p "$GOPATH/src/k8s.io"
ln -sfn "$work/src" "$GOPATH/src/k8s.io/kubernetes"
step "building kube-apiserver (about 5 minutes on 2 cores)"
(cd "$GOPATH/src/k8s.io/kubernetes" && make WHAT=cmd/kube-apiserver) >"$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log" >&2; fail "kube-apiserver build failed (log: $work/build.log)"; }

cp "$work/src/_output/local/bin/linux/"*/kube-apiserver "$dest/kube-apiserver"
rm -rf "$work/src" "$GOPATH"
step "installed $("$dest/kube-apiserver" --version) and $("$dest/etcd" --version | head -n1) in $dest"
