# Sourced by the bin/ scripts: finds the repository and (re)builds a release binary with
# cargo when it is missing or older than its sources. Honours CARGO_TARGET_DIR.
#
#   ensure_built BINARY PACKAGE SOURCE_DIR...    sets $binary to the binary's path

# This file lives in bin/lib/ of the repository.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"

ensure_built() {
    local name="$1" package="$2"
    shift 2
    binary="${CARGO_TARGET_DIR:-$root/target}/release/$name"
    local sources=("$root/Cargo.lock" "$root/Cargo.toml")
    local dir
    for dir in "$@"; do
        sources+=("$root/$dir/src" "$root/$dir/Cargo.toml")
    done
    local existing=()
    local candidate
    for candidate in "${sources[@]}"; do
        [[ -e $candidate ]] && existing+=("$candidate")
    done
    if [[ -x $binary ]] && [[ -z "$(find "${existing[@]}" -newer "$binary" -print -quit 2>/dev/null)" ]]; then
        return 0
    fi
    if [[ ! -f $root/Cargo.toml ]] || ! command -v cargo >/dev/null 2>&1; then
        if [[ -x $binary ]]; then
            echo "$name: cannot rebuild (no cargo or no sources); running the existing binary" >&2
            return 0
        fi
        echo "$name: $binary is missing and cannot be built: install Rust (cargo)" >&2
        exit 1
    fi
    echo "$name: building (cargo build --release -p $package)..." >&2
    # Build output goes to stderr: stdout carries only what the program prints.
    cargo build --release --quiet -p "$package" --bin "$name" --manifest-path "$root/Cargo.toml" >&2
    # Cargo leaves an up-to-date binary untouched; mark it fresh so the next start skips cargo.
    touch "$binary"
}
