/* SPDX-License-Identifier: MIT */
/*
 * vfsfault.c - the fault and power-cut VFS shim; contract in vfsfault.h.
 * Test code only: built as an LD_PRELOAD library, never linked into agent.
 */
#include "vfsfault.h"

#include <sqlite3.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum mode { M_NONE, M_COUNT, M_FAIL, M_FULL, M_CUT };
enum op { OP_READ, OP_WRITE, OP_SYNC, OP_LOCK, OP_ANY };

static struct {
    enum mode mode;
    enum op op;           /* M_FAIL */
    long long k;          /* M_FAIL: the call; M_CUT: the mutation */
    int full_code;        /* M_FAIL: SQLITE_FULL instead of IOERR */
    int once;             /* M_FAIL: only the K-th call */
    long long budget;     /* M_FULL: bytes free */
    char report[4096];
    long long n[4];       /* calls per op */
    long long mutations;
    int fired;
    int enospc;           /* last failure was a full disk */
} g;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_vfs *base_vfs;
static sqlite3_vfs shim_vfs;

/* ---- tracked files and the undo log (power cuts) ------------------------ */

struct tracked {
    char *name;
    sqlite3_int64 synced_size;
};

struct undo {
    int file;             /* index in files[] */
    sqlite3_int64 off;
    int len;
    unsigned char *data;
};

static struct tracked *files;
static int n_files, cap_files;
static struct undo *log_;
static size_t n_log, cap_log;

struct shim_file {
    sqlite3_file base;
    sqlite3_file *real;
    int file;             /* index in files[], -1: not tracked */
};

#define REAL(f) (((struct shim_file *)(f))->real)
#define SF(f) ((struct shim_file *)(f))

static void die(const char *what)
{
    fprintf(stderr, "vfsfault: %s\n", what);
    _exit(70);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p)
        die("out of memory");
    return p;
}

static void write_report(void)
{
    FILE *f;

    if (!g.report[0])
        return;
    f = fopen(g.report, "w");
    if (!f)
        return;
    fprintf(f, "fired=%d reads=%lld writes=%lld syncs=%lld locks=%lld "
            "mutations=%lld\n", g.fired, g.n[OP_READ], g.n[OP_WRITE],
            g.n[OP_SYNC], g.n[OP_LOCK], g.mutations);
    fclose(f);
}

static int track(const char *name, int created)
{
    struct stat st;
    int i;

    for (i = 0; i < n_files; i++)
        if (files[i].name && strcmp(files[i].name, name) == 0)
            return i;
    if (n_files == cap_files) {
        cap_files = cap_files ? cap_files * 2 : 8;
        files = xrealloc(files, (size_t)cap_files * sizeof(*files));
    }
    files[n_files].name = strdup(name);
    if (!files[n_files].name)
        die("out of memory");
    files[n_files].synced_size =
        (!created && stat(name, &st) == 0) ? (sqlite3_int64)st.st_size : 0;
    return n_files++;
}

/* Save the current content of [off, off+len) below the synced size. */
static void save_range(struct shim_file *sf, sqlite3_int64 off,
                       sqlite3_int64 len)
{
    struct undo *u;
    sqlite3_int64 end = off + len, lim = files[sf->file].synced_size;
    int rc;

    if (end > lim)
        end = lim;
    if (off >= end)
        return;
    if (n_log == cap_log) {
        cap_log = cap_log ? cap_log * 2 : 64;
        log_ = xrealloc(log_, cap_log * sizeof(*log_));
    }
    u = &log_[n_log];
    u->file = sf->file;
    u->off = off;
    u->len = (int)(end - off);
    u->data = xrealloc(NULL, (size_t)u->len);
    /* A short read zero-fills: bytes past the current end were saved by
     * the truncate that removed them, an older entry restored after. */
    rc = sf->real->pMethods->xRead(sf->real, u->data, u->len, off);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
        die("cannot read a range to save");
    n_log++;
}

static void forget_file(int file)
{
    size_t i, j = 0;

    for (i = 0; i < n_log; i++) {
        if (log_[i].file == file)
            free(log_[i].data);
        else
            log_[j++] = log_[i];
    }
    n_log = j;
}

/* The power cut: durable state back on disk, then SIGKILL. */
static void cut_now(void)
{
    size_t i;
    int k;

    g.fired = 1;
    write_report();
    for (i = n_log; i-- > 0;) {
        struct undo *u = &log_[i];
        int fd = open(files[u->file].name, O_WRONLY | O_CLOEXEC);

        if (fd < 0)
            continue;
        if (pwrite(fd, u->data, (size_t)u->len, (off_t)u->off) != u->len)
            die("cannot restore a range at the cut");
        close(fd);
    }
    for (k = 0; k < n_files; k++) {
        if (!files[k].name)
            continue;
        if (truncate(files[k].name, (off_t)files[k].synced_size) < 0 &&
            errno != ENOENT)
            die("cannot truncate at the cut");
    }
    kill(getpid(), SIGKILL);
    _exit(137);
}

/* ---- fault decisions ------------------------------------------------------ */

static const int ioerr_of[4] = { SQLITE_IOERR_READ, SQLITE_IOERR_WRITE,
                                 SQLITE_IOERR_FSYNC, SQLITE_IOERR_LOCK };

/* Count a call of `op`; returns the error to give or SQLITE_OK. Holds mu. */
static int decide(enum op op)
{
    long long n = ++g.n[op];
    int hit;

    if (g.mode != M_FAIL || (g.op != OP_ANY && g.op != op))
        return SQLITE_OK;
    if (g.op == OP_ANY)
        n = g.n[OP_READ] + g.n[OP_WRITE] + g.n[OP_SYNC] + g.n[OP_LOCK];
    hit = g.once ? n == g.k : n >= g.k;
    if (!hit)
        return SQLITE_OK;
    if (!g.fired) {
        g.fired = 1;
        write_report();
    }
    g.enospc = g.full_code;
    errno = g.full_code ? ENOSPC : EIO;
    if (g.full_code && op == OP_WRITE)
        return SQLITE_FULL;
    return ioerr_of[op];
}

/* A mutation (write, truncate, sync): the cut counter. Holds mu. */
static void mutation(void)
{
    g.mutations++;
    if (g.mode == M_CUT && g.mutations == g.k)
        cut_now();
}

/* ---- io methods ------------------------------------------------------------ */

static int f_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    int rc;

    pthread_mutex_lock(&mu);
    rc = decide(OP_READ);
    pthread_mutex_unlock(&mu);
    if (rc != SQLITE_OK)
        return rc;
    return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    struct shim_file *sf = SF(f);
    sqlite3_int64 size = 0;
    int rc;

    pthread_mutex_lock(&mu);
    rc = decide(OP_WRITE);
    if (rc == SQLITE_OK) {
        mutation();
        if (g.mode == M_FULL) {
            sqlite3_int64 grow;

            sf->real->pMethods->xFileSize(sf->real, &size);
            grow = off + n - size;
            if (grow > 0 && grow > g.budget) {
                g.fired = 1;
                g.enospc = 1;
                errno = ENOSPC;
                rc = SQLITE_FULL;
            } else if (grow > 0) {
                g.budget -= grow;
            }
        } else if (g.mode == M_CUT && sf->file >= 0) {
            save_range(sf, off, n);
        }
    }
    pthread_mutex_unlock(&mu);
    if (rc != SQLITE_OK)
        return rc;
    return sf->real->pMethods->xWrite(sf->real, p, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    struct shim_file *sf = SF(f);
    int rc;

    pthread_mutex_lock(&mu);
    rc = decide(OP_WRITE);
    if (rc == SQLITE_OK) {
        mutation();
        if (g.mode == M_CUT && sf->file >= 0) {
            sqlite3_int64 cur = 0;

            sf->real->pMethods->xFileSize(sf->real, &cur);
            if (cur > size)
                save_range(sf, size, cur - size);
        }
    }
    pthread_mutex_unlock(&mu);
    if (rc != SQLITE_OK)
        return rc == SQLITE_FULL ? SQLITE_IOERR_TRUNCATE : rc;
    return sf->real->pMethods->xTruncate(sf->real, size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    struct shim_file *sf = SF(f);
    int rc;

    pthread_mutex_lock(&mu);
    rc = decide(OP_SYNC);
    if (rc == SQLITE_OK)
        mutation();
    pthread_mutex_unlock(&mu);
    if (rc != SQLITE_OK)
        return rc;
    rc = sf->real->pMethods->xSync(sf->real, flags);
    if (rc == SQLITE_OK && sf->file >= 0) {
        sqlite3_int64 size = 0;

        pthread_mutex_lock(&mu);
        if (sf->real->pMethods->xFileSize(sf->real, &size) == SQLITE_OK) {
            forget_file(sf->file);
            files[sf->file].synced_size = size;
        }
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static int f_size(sqlite3_file *f, sqlite3_int64 *out)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), out);
}

static int f_lock(sqlite3_file *f, int l)
{
    int rc;

    pthread_mutex_lock(&mu);
    rc = decide(OP_LOCK);
    pthread_mutex_unlock(&mu);
    if (rc != SQLITE_OK)
        return SQLITE_IOERR_LOCK;
    return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int f_unlock(sqlite3_file *f, int l)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int f_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_devchar(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shm_map(sqlite3_file *f, int pg, int sz, int ext,
                     void volatile **pp)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}

static int f_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
    if (flags & SQLITE_SHM_LOCK) {
        int rc;

        pthread_mutex_lock(&mu);
        rc = decide(OP_LOCK);
        pthread_mutex_unlock(&mu);
        if (rc != SQLITE_OK)
            return SQLITE_IOERR_SHMLOCK;
    }
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

/* No memory-mapped reads: every read goes through f_read (SQLite falls
 * back to xRead when xFetch gives no page). */
static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
    (void)f;
    (void)off;
    (void)n;
    *pp = NULL;
    return SQLITE_OK;
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    (void)f;
    (void)off;
    (void)p;
    return SQLITE_OK;
}

static const sqlite3_io_methods methods = {
    3, f_close, f_read, f_write, f_truncate, f_sync, f_size, f_lock,
    f_unlock, f_reserved, f_fcntl, f_sector, f_devchar, f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch
};

/* ---- vfs methods ------------------------------------------------------------ */

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                  int flags, int *out_flags)
{
    struct shim_file *sf = SF(f);
    struct stat st;
    int created, rc;

    (void)vfs;
    sf->real = (sqlite3_file *)(sf + 1);
    sf->file = -1;
    created = name && stat(name, &st) != 0;
    rc = base_vfs->xOpen(base_vfs, name, sf->real, flags, out_flags);
    f->pMethods = sf->real->pMethods ? &methods : NULL;
    if (rc == SQLITE_OK && name && !(flags & SQLITE_OPEN_DELETEONCLOSE) &&
        g.mode == M_CUT) {
        pthread_mutex_lock(&mu);
        sf->file = track(name, created);
        pthread_mutex_unlock(&mu);
    }
    return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int dir_sync)
{
    int i;

    (void)vfs;
    pthread_mutex_lock(&mu);
    for (i = 0; i < n_files; i++) {
        if (files[i].name && strcmp(files[i].name, name) == 0) {
            forget_file(i);
            free(files[i].name);
            files[i].name = NULL;
        }
    }
    pthread_mutex_unlock(&mu);
    return base_vfs->xDelete(base_vfs, name, dir_sync);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *buf)
{
    (void)vfs;
    if (g.enospc)
        return ENOSPC;
    return base_vfs->xGetLastError(base_vfs, n, buf);
}

/* The rest forward to the wrapped VFS with its own pointer (it may keep
 * state in pAppData). */
static int v_access(sqlite3_vfs *v, const char *n, int fl, int *out)
{
    (void)v;
    return base_vfs->xAccess(base_vfs, n, fl, out);
}

static int v_full(sqlite3_vfs *v, const char *n, int len, char *out)
{
    (void)v;
    return base_vfs->xFullPathname(base_vfs, n, len, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *n)
{
    (void)v;
    return base_vfs->xDlOpen(base_vfs, n);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    (void)v;
    base_vfs->xDlError(base_vfs, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return base_vfs->xDlSym(base_vfs, h, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    base_vfs->xDlClose(base_vfs, h);
}

static int v_random(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return base_vfs->xRandomness(base_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return base_vfs->xSleep(base_vfs, us);
}

static int v_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return base_vfs->xCurrentTime(base_vfs, out);
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return base_vfs->xCurrentTimeInt64(base_vfs, out);
}

/* ---- setup ------------------------------------------------------------------ */

static int parse(const char *spec)
{
    char buf[128], *p, *tok, *save = NULL, *end;

    if (strlen(spec) >= sizeof(buf))
        return -1;
    strcpy(buf, spec);
    if (strcmp(buf, "count") == 0) {
        g.mode = M_COUNT;
        return 0;
    }
    if (strncmp(buf, "cut=", 4) == 0 || strncmp(buf, "full=", 5) == 0) {
        int cut = buf[0] == 'c';

        p = buf + (cut ? 4 : 5);
        errno = 0;
        g.k = strtoll(p, &end, 10);
        if (errno || end == p || *end || g.k < (cut ? 1 : 0))
            return -1;
        g.mode = cut ? M_CUT : M_FULL;
        g.budget = g.k;
        return 0;
    }
    if (strncmp(buf, "fail=", 5) != 0)
        return -1;
    g.mode = M_FAIL;
    tok = strtok_r(buf + 5, ":", &save);
    if (!tok)
        return -1;
    if (strcmp(tok, "read") == 0)
        g.op = OP_READ;
    else if (strcmp(tok, "write") == 0)
        g.op = OP_WRITE;
    else if (strcmp(tok, "sync") == 0)
        g.op = OP_SYNC;
    else if (strcmp(tok, "lock") == 0)
        g.op = OP_LOCK;
    else if (strcmp(tok, "any") == 0)
        g.op = OP_ANY;
    else
        return -1;
    tok = strtok_r(NULL, ":", &save);
    if (!tok)
        return -1;
    errno = 0;
    g.k = strtoll(tok, &end, 10);
    if (errno || end == tok || *end || g.k < 1)
        return -1;
    while ((tok = strtok_r(NULL, ":", &save)) != NULL) {
        if (strcmp(tok, "full") == 0)
            g.full_code = 1;
        else if (strcmp(tok, "ioerr") == 0)
            g.full_code = 0;
        else if (strcmp(tok, "once") == 0)
            g.once = 1;
        else if (strcmp(tok, "persist") == 0)
            g.once = 0;
        else
            return -1;
    }
    return 0;
}

int vfsfault_install(const char *spec, const char *report)
{
    if (!spec || !*spec)
        return 0;
    if (parse(spec) < 0) {
        g.mode = M_NONE;
        return -1;
    }
    if (report && strlen(report) < sizeof(g.report))
        strcpy(g.report, report);
    if (sqlite3_initialize() != SQLITE_OK)
        return -1;
    base_vfs = sqlite3_vfs_find(NULL);
    if (!base_vfs)
        return -1;
    if (base_vfs->iVersion < 2 || !base_vfs->xCurrentTimeInt64)
        return -1;
    memset(&shim_vfs, 0, sizeof(shim_vfs));
    shim_vfs.iVersion = 2;
    shim_vfs.szOsFile = (int)sizeof(struct shim_file) + base_vfs->szOsFile;
    shim_vfs.mxPathname = base_vfs->mxPathname;
    shim_vfs.zName = "vfsfault";
    shim_vfs.xOpen = v_open;
    shim_vfs.xDelete = v_delete;
    shim_vfs.xAccess = v_access;
    shim_vfs.xFullPathname = v_full;
    shim_vfs.xDlOpen = v_dlopen;
    shim_vfs.xDlError = v_dlerror;
    shim_vfs.xDlSym = v_dlsym;
    shim_vfs.xDlClose = v_dlclose;
    shim_vfs.xRandomness = v_random;
    shim_vfs.xSleep = v_sleep;
    shim_vfs.xCurrentTime = v_time;
    shim_vfs.xGetLastError = v_last_error;
    shim_vfs.xCurrentTimeInt64 = v_time64;
    return sqlite3_vfs_register(&shim_vfs, 1) == SQLITE_OK ? 0 : -1;
}

__attribute__((constructor)) static void vfsfault_ctor(void)
{
    const char *spec = getenv("AGENT_VFSFAULT");

    if (spec && *spec && vfsfault_install(spec, getenv(
                                          "AGENT_VFSFAULT_REPORT")) < 0)
        die("bad AGENT_VFSFAULT (see tests/vfsfault/vfsfault.h)");
}

__attribute__((destructor)) static void vfsfault_dtor(void)
{
    if (g.mode != M_NONE) {
        pthread_mutex_lock(&mu);
        write_report();
        pthread_mutex_unlock(&mu);
    }
}
