# Cross build for Debian 12 arm64 (Raspberry Pi OS 64-bit) on a Debian amd64
# machine with multiarch: crossbuild-essential-arm64 and the :arm64 dev
# packages (tests/cross/arm64.sh installs them).
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Debian's multiarch layout: arm64 headers live in /usr/include (shared,
# arch-independent) and /usr/include/aarch64-linux-gnu, libraries in
# /usr/lib/aarch64-linux-gnu. Search only there for libraries, so an amd64
# library is never picked up.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu)
# The host pkg-config, reading the arm64 .pc files only (Debian has no
# aarch64-linux-gnu-pkg-config unless pkgconf:arm64 replaces the host one).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)

# Tests run the arm64 binaries through qemu-user (no binfmt needed), with
# the multiarch arm64 libraries of this machine: -L / loads ld.so and
# libc.so.6 both from libc6:arm64. Not -L /usr/aarch64-linux-gnu: that takes
# ld.so from libc6-arm64-cross (2.36-8cross1) while libc.so.6 still comes
# from libc6:arm64 (2.36-9+deb12uN, /lib/aarch64-linux-gnu is not under the
# prefix); the two disagree on ld.so's private data, and the child of every
# fork() loops for ever in glibc's stack-list walk.
find_program(QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${QEMU_AARCH64} -L /)
endif()

set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
