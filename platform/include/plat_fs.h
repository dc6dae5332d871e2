/*
 * plat_fs.h - files.
 */
#ifndef PLAT_FS_H
#define PLAT_FS_H

#include <stddef.h>

/* Replace `path` with `data` so that after a crash or power cut the file
 * holds either the old or the new content, never a mix: write a temp file
 * beside it, fsync it, rename it over `path`, fsync the directory. `mode` is
 * the permission of the new file (e.g. 0600), applied despite the umask.
 * The temporary file is created with O_EXCL | O_NOFOLLOW, so a symbolic
 * link planted under its name is never followed. ERR_IO with the path and
 * the OS reason ("the disk is full" for ENOSPC) on failure; the old file is then
 * untouched, except when only the final directory fsync fails: the new
 * content is then in place but may not survive a power cut. */
int plat_fs_write_atomic(const char *path, const void *data, size_t len,
                         unsigned mode);

/* Read a whole file into a new NUL-terminated allocation (caller frees).
 * ERR_NOTFOUND if it does not exist, ERR_TOOLARGE if over `max` bytes,
 * ERR_IO otherwise. `len_out` may be NULL. */
int plat_fs_read_file(const char *path, size_t max, char **out,
                      size_t *len_out);

/* Create `path` and its missing parents with `mode`. Existing is fine. */
int plat_fs_mkdir_p(const char *path, unsigned mode);

/* The directory part of `path` in a new allocation ("." if none). */
char *plat_fs_dirname(const char *path);

int plat_fs_exists(const char *path); /* 1 if it exists, 0 otherwise */

/* Check that `dir` is a directory other users cannot write to: a store or
 * lock file in a directory others can write (even with the sticky bit, as
 * in /tmp) could be replaced by a symbolic link they plant. ERR_IO naming
 * `what` ("store") and the directory if others can write it; ERR_NOTFOUND
 * if it does not exist. *group_writable (may be NULL) is set to 1 when the
 * group can write it: the caller warns, since a shared group is a choice
 * the operator may have made. */
int plat_fs_check_dir(const char *dir, const char *what,
                      int *group_writable);

/* 1 if the file system holding `path` (a file or a directory) has less
 * than 64 KiB left for unprivileged writers, else 0 (also when it cannot
 * be asked). Used to tell "disk full" from other I/O errors when the
 * failing call (an fsync, a truncate) did not say ENOSPC itself. */
int plat_fs_disk_full(const char *path);

/* Permission bits of `path` (e.g. 0600) or a negative error. Used to refuse
 * password files that other users can read. */
int plat_fs_mode(const char *path, unsigned *mode_out);

/* The user's home directory, from $HOME (borrowed; NULL if unset). */
const char *plat_fs_home(void);

#endif
