#!/usr/bin/env bash
# Installs objimpl for C programs: the header, the static and the shared
# library (with a soname), and a pkg-config file, under PREFIX (default
# /usr/local). cargo-c's `cargo cinstall` is this ecosystem's usual way; it
# is not needed here.
#
#   scripts/install-c.sh [--check] [PREFIX]
#   cc prog.c $(pkg-config --cflags --libs objimpl)            # shared; runs without LD_LIBRARY_PATH
#   cc prog.c $(pkg-config --cflags objimpl) PREFIX/lib/libobjimpl_capi.a $(pkg-config --libs-only-l --static objimpl | sed 's/-lobjimpl_capi//')
#
# (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig when PREFIX is not one pkg-config
# searches.) The libraries are built with the c-release profile: whole-
# program LTO, one codegen unit, panic=abort, and the static library's
# debug info stripped (about 3 MB instead of 22).
set -euo pipefail
cd "$(dirname "$0")/.."

CHECK=
if [[ ${1:-} == --check ]]; then
    CHECK=1
    shift
fi
PREFIX=$(realpath -m "${1:-/usr/local}")
VERSION=$(cargo pkgid -p objimpl-capi | sed 's/.*[#@]//')
MAJOR=${VERSION%%.*}
SONAME=libobjimpl_capi.so.$MAJOR
OUT=target/c-release

# One crate type per build: LTO applies to a staticlib only when it is the
# crate's only output.
cargo rustc -q --profile c-release -p objimpl-capi --lib --crate-type staticlib
cp "$OUT/libobjimpl_capi.a" "$OUT/libobjimpl_capi.static.a"
strip --strip-debug "$OUT/libobjimpl_capi.static.a"
cargo rustc -q --profile c-release -p objimpl-capi --lib --crate-type cdylib -- \
    -C "link-arg=-Wl,-soname,$SONAME"

mkdir -p "$PREFIX/include" "$PREFIX/lib/pkgconfig"
install -m 644 objimpl-capi/include/objimpl.h "$PREFIX/include/objimpl.h"
install -m 644 "$OUT/libobjimpl_capi.static.a" "$PREFIX/lib/libobjimpl_capi.a"
install -m 755 "$OUT/libobjimpl_capi.so" "$PREFIX/lib/libobjimpl_capi.so.$VERSION"
ln -sf "libobjimpl_capi.so.$VERSION" "$PREFIX/lib/$SONAME"
ln -sf "$SONAME" "$PREFIX/lib/libobjimpl_capi.so"

# What the static library needs from the system (rustc --print
# native-static-libs, on Linux).
cat > "$PREFIX/lib/pkgconfig/objimpl.pc" <<EOF
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: objimpl
Description: CPython's object memory interface (objimpl.h, pymem.h) and its pool allocator, in Rust
Version: $VERSION
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lobjimpl_capi
Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl
Cflags: -I\${includedir}
EOF

echo "installed objimpl $VERSION under $PREFIX:"
ls -l "$PREFIX/include/objimpl.h" "$PREFIX/lib"/libobjimpl_capi* "$PREFIX/lib/pkgconfig/objimpl.pc" |
    awk '{print "    " $5 "\t" $9 ($10 ? " " $10 " " $11 : "")}'

# --check: the example program, built as a user would against what was
# installed, shared (run without LD_LIBRARY_PATH) and static.
if [[ -n $CHECK ]]; then
    export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    demo=examples/c/objimpl_demo.c
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # shellcheck disable=SC2046  # pkg-config's words are meant to split
    cc -std=c11 -Wall -Wextra -Werror "$demo" $(pkg-config --cflags --libs objimpl) -o "$work/shared"
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror "$demo" $(pkg-config --cflags objimpl) \
        "$PREFIX/lib/libobjimpl_capi.a" \
        $(pkg-config --static --libs-only-l objimpl | sed 's/-lobjimpl_capi//') -o "$work/static"
    for build in shared static; do
        env -u LD_LIBRARY_PATH "$work/$build" > "$work/$build.out"
        grep -q '^Total' "$work/$build.out" || { echo "the $build example printed no table"; exit 1; }
    done
    # ldd's output is read whole: `ldd | grep -q` under pipefail fails when
    # grep stops reading at its match and ldd dies of SIGPIPE.
    deps=$(env -u LD_LIBRARY_PATH ldd "$work/shared")
    [[ $deps == *"$PREFIX/lib/$SONAME"* ]] || {
        echo "the shared example did not find $PREFIX/lib/$SONAME; ldd says:"
        echo "$deps"
        exit 1
    }
    echo "checked: the example builds and runs against the shared ($SONAME, rpath) and the static library"
fi
