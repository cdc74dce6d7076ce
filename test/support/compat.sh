#!/usr/bin/env bash
# The compatibility run (`npm run test:compat`, run by .ci/run after `npm test`): the oldest
# Kubernetes minor Amazon EKS still has in standard support (KUBE_COMPAT_VERSION in
# control-plane.env) under the tests where the API server's own behaviour decides: the manifest
# corpus, the decision table, field managers and the realworld release sets. Its API server is
# built once like the main one, without controllers (none of these tests needs them).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=control-plane.env
. "$here/control-plane.env"
export DRIFTLESS_KUBE_VERSION="$KUBE_COMPAT_VERSION"
DRIFTLESS_NO_CONTROLLERS=1 bash "$here/install-control-plane.sh"
cd "$here/../.."
exec npx vitest run \
  test/reconcile/corpus.test.ts \
  test/reconcile/decision-cases.test.ts \
  test/reconcile/decisions.test.ts \
  test/reconcile/drift.test.ts \
  test/reconcile/fidelity.test.ts \
  test/realworld.test.ts
