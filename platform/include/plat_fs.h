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
 * ERR_IO with the path and the OS reason on failure; the old file is then
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

/* Permission bits of `path` (e.g. 0600) or a negative error. Used to refuse
 * password files that other users can read. */
int plat_fs_mode(const char *path, unsigned *mode_out);

/* The user's home directory, from $HOME (borrowed; NULL if unset). */
const char *plat_fs_home(void);

#endif
