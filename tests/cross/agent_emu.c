/* agent-emu: AGENT_BIN of the CLI tests in a cross build. Runs the arm64
 * agent under the emulator (qemu-aarch64-static -L /) with the same
 * arguments, pid and environment: `EMU_ARGV... AGENT_PATH args...`.
 *
 * A static host program, built with the host compiler (tests/CMakeLists.txt),
 * not a shell script: the tests hand the agent an arm64 LD_PRELOAD (the VFS
 * fault shim), and a dynamic host program such as /bin/sh started with it
 * makes the host ld.so print "cannot be preloaded" on stderr before the
 * script even runs, which breaks every one-line-error check. The static
 * qemu-aarch64-static ignores LD_PRELOAD too, so only the guest sees it. */
#define _POSIX_C_SOURCE 200809L /* execv */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef EMU_ARGV
#error "EMU_ARGV (the emulator command as C strings) is not defined"
#endif
#ifndef AGENT_PATH
#error "AGENT_PATH (the arm64 agent binary) is not defined"
#endif

int main(int argc, char **argv)
{
    static char *const emu[] = {EMU_ARGV};
    size_t nemu = sizeof emu / sizeof emu[0];
    char **av = calloc(nemu + (size_t)argc + 1, sizeof *av);
    if (!av) {
        fputs("agent-emu: out of memory\n", stderr);
        return 127;
    }
    size_t n = 0;
    for (size_t i = 0; i < nemu; i++)
        av[n++] = emu[i];
    av[n++] = AGENT_PATH;
    for (int i = 1; i < argc; i++)
        av[n++] = argv[i];
    av[n] = NULL;
    execv(av[0], av); /* exec: the tests signal the agent by this pid */
    perror(av[0]);
    return 127;
}
