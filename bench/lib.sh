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
