/*
 * fs.c - file helpers: crash-safe replacement of small state files, capped
 * whole-file reads, mkdir -p.
 *
 * Errors name the path and the OS reason. Paths are file names chosen by
 * the agent or the operator, never personal data.
 */
#include "plat_fs.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_secure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Write all `len` bytes, going on after short writes and EINTR. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Make the rename itself durable: fsync the directory holding `path`. */
static int fsync_dir_of(const char *path)
{
    char *dir = plat_fs_dirname(path);
    int fd, rc = -1;

    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        rc = fsync(fd);
        close(fd);
    }
    plat_free(dir);
    return rc;
}

static int io_error(const char *what, const char *path)
{
    if (errno == ENOSPC || errno == EDQUOT)
        return plat_err_set(ERR_IO, "cannot %s %s: the disk is full", what,
                            path);
    return plat_err_set(ERR_IO, "cannot %s %s: %s", what, path,
                        strerror(errno));
}

int plat_fs_write_atomic(const char *path, const void *data, size_t len,
                         unsigned mode)
{
    char *tmp;
    int fd = -1, renamed = 0, rc = PLAT_OK;

    tmp = plat_asprintf("%s.tmp.%ld", path, (long)getpid());
    if (!tmp)
        return ERR_NOMEM;
    /* A temp file left by a crashed process with our pid is garbage. */
    unlink(tmp);
    fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
              (mode_t)mode);
    if (fd < 0) {
        rc = io_error("create a temporary file for", path);
        goto done;
    }
    /* The umask may have removed bits the caller asked for. */
    if (fchmod(fd, (mode_t)mode) < 0) {
        rc = io_error("set the mode of", path);
        goto done;
    }
    if (write_all(fd, data, len) < 0) {
        rc = io_error("write", path);
        goto done;
    }
    if (fsync(fd) < 0) {
        rc = io_error("fsync", path);
        goto done;
    }
    /* close() can report a delayed write error (NFS): check it. */
    if (close(fd) < 0) {
        fd = -1;
        rc = io_error("close", path);
        goto done;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = io_error("rename a temporary file onto", path);
        goto done;
    }
    renamed = 1;
    if (fsync_dir_of(path) < 0)
        rc = io_error("fsync the directory of", path);
done:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && !renamed)
        unlink(tmp);
    plat_free(tmp);
    return rc;
}

int plat_fs_read_file(const char *path, size_t max, char **out,
                      size_t *len_out)
{
    struct stat st;
    char *data = NULL;
    size_t len = 0, size;
    int fd, rc = PLAT_OK;

    *out = NULL;
    /* Keep max + 2 below SIZE_MAX; no real file comes near it. */
    if (max > (size_t)-1 / 2)
        max = (size_t)-1 / 2;
    if (len_out)
        *len_out = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return plat_err_set(ERR_NOTFOUND, "%s does not exist", path);
        return plat_err_set(ERR_IO, "cannot open %s: %s", path,
                            strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        rc = plat_err_set(ERR_IO, "cannot stat %s: %s", path,
                          strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = plat_err_set(ERR_IO, "%s is not a regular file", path);
        goto done;
    }
    if ((unsigned long long)st.st_size > max) {
        rc = plat_err_set(ERR_TOOLARGE, "%s is larger than %zu bytes", path,
                          max);
        goto done;
    }
    /* The file may change under us, so read until EOF rather than trust
     * st_size, with room for one byte more than expected to see EOF
     * without a second allocation. `size` never passes max + 2: once
     * len exceeds max the read stops. */
    size = (size_t)st.st_size + 2;
    data = plat_malloc(size);
    if (!data) {
        rc = ERR_NOMEM;
        goto done;
    }
    for (;;) {
        ssize_t n;

        if (len + 1 == size) {
            size_t grow = size <= (max + 2) / 2 ? size * 2 : max + 2;
            char *p = plat_realloc(data, grow);

            if (!p) {
                rc = ERR_NOMEM;
                goto done;
            }
            data = p;
            size = grow;
        }
        n = read(fd, data + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = plat_err_set(ERR_IO, "cannot read %s: %s", path,
                              strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            rc = plat_err_set(ERR_TOOLARGE, "%s is larger than %zu bytes",
                              path, max);
            goto done;
        }
    }
    data[len] = '\0';
    *out = data;
    data = NULL;
    if (len_out)
        *len_out = len;
done:
    /* The file may hold a secret (a password file): wipe what was read. */
    if (data)
        plat_wipe(data, len);
    plat_free(data);
    close(fd);
    return rc;
}

int plat_fs_mkdir_p(const char *path, unsigned mode)
{
    char *copy;
    struct stat st;
    int rc = PLAT_OK;

    if (!*path)
        return plat_err_set(ERR_INVALID, "empty directory path");
    copy = plat_strdup(path);
    if (!copy)
        return ERR_NOMEM;
    /* Create each prefix ending before a '/', then the whole path. */
    for (char *p = copy + 1; ; p++) {
        char saved = *p;

        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        /* An existing directory is fine, whatever errno mkdir chose
         * (EACCES on an unwritable parent, EROFS, ...). */
        if (mkdir(copy, (mode_t)mode) < 0) {
            int mkdir_errno = errno;

            if (stat(copy, &st) < 0 || !S_ISDIR(st.st_mode)) {
                rc = plat_err_set(ERR_IO, "cannot create directory %s: %s",
                                  copy, strerror(mkdir_errno));
                goto done;
            }
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
done:
    plat_free(copy);
    return rc;
}

char *plat_fs_dirname(const char *path)
{
    size_t end = strlen(path);

    /* Trailing slashes belong to the last component, not to the parent. */
    while (end > 1 && path[end - 1] == '/')
        end--;
    while (end > 0 && path[end - 1] != '/')
        end--;
    if (end == 0)
        return plat_strdup(".");
    while (end > 1 && path[end - 1] == '/')
        end--;
    return plat_strndup(path, end);
}

int plat_fs_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

int plat_fs_check_dir(const char *dir, const char *what,
                      int *group_writable)
{
    struct stat st;
    unsigned mode;

    if (group_writable)
        *group_writable = 0;
    if (stat(dir, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return plat_err_set(ERR_NOTFOUND, "%s directory %s does not "
                                "exist", what, dir);
        return plat_err_set(ERR_IO, "cannot stat %s directory %s: %s", what,
                            dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return plat_err_set(ERR_IO, "%s directory %s is not a directory",
                            what, dir);
    mode = (unsigned)(st.st_mode & 07777);
    /* The sticky bit does not help: another user can still plant a
     * symbolic link under a name the agent has not created yet. */
    if (mode & S_IWOTH)
        return plat_err_set(ERR_IO, "%s directory %s is writable by other "
                            "users (mode %04o): use a private directory or "
                            "run chmod o-w %s",
                            what, dir, mode, dir);
    if ((mode & S_IWGRP) && group_writable)
        *group_writable = 1;
    return PLAT_OK;
}

int plat_fs_disk_full(const char *path)
{
    struct statvfs sv;

    if (statvfs(path, &sv) < 0)
        return 0;
    return (unsigned long long)sv.f_bavail * sv.f_frsize < 64 * 1024;
}

int plat_fs_mode(const char *path, unsigned *mode_out)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return plat_err_set(ERR_NOTFOUND, "%s does not exist", path);
        return plat_err_set(ERR_IO, "cannot stat %s: %s", path,
                            strerror(errno));
    }
    *mode_out = (unsigned)(st.st_mode & 07777);
    return PLAT_OK;
}

const char *plat_fs_home(void)
{
    const char *home = getenv("HOME");

    return home && *home ? home : NULL;
}
