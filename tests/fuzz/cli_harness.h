/*
 * cli_harness.h - the whole CLI in-process for the fuzzers (fuzz_cli,
 * fuzz_import, fuzz_sync): a temporary folder with a config naming every
 * connector (121, kobo, espocrm, file; their servers are the scripted
 * fake_http.c) and a store holding the test program and a little offline
 * work. Each run starts from that same store and config, so an input
 * gives the same result every time.
 */
#ifndef FUZZ_CLI_HARNESS_H
#define FUZZ_CLI_HARNESS_H

#include <stddef.h>

/* Make the folder and the store (once; exits on failure). */
void fuzz_cli_setup(void);

/* The harness folder ("/dev/shm/fuzz-cli.XXXXXX" or in /tmp) and its scratch folder,
 * the current directory while a command runs (emptied before each run). */
const char *fuzz_cli_dir(void);
const char *fuzz_cli_work(void);

/* Restore the store and the config, then run `agent --config CONF
 * argv...`; returns the exit code (checked to be one of agent_exit). */
int fuzz_cli_run(int argc, const char *const *argv);

/* Write `len` bytes to `path` (exits on failure). */
void fuzz_write_file(const char *path, const void *data, size_t len);

#endif
