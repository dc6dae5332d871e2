/*
 * plat_lock.h - single-instance lock on the store.
 *
 * An advisory lock (flock) on "<store>.lock". The OS releases it when the
 * process dies, so a kill -9 never leaves a stale lock behind. The lock file
 * holds the holder's pid, for messages only.
 */
#ifndef PLAT_LOCK_H
#define PLAT_LOCK_H

struct plat_lock;

/* Take the lock at `path`. With `wait_ms` > 0, keep trying that long.
 * ERR_LOCKED (message names the holder's pid) if another process holds it,
 * ERR_IO if the file cannot be created, if its directory is writable by
 * other users (plat_fs_check_dir), or if the path is a symbolic link, a
 * hard link or not a regular file (never followed: opened with O_NOFOLLOW
 * and O_CLOEXEC). On success *out is owned by the
 * caller and released with plat_lock_release(). */
int plat_lock_acquire(struct plat_lock **out, const char *path, int wait_ms);
void plat_lock_release(struct plat_lock *lock);

#endif
