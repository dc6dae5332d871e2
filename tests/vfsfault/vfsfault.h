/* SPDX-License-Identifier: MIT */
/*
 * vfsfault.h - a test-only SQLite VFS shim that injects I/O faults and
 * power cuts into the real `agent` binary (tests/vfsfault/).
 *
 * How it is used: it is built as a shared library (libagent_vfsfault.so,
 * tests/CMakeLists.txt) and loaded with LD_PRELOAD. Its constructor reads
 * AGENT_VFSFAULT and, when that is set, registers a VFS named "vfsfault"
 * as the default, wrapping whatever VFS was the default at that moment (the
 * "unix" VFS, or another shim registered before it). A VFS registered later
 * as the default on top of it (e.g. an encrypting one that wraps
 * sqlite3_vfs_find(NULL)) stacks above it, so faults always happen at the
 * bottom, where the disk is.
 *
 * Why LD_PRELOAD and an environment variable, not a build option: the
 * shipped binary is the one under test and holds no fault code at all, so
 * no production user can reach it by accident: it takes both a test
 * artefact from a build tree in LD_PRELOAD and AGENT_VFSFAULT. The agent
 * itself never reads AGENT_VFSFAULT.
 *
 * AGENT_VFSFAULT, one of:
 *   count                  only count operations (see the report)
 *   fail=OP:K[:CODE][:once]
 *                          the K-th call (from 1) of OP fails, and with the
 *                          default "persist" every later call of OP too (a
 *                          dead or full disk); ":once" fails that call only.
 *                          OP: read | write | sync | lock (xLock and
 *                          xShmLock, taking a lock only) | any (every one of
 *                          those). CODE: ioerr (default: SQLITE_IOERR_READ,
 *                          _WRITE, _FSYNC, _LOCK by OP) | full (SQLITE_FULL
 *                          with errno ENOSPC; a sync then fails as
 *                          SQLITE_IOERR_FSYNC with errno ENOSPC, which is
 *                          what a full disk gives).
 *   full=BYTES             a disk with BYTES bytes free: once writes have
 *                          grown the files past it, a write fails with
 *                          SQLITE_FULL (errno ENOSPC); overwrites inside a
 *                          file's size still succeed.
 *   cut=K                  a power cut just before the K-th mutation (xWrite,
 *                          xTruncate or xSync of any file): every write not
 *                          yet fsynced is dropped (see below), then the
 *                          process kills itself with SIGKILL.
 *
 * AGENT_VFSFAULT_REPORT=PATH (optional): the shim writes one line
 * "fired=F reads=R writes=W syncs=S locks=L mutations=M" to PATH when a
 * fault fires (before a cut's SIGKILL) and again at exit, so a test knows
 * whether its fault happened and how many operations a clean run makes
 * (a loop over K stops when fired=0).
 *
 * The power-cut model: for every file opened through the VFS with a name
 * (the store, its WAL and journals; not temp files), the shim knows its
 * size at the last xSync (or at open; 0 for a file this process created,
 * so a new file's content is not durable until its first sync) and keeps,
 * in memory, the old content of every range a write or truncate changed
 * below that size since. At the cut it writes the saved ranges back in
 * reverse order with plain POSIX I/O and truncates each file to its synced
 * size: the files are then exactly as durable storage had them (what an SD
 * card without a write cache keeps when the power goes). Simplifications:
 * the -shm file is not touched (SQLite rebuilds it after a crash), a file
 * deleted through the VFS stays deleted, metadata other than size is not
 * modelled, and writes are never torn inside one xWrite.
 *
 * Threads: every counter and the undo log are under one mutex.
 * Memory: the undo log is freed at every sync; nothing is returned to the
 * caller. Errors of the shim itself (bad AGENT_VFSFAULT, out of memory)
 * print one line to stderr and _exit(70): a test must not go on with a
 * fault it did not get.
 */
#ifndef AGENT_VFSFAULT_H
#define AGENT_VFSFAULT_H

/* Register the shim as the default VFS according to `spec` (the syntax of
 * AGENT_VFSFAULT; NULL or "" registers nothing) and `report` (a path or
 * NULL). Returns 0, or -1 on a bad spec (nothing registered). Called by the
 * library constructor; exposed for a test that links the shim directly. */
int vfsfault_install(const char *spec, const char *report);

#endif
