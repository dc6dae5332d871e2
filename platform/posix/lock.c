/*
 * lock.c - single-instance lock with flock(2).
 *
 * flock belongs to the open file description, so the kernel drops it when
 * the holder exits or is killed: there is never a stale lock to clean up.
 * The file is never unlinked, because a process could still be waiting on
 * the old inode while a newcomer locks a fresh one under the same name.
 */
#include "plat_lock.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_time.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCK_RETRY_MS 50

struct plat_lock {
    int fd;
};

/* The holder's pid as written in the lock file, or 0 if unknown (it may
 * have taken the lock and not yet written its pid). */
static long read_holder_pid(int fd)
{
    char text[32];
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    char *end;
    long pid;

    if (n <= 0)
        return 0;
    text[n] = '\0';
    pid = strtol(text, &end, 10);
    if (end == text || pid <= 0)
        return 0;
    return pid;
}

static void write_own_pid(int fd)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    ssize_t written;

    /* The pid only improves the message other processes show, so a
     * failure here does not matter. */
    if (ftruncate(fd, 0) < 0 || n <= 0)
        return;
    written = pwrite(fd, text, (size_t)n, 0);
    (void)written;
}

/* Try flock until it succeeds or `wait_ms` has passed. */
static int take_flock(int fd, const char *path, int wait_ms)
{
    int64_t deadline = plat_time_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    long pid;

    for (;;) {
        int64_t left;

        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return PLAT_OK;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return plat_err_set(ERR_IO, "cannot lock %s: %s", path,
                                strerror(errno));
        left = deadline - plat_time_mono_ms();
        if (left <= 0)
            break;
        plat_time_sleep_ms(left < LOCK_RETRY_MS ? left : LOCK_RETRY_MS);
    }
    pid = read_holder_pid(fd);
    if (pid > 0)
        return plat_err_set(ERR_LOCKED, "store is in use by another agent "
                            "process (pid %ld)", pid);
    return plat_err_set(ERR_LOCKED, "store is in use by another agent "
                        "process (pid unknown)");
}

int plat_lock_acquire(struct plat_lock **out, const char *path, int wait_ms)
{
    struct plat_lock *lock = NULL;
    struct stat st;
    char *dir;
    int fd, rc;

    *out = NULL;
    dir = plat_fs_dirname(path);
    if (!dir)
        return ERR_NOMEM;
    rc = plat_fs_check_dir(dir, "lock file", NULL);
    plat_free(dir);
    if (rc < 0 && rc != ERR_NOTFOUND)
        return rc;
    /* A missing directory is reported by open() below, as ERR_IO. */
    plat_err_clear();
    /* O_NOFOLLOW: a symbolic link planted at the lock path must not make
     * us truncate the file it points to. */
    fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == ELOOP)
        return plat_err_set(ERR_IO, "lock file %s is a symbolic link: "
                            "refusing to follow it (remove it)", path);
    if (fd < 0)
        return plat_err_set(ERR_IO, "cannot open lock file %s: %s", path,
                            strerror(errno));
    /* Nor a hard link to someone else's file, nor a device or a FIFO. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        close(fd);
        return plat_err_set(ERR_IO, "lock file %s is not a plain file of "
                            "its own (a link or a device): remove it", path);
    }
    rc = take_flock(fd, path, wait_ms);
    if (rc < 0)
        goto done;
    lock = plat_malloc(sizeof(*lock));
    if (!lock) {
        rc = ERR_NOMEM;
        goto done;
    }
    write_own_pid(fd);
    lock->fd = fd;
    *out = lock;
done:
    if (rc < 0)
        close(fd); /* also drops the flock if we had it */
    return rc;
}

void plat_lock_release(struct plat_lock *lock)
{
    if (!lock)
        return;
    flock(lock->fd, LOCK_UN);
    close(lock->fd);
    plat_free(lock);
}
