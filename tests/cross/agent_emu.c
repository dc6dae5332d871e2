/* agent-emu: AGENT_BIN of the CLI tests in a cross build. Runs the arm64
 * agent under the emulator (qemu-aarch64-static -L /) with the same
 * arguments, pid and environment: `EMU_ARGV... AGENT_PATH args...`.
 *
 * A static host program, built with the host compiler (tests/CMakeLists.txt),
 * not a shell script: the tests hand the agent an arm64 LD_PRELOAD (the VFS
 * fault shim), and a dynamic host program such as /bin/sh started with it
 * makes the host ld.so print "cannot be preloaded" on stderr before the
 * script even runs, which breaks every one-line-error check. The static
 * qemu-aarch64-static ignores LD_PRELOAD too, so only the guest sees it.
 *
 * A host library in LD_PRELOAD (`faketime` puts the amd64 libfaketime there)
 * is swapped for the arm64 build of the same Debian package when that is
 * installed (multiarch: /x86_64-linux-gnu/ -> /aarch64-linux-gnu/), so the
 * agent under test really sees the faked clock. */
#define _POSIX_C_SOURCE 200809L /* execv, setenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef EMU_ARGV
#error "EMU_ARGV (the emulator command as C strings) is not defined"
#endif
#ifndef AGENT_PATH
#error "AGENT_PATH (the arm64 agent binary) is not defined"
#endif

#define HOST_DIR "/x86_64-linux-gnu/"
#define GUEST_DIR "/aarch64-linux-gnu/"

/* LD_PRELOAD with each host library that has an arm64 twin replaced by it
 * (entries are separated by ':' or ' '). Left as it is on any failure. */
static void guest_preload(void)
{
    const char *pre = getenv("LD_PRELOAD");
    if (!pre || !strstr(pre, HOST_DIR))
        return;
    size_t cap = strlen(pre) * 2 + 1;
    char *out = malloc(cap), *copy = strdup(pre);
    if (!out || !copy) {
        free(out);
        free(copy);
        return;
    }
    out[0] = '\0';
    for (char *save = NULL, *e = strtok_r(copy, ": ", &save); e;
         e = strtok_r(NULL, ": ", &save)) {
        char twin[4096];
        const char *hit = strstr(e, HOST_DIR);
        const char *use = e;
        if (hit && strlen(e) + 2 < sizeof twin) {
            snprintf(twin, sizeof twin, "%.*s" GUEST_DIR "%s",
                     (int)(hit - e), e, hit + strlen(HOST_DIR));
            if (access(twin, R_OK) == 0)
                use = twin;
        }
        if (out[0])
            strcat(out, ":");
        strcat(out, use);
    }
    setenv("LD_PRELOAD", out, 1);
    free(out);
    free(copy);
}

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
    guest_preload();
    execv(av[0], av); /* exec: the tests signal the agent by this pid */
    perror(av[0]);
    return 127;
}
