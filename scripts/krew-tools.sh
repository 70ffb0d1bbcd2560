#!/usr/bin/env bash
# Installs krew and validate-krew-manifest (Go module sigs.k8s.io/krew) into a cache outside the
# repository, once, and prints the folder. krew is linked as kubectl-krew so kubectl finds it.
set -euo pipefail
KREW=v0.4.3
DIR=${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-zerolossupgrade/tools/krew-$KREW
if [ ! -x "$DIR/validate-krew-manifest" ] || [ ! -x "$DIR/krew" ]; then
  GOBIN=$DIR CGO_ENABLED=0 go install "sigs.k8s.io/krew/cmd/krew@$KREW" "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW" >&2
fi
ln -sf krew "$DIR/kubectl-krew"
echo "$DIR"
