# Sourced by the bench scripts (from the repository root).
#
# release_dir: where cargo puts release binaries. The workspace builds for
# the host triple explicitly (.cargo/config.toml links flakebox statically),
# so they land in target/<host-triple>/release; CARGO_TARGET_DIR is honoured.
release_dir() {
    local target=${CARGO_TARGET_DIR:-$PWD/target}
    case $target in /*) ;; *) target=$PWD/$target ;; esac
    echo "$target/$(rustc -vV | sed -n 's/^host: //p')/release"
}

# built_shim NAME: build the clock crate in release and print the path of the
# shim it embeds (the newest build script output); NAME is the calling script,
# for the error message.
built_shim() {
    cargo build --release -q -p flakebox-clock
    local shim
    shim=$(ls -t "$(release_dir)"/build/flakebox-clock-*/out/libflakebox_shim.so 2>/dev/null | head -n1 || true)
    [ -n "$shim" ] || { echo "$1: libflakebox_shim.so not found under $(release_dir)/build" >&2; return 1; }
    echo "$shim"
}
