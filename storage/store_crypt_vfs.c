/*
 * store_crypt_vfs.c - the encrypting VFS shim (contract and page layout in
 * store_crypt.h).
 *
 * Why the reserved bytes read back as zeros: SQLite checksums each WAL
 * frame over the page as it hands it to xWrite, reserved bytes included,
 * and checks those checksums when it recovers the WAL after a crash. The
 * b-tree never writes into the reserved area and new pages start zeroed,
 * so if every page read returns zeros there, every page written has zeros
 * there too, and the page read back from the WAL (decrypted, reserved
 * area zeroed) is byte for byte what SQLite checksummed. A page that
 * arrives with anything else there is refused rather than written with a
 * checksum that would not verify after a crash.
 */
#include "store_crypt.h"
#include "store_crypt_gcm.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_random.h"
#include "plat_secure.h"

#include <mbedtls/aes.h>
#include <mbedtls/sha256.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PAGE STORE_CRYPT_PAGE
#define RES STORE_CRYPT_RESERVE
#define NONCE_LEN 12
#define TAG_LEN 16
#define HDR 100            /* page 1: the clear SQLite file header */
#define WAL_HDR 32
#define WAL_FHDR 24
#define WAL_FRAME (WAL_FHDR + PAGE)

enum kind { K_DB, K_WAL, K_JOURNAL, K_TEMP };

struct store_crypt {
    sqlite3_vfs vfs;          /* first: SQLite hands us &vfs */
    sqlite3_vfs *base;
    char name[48];
    uint8_t key[STORE_KEY_LEN];
    uint8_t jkey[STORE_KEY_LEN]; /* rollback journal: derived */
    enum store_gcm_backend gcm;  /* the page cipher's backend */
    pthread_mutex_t lock;        /* guards failure */
    char failure[160];
};

struct cfile {
    sqlite3_file base;        /* first: pMethods */
    struct store_crypt *c;
    enum kind kind;
    struct store_crypt_gcm gcm; /* database and WAL: keyed once per file */
    mbedtls_aes_context ctr;  /* journal / temp: the stream; database
                               * and WAL: the nonces (random key) */
    uint64_t nonce_seq;
    int ctr_ready;
    uint8_t hdr[WAL_FHDR];    /* last WAL frame header written */
    sqlite3_int64 hdr_off;    /* its offset, -1: none */
    uint8_t page[WAL_FRAME];  /* scratch */
    const char *dbname;       /* database and WAL: the connection's
                               * database name (the same pointer for
                               * both files of one connection) */
    sqlite3_file *real;       /* the base VFS's file, after this struct */
};

/* The checkpoint this thread is running, between SQLITE_FCNTL_CKPT_START
 * and SQLITE_FCNTL_CKPT_DONE on its database file. In between, SQLite
 * does nothing but read a frame's page from the WAL and write it to the
 * database, frame after frame, into one buffer (wal.c, walCheckpoint).
 * Those reads hand over the frame's ciphertext as it is, and the write
 * that gives the same buffer back stores it as it is: a page's ciphertext
 * is the same in the WAL and in the database (same key, nonce, tag and
 * associated data), so the checkpoint neither decrypts nor encrypts. The
 * page is authenticated when it is read from the database, as every page
 * is; a frame the checkpoint would put at another page number is refused
 * here. Any other read or write, on any thread, goes through the cipher. */
static _Thread_local struct {
    const char *db;       /* dbname of the checkpointing connection */
    const uint8_t *buf;   /* where the last frame's ciphertext went */
    uint32_t pgno;        /* the page number in its frame header */
    uint8_t seal[RES];    /* its nonce and tag */
} ckpt;

static const uint8_t zero_reserve[RES];
static unsigned long instance_seq;
static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;

static struct store_crypt *test_instance;

void store_crypt_set_test_key(const uint8_t *key)
{
    if (test_instance || !key)
        return;
    if (store_crypt_create(&test_instance, key) == PLAT_OK)
        /* Registered again as the default: every file any connection of
         * the process opens goes through it. */
        sqlite3_vfs_register(&test_instance->vfs, 1);
}

struct store_crypt *store_crypt_test_instance(void)
{
    return test_instance;
}

static void fail(struct store_crypt *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct store_crypt *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pthread_mutex_lock(&c->lock);
    vsnprintf(c->failure, sizeof(c->failure), fmt, ap);
    pthread_mutex_unlock(&c->lock);
    va_end(ap);
}

int store_crypt_last_failure(struct store_crypt *c, char *buf, size_t n)
{
    int had;

    pthread_mutex_lock(&c->lock);
    had = c->failure[0] != '\0';
    if (n > 0)
        snprintf(buf, n, "%s", c->failure);
    pthread_mutex_unlock(&c->lock);
    return had;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

/* ---- the page cipher ---------------------------------------------------- */

/* Associated data of a page: its number, and for page 1 the clear header.
 * The same in the database and in a WAL frame, so that a checkpoint can
 * copy the frame's ciphertext (see the stash). What this does not bind (a
 * frame's WAL generation) only allows putting back an older version of
 * the same page, which no per-page tag can prevent anyway. */
static size_t page_aad(uint8_t *aad, uint32_t pgno, const uint8_t *page)
{
    size_t n = 0;

    aad[n++] = 'P';
    put32(aad + n, pgno);
    n += 4;
    if (pgno == 1) {
        memcpy(aad + n, page, HDR);
        n += HDR;
    }
    return n;
}

/* Encrypt plaintext page `in` into `out` (both PAGE bytes). */
static int seal_page(struct cfile *f, const uint8_t *in, uint8_t *out,
                     char domain, uint32_t pgno, const uint8_t *salts)
{
    uint8_t aad[1 + 4 + HDR], block[16];
    size_t start = pgno == 1 ? HDR : 0, aad_n;
    uint8_t *nonce = out + PAGE - RES, *tag = nonce + NONCE_LEN;

    (void)salts;

    if (pgno == 1 && (get32(in + 16) >> 16 != PAGE || in[20] != RES)) {
        fail(f->c, "page %lu of the %s has no room for its tag (page size "
             "or reserved bytes changed)", (unsigned long)pgno, domain == 'W' ? "WAL" :
             "database");
        return SQLITE_IOERR_WRITE;
    }
    if (memcmp(in + PAGE - RES, zero_reserve, RES) != 0) {
        fail(f->c, "page %lu of the %s arrived with data in its reserved "
             "bytes", (unsigned long)pgno, domain == 'W' ? "WAL" : "database");
        return SQLITE_IOERR_WRITE;
    }
    /* A random nonce: AES under the file's random key of a counter (a
     * CTR-DRBG of its own, without a lock or a system call per page). */
    memset(block, 0, sizeof(block));
    put32(block + 8, (uint32_t)(f->nonce_seq >> 32));
    put32(block + 12, (uint32_t)f->nonce_seq);
    f->nonce_seq++;
    mbedtls_aes_crypt_ecb(&f->ctr, MBEDTLS_AES_ENCRYPT, block, block);
    memcpy(nonce, block, NONCE_LEN);
    memcpy(out, in, start);
    aad_n = page_aad(aad, pgno, in);
    if (store_crypt_gcm_seal(&f->gcm, nonce, aad, aad_n, in + start,
                             out + start, PAGE - RES - start, tag) != 0) {
        fail(f->c, "page %lu of the %s: %s's AES-256-GCM failed to encrypt "
             "it", (unsigned long)pgno, domain == 'W' ? "WAL" : "database",
             store_crypt_gcm_name(f->gcm.backend));
        return SQLITE_IOERR_WRITE;
    }
    return SQLITE_OK;
}

/* Decrypt page `raw` into `out` (may be the same buffer). */
static int open_page(struct cfile *f, const uint8_t *raw, uint8_t *out,
                     char domain, uint32_t pgno, const uint8_t *salts)
{
    uint8_t aad[1 + 4 + HDR], nonce[NONCE_LEN], tag[TAG_LEN];
    size_t start = pgno == 1 ? HDR : 0, aad_n;
    int rc;

    (void)salts;
    memcpy(nonce, raw + PAGE - RES, NONCE_LEN);
    memcpy(tag, raw + PAGE - RES + NONCE_LEN, TAG_LEN);
    aad_n = page_aad(aad, pgno, raw);
    rc = store_crypt_gcm_open(&f->gcm, nonce, aad, aad_n, raw + start,
                              out + start, PAGE - RES - start, tag);
    if (rc == STORE_GCM_BROKEN) {
        fail(f->c, "page %lu of the %s: %s's AES-256-GCM failed to decrypt "
             "it (a library failure, not the data)", (unsigned long)pgno,
             domain == 'W' ? "WAL" : "database",
             store_crypt_gcm_name(f->gcm.backend));
        return SQLITE_IOERR_READ;
    }
    if (rc != STORE_GCM_OK) {
        fail(f->c, "page %lu of the %s failed its authentication check "
             "(changed on disk, or another key)", (unsigned long)pgno,
             domain == 'W' ? "WAL" : "database");
        return SQLITE_CORRUPT;
    }
    if (out != raw)
        memcpy(out, raw, start);
    memset(out + PAGE - RES, 0, RES);
    return SQLITE_OK;
}

/* AES-256-CTR over any range, the counter block from the offset. */
static void ctr_range(struct cfile *f, uint8_t *p, int amt,
                      sqlite3_int64 off)
{
    uint8_t block[16], stream[16];
    int i = 0;

    while (i < amt) {
        uint64_t idx = (uint64_t)(off + i) / 16;
        int skip = (int)((uint64_t)(off + i) % 16), j;

        memset(block, 0, 8);
        put32(block + 8, (uint32_t)(idx >> 32));
        put32(block + 12, (uint32_t)idx);
        mbedtls_aes_crypt_ecb(&f->ctr, MBEDTLS_AES_ENCRYPT, block, stream);
        for (j = skip; j < 16 && i < amt; j++, i++)
            p[i] ^= stream[j];
    }
}

/* ---- io methods --------------------------------------------------------- */

static int x_close(sqlite3_file *pf)
{
    struct cfile *f = (struct cfile *)pf;
    int rc = SQLITE_OK;

    if (f->kind == K_DB && f->dbname && ckpt.db == f->dbname)
        memset(&ckpt, 0, sizeof(ckpt));
    if (f->real->pMethods)
        rc = f->real->pMethods->xClose(f->real);
    store_crypt_gcm_free(&f->gcm);
    if (f->ctr_ready)
        mbedtls_aes_free(&f->ctr);
    plat_wipe(f->page, sizeof(f->page));
    return rc;
}

static int raw_read(struct cfile *f, void *buf, int amt, sqlite3_int64 off)
{
    return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int raw_write(struct cfile *f, const void *buf, int amt,
                     sqlite3_int64 off)
{
    return f->real->pMethods->xWrite(f->real, buf, amt, off);
}

static int all_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Database file: the clear header reads straight through; anything else
 * page by page through the scratch buffer (or straight into `out` for an
 * aligned whole page). */
static int db_read(struct cfile *f, uint8_t *out, int amt, sqlite3_int64 off)
{
    int done = 0, rc, short_read = 0;

    if (off + amt <= HDR)
        return raw_read(f, out, amt, off);
    while (done < amt) {
        sqlite3_int64 pos = off + done;
        sqlite3_int64 pstart = pos - pos % PAGE;
        int in = (int)(pos - pstart), n = PAGE - in;
        uint8_t *dst = (in == 0 && amt - done >= PAGE) ? out + done : f->page;

        if (n > amt - done)
            n = amt - done;
        rc = raw_read(f, dst, PAGE, pstart);
        if (rc == SQLITE_IOERR_SHORT_READ && all_zero(dst, PAGE)) {
            /* Past the end of the file: zeros, as SQLite expects. */
            short_read = 1;
        } else if (rc == SQLITE_IOERR_SHORT_READ) {
            fail(f->c, "page %lu of the %s is cut short",
                 (unsigned long)(pstart / PAGE + 1), "database");
            return SQLITE_CORRUPT;
        } else if (rc != SQLITE_OK) {
            return rc;
        } else if (pstart == 0 && memcmp(dst, "SQLite format 3", 16) != 0) {
            /* Not a SQLite file at all: SQLite says so (SQLITE_NOTADB)
             * when it sees the header. */
        } else {
            rc = open_page(f, dst, dst, 'D',
                           (uint32_t)(pstart / PAGE + 1), NULL);
            if (rc != SQLITE_OK)
                return rc;
        }
        if (dst == f->page)
            memcpy(out + done, f->page + in, (size_t)n);
        done += n;
    }
    return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

static int db_write(struct cfile *f, const uint8_t *in, int amt,
                    sqlite3_int64 off)
{
    int done, rc;

    if (off % PAGE != 0 || amt % PAGE != 0) {
        fail(f->c, "a write of %lu bytes at an odd place in the %s",
             (unsigned long)amt, "database");
        return SQLITE_IOERR_WRITE;
    }
    for (done = 0; done < amt; done += PAGE) {
        uint32_t pgno = (uint32_t)((off + done) / PAGE + 1);

        if (ckpt.db && ckpt.db == f->dbname && ckpt.buf == in + done) {
            /* A checkpoint copying the frame it just read (see ckpt). */
            ckpt.buf = NULL;
            if (ckpt.pgno != pgno ||
                memcmp(in + done + PAGE - RES, ckpt.seal, RES) != 0) {
                fail(f->c, "a WAL frame of page %lu would be copied to page "
                     "%lu of the database", (unsigned long)ckpt.pgno,
                     (unsigned long)pgno);
                return SQLITE_CORRUPT;
            }
            rc = raw_write(f, in + done, PAGE, off + done);
        } else {
            rc = seal_page(f, in + done, f->page, 'D', pgno, NULL);
            if (rc == SQLITE_OK)
                rc = raw_write(f, f->page, PAGE, off + done);
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* WAL: where the page data of frames lie. 1 when [off, off+amt) touches
 * the data of a frame; *data_off is then that data's offset. */
static int wal_data_at(sqlite3_int64 off, int amt, sqlite3_int64 *data_off)
{
    sqlite3_int64 rel, frame;

    if (off + amt <= WAL_HDR)
        return 0;
    rel = off < WAL_HDR ? 0 : off - WAL_HDR;
    frame = rel / WAL_FRAME;
    for (;; frame++) {
        sqlite3_int64 d = WAL_HDR + frame * WAL_FRAME + WAL_FHDR;

        if (d >= off + amt)
            return 0;
        if (d + PAGE > off) {
            *data_off = d;
            return 1;
        }
    }
}

static int wal_read(struct cfile *f, uint8_t *out, int amt,
                    sqlite3_int64 off)
{
    sqlite3_int64 d;
    int rc;

    if (!wal_data_at(off, amt, &d))
        return raw_read(f, out, amt, off);
    if (off == d && amt == PAGE) {
        /* The data of one frame, read with its header (the page number)
         * just before it: one system call. */
        rc = raw_read(f, f->page, WAL_FRAME, d - WAL_FHDR);
        if (rc != SQLITE_OK) {
            memset(out, 0, (size_t)amt);
            return rc;
        }
        if (ckpt.db && ckpt.db == f->dbname) {
            /* A checkpoint: the ciphertext as it is (see ckpt). */
            memcpy(out, f->page + WAL_FHDR, PAGE);
            ckpt.buf = out;
            ckpt.pgno = get32(f->page);
            memcpy(ckpt.seal, out + PAGE - RES, RES);
            return SQLITE_OK;
        }
        return open_page(f, f->page + WAL_FHDR, out, 'W', get32(f->page),
                         f->page + 8);
    }
    if (off == d - WAL_FHDR && amt == WAL_FRAME) {
        /* A whole frame (recovery after a crash). */
        rc = raw_read(f, out, amt, off);
        if (rc != SQLITE_OK)
            return rc;
        rc = open_page(f, out + WAL_FHDR, out + WAL_FHDR, 'W', get32(out),
                       out + 8);
        if (rc == SQLITE_CORRUPT)
            /* A frame that does not verify is where the log ends for
             * SQLite too (a torn last write): give it a frame whose
             * checksum cannot match, so recovery stops there. */
            memset(out, 0, (size_t)amt);
        return SQLITE_OK;
    }
    fail(f->c, "a read of %lu bytes at an odd place in the %s",
         (unsigned long)amt, "WAL");
    return SQLITE_IOERR_READ;
}

static int wal_write(struct cfile *f, const uint8_t *in, int amt,
                     sqlite3_int64 off)
{
    sqlite3_int64 d;
    const uint8_t *hdr;
    int rc;

    if (!wal_data_at(off, amt, &d)) {
        if (amt == WAL_FHDR) {
            memcpy(f->hdr, in, WAL_FHDR);
            f->hdr_off = off;
        }
        return raw_write(f, in, amt, off);
    }
    if (off != d || amt != PAGE) {
        fail(f->c, "a write of %lu bytes at an odd place in the %s",
             (unsigned long)amt, "WAL");
        return SQLITE_IOERR_WRITE;
    }
    if (f->hdr_off == d - WAL_FHDR) {
        hdr = f->hdr;
    } else {
        rc = raw_read(f, f->hdr, WAL_FHDR, d - WAL_FHDR);
        if (rc != SQLITE_OK)
            return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_WRITE : rc;
        f->hdr_off = d - WAL_FHDR;
        hdr = f->hdr;
    }
    rc = seal_page(f, in, f->page, 'W', get32(hdr), hdr + 8);
    if (rc != SQLITE_OK)
        return rc;
    return raw_write(f, f->page, PAGE, off);
}

static int x_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
    struct cfile *f = (struct cfile *)pf;
    int rc;

    switch (f->kind) {
    case K_DB:
        return db_read(f, buf, amt, off);
    case K_WAL:
        return wal_read(f, buf, amt, off);
    default:
        rc = raw_read(f, buf, amt, off);
        if (rc == SQLITE_OK) {
            ctr_range(f, buf, amt, off);
        } else if (rc == SQLITE_IOERR_SHORT_READ) {
            /* The bytes that were there, decrypted; zeros after them, as
             * SQLite expects. */
            sqlite3_int64 size = 0;
            int have;

            if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK)
                size = off;
            have = size > off ? (int)(size - off) : 0;
            if (have > amt)
                have = amt;
            ctr_range(f, buf, have, off);
            memset((uint8_t *)buf + have, 0, (size_t)(amt - have));
        }
        return rc;
    }
}

static int x_write(sqlite3_file *pf, const void *buf, int amt,
                   sqlite3_int64 off)
{
    struct cfile *f = (struct cfile *)pf;
    uint8_t *tmp;
    int rc, done, n;

    switch (f->kind) {
    case K_DB:
        return db_write(f, buf, amt, off);
    case K_WAL:
        return wal_write(f, buf, amt, off);
    default:
        tmp = f->page;
        for (done = 0; done < amt; done += n) {
            n = amt - done < (int)sizeof(f->page) ? amt - done
                                                  : (int)sizeof(f->page);
            memcpy(tmp, (const uint8_t *)buf + done, (size_t)n);
            ctr_range(f, tmp, n, off + done);
            rc = raw_write(f, tmp, n, off + done);
            if (rc != SQLITE_OK)
                return rc;
        }
        return SQLITE_OK;
    }
}

static int x_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xTruncate(f->real, size);
}

static int x_sync(sqlite3_file *pf, int flags)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xSync(f->real, flags);
}

static int x_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int x_lock(sqlite3_file *pf, int lock)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xLock(f->real, lock);
}

static int x_unlock(sqlite3_file *pf, int lock)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int x_check_reserved(sqlite3_file *pf, int *out)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int x_file_control(sqlite3_file *pf, int op, void *arg)
{
    struct cfile *f = (struct cfile *)pf;

    /* A size hint grows the file with zeros, which would read as pages
     * that fail authentication; SQLite only uses it as a hint. */
    if (op == SQLITE_FCNTL_SIZE_HINT)
        return SQLITE_OK;
    if (op == SQLITE_FCNTL_CKPT_START && f->kind == K_DB) {
        ckpt.db = f->dbname;
        ckpt.buf = NULL;
    } else if (op == SQLITE_FCNTL_CKPT_DONE && f->kind == K_DB) {
        memset(&ckpt, 0, sizeof(ckpt));
    }
    if (op == SQLITE_FCNTL_VFSNAME) {
        *(char **)arg = sqlite3_mprintf("%s", f->c->name);
        return SQLITE_OK;
    }
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int x_sector_size(sqlite3_file *pf)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xSectorSize(f->real);
}

static int x_device_chars(sqlite3_file *pf)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int x_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend,
                     void volatile **pp)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int x_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void x_shm_barrier(sqlite3_file *pf)
{
    struct cfile *f = (struct cfile *)pf;
    f->real->pMethods->xShmBarrier(f->real);
}

static int x_shm_unmap(sqlite3_file *pf, int del)
{
    struct cfile *f = (struct cfile *)pf;
    return f->real->pMethods->xShmUnmap(f->real, del);
}

/* Memory-mapped reads would hand SQLite the ciphertext: xFetch always
 * says "not mapped", and SQLite reads through xRead. (Version 3 rather
 * than 2, so a shim stacked on top that calls xFetch finds one.) */
static int x_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp)
{
    (void)pf;
    (void)off;
    (void)amt;
    *pp = NULL;
    return SQLITE_OK;
}

static int x_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    (void)pf;
    (void)off;
    (void)p;
    return SQLITE_OK;
}

static const sqlite3_io_methods crypt_io = {
    3, x_close, x_read, x_write, x_truncate, x_sync, x_size, x_lock,
    x_unlock, x_check_reserved, x_file_control, x_sector_size,
    x_device_chars, x_shm_map, x_shm_lock, x_shm_barrier, x_shm_unmap,
    x_fetch, x_unfetch
};

/* ---- the VFS ------------------------------------------------------------ */

static int x_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf,
                  int flags, int *out_flags)
{
    struct store_crypt *c = (struct store_crypt *)vfs;
    struct cfile *f = (struct cfile *)pf;
    uint8_t tkey[STORE_KEY_LEN];
    int rc;

    memset(f, 0, sizeof(*f));
    f->c = c;
    f->hdr_off = -1;
    f->real = (sqlite3_file *)((char *)pf + sizeof(struct cfile));
    if (flags & SQLITE_OPEN_MAIN_DB) {
        f->kind = K_DB;
        f->dbname = name;
    } else if (flags & SQLITE_OPEN_WAL) {
        f->kind = K_WAL;
        f->dbname = name ? sqlite3_filename_database(name) : NULL;
    } else if (flags &
               (SQLITE_OPEN_MAIN_JOURNAL | SQLITE_OPEN_SUPER_JOURNAL)) {
        f->kind = K_JOURNAL;
    } else {
        f->kind = K_TEMP;
    }
    rc = c->base->xOpen(c->base, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        f->real->pMethods = NULL;
        return rc;
    }
    mbedtls_aes_init(&f->ctr);
    f->ctr_ready = 1;
    if (f->kind == K_DB || f->kind == K_WAL) {
        if (store_crypt_gcm_init(&f->gcm, c->gcm, c->key) != 0) {
            fail(c, "%s's AES-256-GCM could not be keyed (out of memory, or "
                 "a library failure)", store_crypt_gcm_name(c->gcm));
            rc = SQLITE_CANTOPEN;
        } else if (plat_random_bytes(tkey, sizeof(tkey)) < 0 ||
                   mbedtls_aes_setkey_enc(&f->ctr, tkey,
                                          8 * STORE_KEY_LEN) != 0) {
            rc = SQLITE_CANTOPEN;
        }
        plat_wipe(tkey, sizeof(tkey));
    } else {
        if (f->kind == K_JOURNAL)
            memcpy(tkey, c->jkey, sizeof(tkey));
        else if (plat_random_bytes(tkey, sizeof(tkey)) < 0)
            rc = SQLITE_CANTOPEN;
        if (rc == SQLITE_OK &&
            mbedtls_aes_setkey_enc(&f->ctr, tkey, 8 * STORE_KEY_LEN) != 0)
            rc = SQLITE_CANTOPEN;
        plat_wipe(tkey, sizeof(tkey));
    }
    pf->pMethods = &crypt_io;
    if (rc != SQLITE_OK)
        x_close(pf), pf->pMethods = NULL;
    return rc;
}

/* The VFS under `v`. A test's shim may copy this VFS struct and replace
 * only xOpen: then `v` is not ours, and the base of the first instance
 * (every base ends at the OS VFS) answers. */
static sqlite3_vfs *first_base;

static sqlite3_vfs *base_of(sqlite3_vfs *v)
{
    return v->xOpen == x_open ? ((struct store_crypt *)v)->base : first_base;
}

#define BASE(v) base_of(v)

static int x_delete(sqlite3_vfs *v, const char *name, int sync)
{
    return BASE(v)->xDelete(BASE(v), name, sync);
}

static int x_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    return BASE(v)->xAccess(BASE(v), name, flags, out);
}

static int x_full_path(sqlite3_vfs *v, const char *name, int n, char *out)
{
    return BASE(v)->xFullPathname(BASE(v), name, n, out);
}

static void *x_dl_open(sqlite3_vfs *v, const char *name)
{
    return BASE(v)->xDlOpen(BASE(v), name);
}

static void x_dl_error(sqlite3_vfs *v, int n, char *msg)
{
    BASE(v)->xDlError(BASE(v), n, msg);
}

static void (*x_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    return BASE(v)->xDlSym(BASE(v), h, sym);
}

static void x_dl_close(sqlite3_vfs *v, void *h)
{
    BASE(v)->xDlClose(BASE(v), h);
}

static int x_randomness(sqlite3_vfs *v, int n, char *out)
{
    return BASE(v)->xRandomness(BASE(v), n, out);
}

static int x_sleep(sqlite3_vfs *v, int us)
{
    return BASE(v)->xSleep(BASE(v), us);
}

static int x_current_time(sqlite3_vfs *v, double *out)
{
    return BASE(v)->xCurrentTime(BASE(v), out);
}

static int x_last_error(sqlite3_vfs *v, int n, char *out)
{
    return BASE(v)->xGetLastError ? BASE(v)->xGetLastError(BASE(v), n, out)
                                  : 0;
}

static int x_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    sqlite3_vfs *b = BASE(v);
    double d;
    int rc;

    if (b->iVersion >= 2 && b->xCurrentTimeInt64)
        return b->xCurrentTimeInt64(b, out);
    rc = b->xCurrentTime(b, &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}

int store_crypt_create(struct store_crypt **out,
                       const uint8_t key[STORE_KEY_LEN])
{
    static const char label[] = "agent store journal key v1";
    mbedtls_sha256_context sha;
    struct store_crypt *c;
    sqlite3_vfs *base;
    unsigned long n;
    enum store_gcm_backend gcm;
    int rc;

    *out = NULL;
    rc = store_crypt_gcm_choose(&gcm);
    if (rc < 0)
        return rc;
    /* Over the default VFS, but never over the tests' encrypting one. */
    if (sqlite3_initialize() != SQLITE_OK ||
        !(base = test_instance ? test_instance->base : sqlite3_vfs_find(NULL)))
        return plat_err_set(ERR_GENERIC, "SQLite has no default VFS");
    c = plat_calloc(1, sizeof(*c));
    if (!c)
        return ERR_NOMEM;
    pthread_mutex_init(&c->lock, NULL);
    memcpy(c->key, key, STORE_KEY_LEN);
    c->gcm = gcm;
    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts_ret(&sha, 0);
    mbedtls_sha256_update_ret(&sha, (const uint8_t *)label,
                              sizeof(label) - 1);
    mbedtls_sha256_update_ret(&sha, key, STORE_KEY_LEN);
    mbedtls_sha256_finish_ret(&sha, c->jkey);
    mbedtls_sha256_free(&sha);
    pthread_mutex_lock(&seq_lock);
    n = ++instance_seq;
    pthread_mutex_unlock(&seq_lock);
    snprintf(c->name, sizeof(c->name), "agent-crypt-%lu", n);
    c->base = base;
    if (!first_base)
        first_base = base;
    c->vfs.iVersion = 2; /* no xNextSystemCall */
    c->vfs.szOsFile = (int)sizeof(struct cfile) + base->szOsFile;
    c->vfs.mxPathname = base->mxPathname;
    c->vfs.zName = c->name;
    c->vfs.xOpen = x_open;
    c->vfs.xDelete = x_delete;
    c->vfs.xAccess = x_access;
    c->vfs.xFullPathname = x_full_path;
    c->vfs.xDlOpen = x_dl_open;
    c->vfs.xDlError = x_dl_error;
    c->vfs.xDlSym = x_dl_sym;
    c->vfs.xDlClose = x_dl_close;
    c->vfs.xRandomness = x_randomness;
    c->vfs.xSleep = x_sleep;
    c->vfs.xCurrentTime = x_current_time;
    c->vfs.xGetLastError = x_last_error;
    c->vfs.xCurrentTimeInt64 = x_current_time64;
    if (sqlite3_vfs_register(&c->vfs, 0) != SQLITE_OK) {
        store_crypt_destroy(c);
        return plat_err_set(ERR_GENERIC, "cannot register the encrypting "
                            "VFS");
    }
    *out = c;
    return PLAT_OK;
}

void store_crypt_destroy(struct store_crypt *c)
{
    if (!c)
        return;
    sqlite3_vfs_unregister(&c->vfs);
    pthread_mutex_destroy(&c->lock);
    plat_wipe(c, sizeof(*c));
    plat_free(c);
}

const char *store_crypt_vfs_name(const struct store_crypt *c)
{
    return c->name;
}

const char *store_crypt_cipher(const struct store_crypt *c)
{
    return store_crypt_gcm_name(c->gcm);
}

/* The header is read through SQLite's own unix VFS, never with open() and
 * close() of our own: POSIX drops every lock a process holds on a file when
 * any descriptor of it is closed, and in a process with another connection
 * to this store (agent serve, the daemon) that lets another process think it
 * is alone, checkpoint and delete the WAL this connection still writes to
 * (its writes then vanish from everyone else's view). The unix VFS tracks
 * files by inode and defers such a close while locks are held. */
int store_crypt_file_kind(const char *path)
{
    static const char magic[] = "SQLite format 3";
    sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
    sqlite3_filename name;
    sqlite3_file *f;
    sqlite3_int64 size = 0;
    uint8_t h[HDR];
    int out_flags = 0, src, kind = STORE_FILE_OTHER;

    if (!unix_vfs || access(path, F_OK) != 0)
        return unix_vfs ? STORE_FILE_MISSING : STORE_FILE_OTHER;
    name = sqlite3_create_filename(path, "", "", 0, NULL);
    f = name ? sqlite3_malloc(unix_vfs->szOsFile) : NULL;
    if (!f) {
        sqlite3_free_filename(name);
        return STORE_FILE_OTHER;
    }
    memset(f, 0, (size_t)unix_vfs->szOsFile);
    src = unix_vfs->xOpen(unix_vfs, name, f,
                          SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_READONLY |
                              SQLITE_OPEN_NOFOLLOW,
                          &out_flags);
    if (src == SQLITE_OK) {
        if (f->pMethods->xFileSize(f, &size) == SQLITE_OK && size == 0)
            kind = STORE_FILE_MISSING;
        else if (size >= (sqlite3_int64)sizeof(h) &&
                 f->pMethods->xRead(f, h, (int)sizeof(h), 0) == SQLITE_OK &&
                 memcmp(h, magic, sizeof(magic)) == 0)
            kind = ((get32(h + 16) >> 16) == PAGE && h[20] == RES)
                       ? STORE_FILE_ENCRYPTED
                       : STORE_FILE_PLAIN;
    }
    if (f->pMethods)
        f->pMethods->xClose(f);
    sqlite3_free(f);
    sqlite3_free_filename(name);
    return kind;
}
