#!/usr/bin/env bash
# Install the peer image-differencing tools of the benchmark, each in its own virtualenv
# under <repo>/.bench/ (git-ignored), following shared/notes/peers.md:
#
#   .bench/properimage  properimage 0.7.2; its dependency tinynpydb does not build with
#                       setuptools >= 81, so setuptools<81 first, then tinynpydb without
#                       build isolation, then properimage.
#   .bench/sfft         sfft 1.7.3 with numpy<2.4 (sfft calls np.in1d, removed in 2.4).
#                       sfft shells out to SExtractor as `sex`/`sextractor`: Debian's
#                       package source-extractor is installed with apt-get and a `sex`
#                       link to it is put in .bench/sfft/bin (on PATH inside that venv).
#
# Idempotent: a venv whose packages already import is left alone. Prints what it did and,
# at the end, a summary line per peer (OK / FAILED with the reason). Exits non-zero if any
# peer could not be installed.
#
# Usage: bash benchmarks/peers/install.sh [properimage|sfft ...]   (default: both)
# Env:   PYTHON (default python3, must be 3.11), BENCH_DIR (default <repo>/.bench)
set -u -o pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_DIR=${BENCH_DIR:-$REPO/.bench}
PYTHON=${PYTHON:-python3}
PEERS=("$@")
[ ${#PEERS[@]} -eq 0 ] && PEERS=(properimage sfft)

declare -A RESULT
log() { printf '[install] %s\n' "$*"; }

# ensure_gitignore: .bench/ holds the peer venvs and must never be committed.
ensure_gitignore() {
    local gi=$REPO/.gitignore
    if grep -qxF '/.bench/' "$gi" 2>/dev/null; then
        log ".gitignore already ignores /.bench/"
    else
        echo '/.bench/' >> "$gi"
        log "added /.bench/ to $gi"
    fi
}

# make_venv NAME: create $BENCH_DIR/NAME unless it exists; echoes nothing, sets VPY.
make_venv() {
    local dir=$BENCH_DIR/$1
    if [ -x "$dir/bin/python" ]; then
        log "$1: virtualenv exists at $dir"
    else
        log "$1: creating virtualenv at $dir with $($PYTHON --version 2>&1)"
        "$PYTHON" -m venv "$dir" || return 1
        "$dir/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip || return 1
    fi
    VPY=$dir/bin/python
}

# pip_in VENV_PYTHON ARGS...: quiet pip install, output to the venv's install.log.
pip_in() {
    local py=$1; shift
    local logf
    logf=$(dirname "$(dirname "$py")")/install.log
    log "  pip install $*"
    "$py" -m pip install --disable-pip-version-check "$@" >> "$logf" 2>&1 \
        || { tail -n 25 "$logf"; return 1; }
}

install_properimage() {
    make_venv properimage || return 1
    if "$VPY" -c 'import properimage, properimage.operations' 2>/dev/null; then
        log "properimage: already installed ($("$VPY" -m pip show properimage 2>/dev/null | grep ^Version))"
        return 0
    fi
    pip_in "$VPY" 'setuptools<81' wheel || return 1
    pip_in "$VPY" --no-build-isolation 'tinynpydb==0.1.2' || return 1
    pip_in "$VPY" 'properimage==0.7.2' || return 1
    "$VPY" -c 'import properimage.operations' || return 1
    log "properimage: installed"
}

ensure_sextractor() {
    local bindir=$1
    if ! command -v source-extractor >/dev/null 2>&1; then
        log "sfft: installing Debian package source-extractor (apt-get)"
        if [ "$(id -u)" -ne 0 ]; then
            log "sfft: not root, cannot apt-get install source-extractor"; return 1
        fi
        apt-get update -qq >/dev/null && \
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq source-extractor >/dev/null \
            || { log "sfft: apt-get install source-extractor failed"; return 1; }
    else
        log "sfft: source-extractor present at $(command -v source-extractor)"
    fi
    if [ ! -e "$bindir/sex" ]; then
        ln -s "$(command -v source-extractor)" "$bindir/sex"
        log "sfft: linked $bindir/sex -> $(command -v source-extractor)"
    fi
}

install_sfft() {
    make_venv sfft || return 1
    ensure_sextractor "$BENCH_DIR/sfft/bin" || return 1
    if "$VPY" -c 'import sfft; from sfft.EasySparsePacket import Easy_SparsePacket' 2>/dev/null; then
        log "sfft: already installed ($("$VPY" -m pip show sfft 2>/dev/null | grep ^Version))"
        return 0
    fi
    pip_in "$VPY" 'sfft==1.7.3' 'numpy<2.4' || return 1
    "$VPY" -c 'from sfft.EasySparsePacket import Easy_SparsePacket' || return 1
    log "sfft: installed"
}

mkdir -p "$BENCH_DIR"
ensure_gitignore
status=0
for peer in "${PEERS[@]}"; do
    case $peer in
        properimage|sfft) ;;
        *) log "unknown peer '$peer' (known: properimage sfft)"; status=2; continue ;;
    esac
    if "install_$peer"; then
        RESULT[$peer]="OK      $BENCH_DIR/$peer/bin/python"
    else
        RESULT[$peer]="FAILED  see messages above and $BENCH_DIR/$peer/install.log"
        status=1
    fi
done
echo
for peer in "${PEERS[@]}"; do
    [ -n "${RESULT[$peer]:-}" ] && printf '[install] %-12s %s\n' "$peer" "${RESULT[$peer]}"
done
exit $status
