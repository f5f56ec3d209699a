#!/bin/sh
# The Rust crate (bindings/rust): its tests against the release and the debug
# build of the C core, its examples (the benchmarks in their smoke length), a
# program outside the crate that uses it as its README says, and clippy,
# rustfmt and rustdoc without complaints. Needs cargo (on PATH or in
# ~/.cargo/bin); skipped without it. Offline: the crate has no dependencies.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
if ! command -v cargo >/dev/null 2>&1 && [ -x "${HOME:-}/.cargo/bin/cargo" ]; then
    PATH=$HOME/.cargo/bin:$PATH
    export PATH
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "skip: cargo not found on PATH or in ~/.cargo/bin (https://rustup.rs)"
    exit 77
fi
# The newest language feature the crate's examples use: C string literals (1.77).
rustc_minor=$(rustc --version 2>/dev/null | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
if [ -z "$rustc_minor" ] || [ "$rustc_minor" -lt 77 ]; then
    echo "skip: $(rustc --version 2>&1) is older than Rust 1.77, which the crate's examples need (https://rustup.rs)"
    exit 77
fi
crate=$(cd "$top_srcdir/bindings/rust" && pwd) || exit 99
# Build outputs in the build tree; C warnings are errors here.
CARGO_TARGET_DIR=$(mkdir -p "$top_builddir/bindings/rust/target" && cd "$top_builddir/bindings/rust/target" && pwd)
HAKMEM_WERROR=1
export CARGO_TARGET_DIR HAKMEM_WERROR
unset HAKMEM_SOURCE_DIR
cargo --version

fail=0
step() {
    name=$1
    shift
    echo "== $name: $*"
    if "$@"; then
        echo "ok $name"
    else
        echo "FAIL $name"
        fail=1
    fi
}
# Runs a command in the crate and checks that its output has a string.
expect_output() {
    want=$1
    shift
    out=$(cd "$crate" && "$@" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    [ $rc -eq 0 ] || return 1
    case "$out" in
    *"$want"*) return 0 ;;
    *) echo "missing in the output: $want"; return 1 ;;
    esac
}

step "cargo test" sh -c "cd '$crate' && cargo test --offline"
step "cargo test, debug-checks" sh -c "cd '$crate' && cargo test --offline --features debug-checks"
step "example global" expect_output "collect() gave" cargo run --offline --example global
step "example bench --smoke" expect_output "ok hakmem (allocator=hakmem-" \
    cargo run --offline --example bench -- --smoke
step "example bench --heap --smoke" expect_output "ok heap-drop (allocator=hakmem-" \
    cargo run --offline --example bench -- --heap --smoke

# A program of its own that depends on the crate by path, as the README shows.
app=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-rust-app.XXXXXX") || exit 99
trap 'rm -rf "$app"' EXIT
mkdir -p "$app/src"
cat > "$app/Cargo.toml" <<EOF
[package]
name = "uses-hakmem"
version = "0.1.0"
edition = "2021"

[dependencies]
hakmem = { path = "$crate" }
EOF
cat > "$app/src/main.rs" <<'EOF'
#[global_allocator]
static GLOBAL: hakmem::Hakmem = hakmem::Hakmem;

fn main() {
    let b = Box::new([1u8; 100]);
    let v: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    assert!(hakmem::owns(b.as_ptr()), "a Box is not hakmem's");
    assert!(v.iter().all(|s| hakmem::owns(s.as_ptr())), "a String is not hakmem's");
    println!("served by hakmem {}", hakmem::version());
}
EOF
step "a program using the crate" expect_output "served by hakmem" \
    sh -c "cd '$app' && cargo run --offline -q"

if cargo clippy --version >/dev/null 2>&1; then
    step "clippy" sh -c "cd '$crate' && cargo clippy --offline --all-targets --all-features -q -- -D warnings"
else
    echo "clippy not installed: not run"
fi
if cargo fmt --version >/dev/null 2>&1; then
    step "rustfmt" sh -c "cd '$crate' && cargo fmt --check"
fi
step "rustdoc" sh -c "cd '$crate' && RUSTDOCFLAGS='-D warnings' cargo doc --offline --no-deps -q"
exit $fail
