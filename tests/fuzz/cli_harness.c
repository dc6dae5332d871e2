/*
 * cli_harness.c - see cli_harness.h.
 */
#define _XOPEN_SOURCE 700
#include "cli_harness.h"

#include "cli.h"
#include "fake_http.h"
#include "fuzz.h"
#include "plat_log.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ARGS 40

static char dir[64], work[96], conf[96], db[96], pristine[96];
static char *conf_text;
static int ready, home = -1; /* home: the caller's working directory */

const char *fuzz_cli_dir(void) { return dir; }
const char *fuzz_cli_work(void) { return work; }

void fuzz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) ||
        close(fd) != 0) {
        perror(path);
        exit(1);
    }
}

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out;
    ssize_t n;

    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0) {
        perror("copy");
        exit(1);
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            perror("copy");
            exit(1);
        }
    close(in);
    close(out);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    if (ftw->level > 0)
        remove(path);
    return 0;
}

static void empty_dir(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int rm_any(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* The harness folder goes at exit (a crash keeps it, for a look). */
static void remove_all(void)
{
    if (dir[0])
        nftw(dir, rm_any, 16, FTW_DEPTH | FTW_PHYS);
}

static int run_raw(int argc, const char *const *args)
{
    char *argv[MAX_ARGS + 4];
    int n = 0, i;

    argv[n++] = (char *)(uintptr_t)"agent";
    argv[n++] = (char *)(uintptr_t)"--config";
    argv[n++] = conf;
    for (i = 0; i < argc && i < MAX_ARGS; i++)
        argv[n++] = (char *)(uintptr_t)args[i];
    argv[n] = NULL;
    return agent_cli_main(n, argv);
}

static void must(int argc, const char *const *args)
{
    int rc = run_raw(argc, args);

    if (rc != 0) {
        fprintf(stderr, "fuzz setup: agent %s %s: exit %d\n", args[0],
                argc > 1 ? args[1] : "", rc);
        exit(1);
    }
}

#define MUST(...)                                                           \
    do {                                                                    \
        const char *a_[] = {__VA_ARGS__};                                   \
        must((int)(sizeof(a_) / sizeof(a_[0])), a_);                        \
    } while (0)

void fuzz_cli_setup(void)
{
    char path[160];
    size_t n;

    if (ready)
        return;
    ready = 1;
    /* On tmpfs when there is one: each run commits (fsync) a few times,
     * which costs ~10 ms apiece on a disk and nothing in memory. */
    snprintf(dir, sizeof(dir), "%s/fuzz-cli.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    atexit(remove_all);
    snprintf(work, sizeof(work), "%s/work", dir);
    snprintf(conf, sizeof(conf), "%s/agent.conf", dir);
    snprintf(db, sizeof(db), "%s/agent.db", dir);
    snprintf(pristine, sizeof(pristine), "%s/pristine.db", dir);
    snprintf(path, sizeof(path), "%s/usb", dir);
    mkdir(work, 0700);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/usb/in", dir);
    mkdir(path, 0700);

    snprintf(path, sizeof(path), "%s/map.json", dir);
    {
        static const char map[] =
            "{\"full_name\": \"fullName\", \"phone\": \"phoneNumber\", "
            "\"household_size\": \"householdSize\", "
            "\"district\": \"district\"}\n";
        fuzz_write_file(path, map, strlen(map));
    }
    snprintf(path, sizeof(path), "%s/espo.json", dir);
    {
        static const char map[] =
            "{\"name\": \"fullName\", \"phoneNumber\": \"phoneNumber\", "
            "\"cDistrict\": {\"field\": \"district\", \"values\": "
            "{\"north\": \"North\", \"south\": \"South\"}}, "
            "\"cHouseholdSize\": {\"field\": \"householdSize\", "
            "\"type\": \"number\"}}\n";
        fuzz_write_file(path, map, strlen(map));
    }
    n = (size_t)snprintf(NULL, 0, "%s", "") + 2048;
    conf_text = malloc(n);
    if (!conf_text)
        exit(1);
    snprintf(conf_text, n,
             "[store]\npath = %s\nsynchronous = normal\n"
             "[121]\nurl = http://fuzz121.invalid\nprogram_id = 3\n"
             "user = fuzz@example.org\n"
             "[kobo]\nurl = http://fuzzkobo.invalid\n"
             "assets = aFuzzAsset0000000000001\nprogram_id = 3\n"
             "mapping = %s/map.json\nfsp = Intersolve-voucher-paper\n"
             "page_size = 50\n"
             "[espocrm]\nurl = http://fuzzespo.invalid\nentity = Contact\n"
             "reference_field = cReferenceId\nmapping = %s/espo.json\n"
             "program_id = 3\n"
             "[file]\nenabled = true\ndir = %s/usb\nprogram_id = 3\n"
             "export = false\n"
             "[sync]\nmax_attempts = 2\nbackoff_base_ms = 1\n"
             "backoff_cap_ms = 1\nbatch = 10\nwindow = 100\n"
             "[log]\nlevel = error\n",
             db, dir, dir, dir);
    fuzz_write_file(conf, conf_text, strlen(conf_text));
    setenv("AGENT_CONFIG", conf, 1);
    setenv("AGENT_121_PASSWORD", "fuzz-password", 1);
    setenv("AGENT_KOBO_TOKEN", "fuzz-token", 1);
    setenv("AGENT_ESPOCRM_API_KEY", "fuzz-key", 1);
    if (!freopen("/dev/null", "r", stdin))
        exit(1);
    home = open(".", O_RDONLY | O_DIRECTORY);
    if (home < 0 || chdir(work) != 0)
        exit(1);

    /* The store: the program, two people added offline, an edit and a
     * status change of one of them (an outbox with every kind). */
    fake_http_script("", 0);
    MUST("-q", "init", "--server", "http://fuzz121.invalid", "--program",
         "3", "--user", "fuzz@example.org", "--store", db, "--force");
    fuzz_write_file(conf, conf_text, strlen(conf_text));
    snprintf(path, sizeof(path), "%s/program.json", FUZZ_DATA);
    MUST("-q", "program", "import", path);
    MUST("-q", "registrations", "add", "referenceId=fuzz-ref-0001",
         "fullName=Fuzz One", "phoneNumber=31600000001",
         "programFspConfigurationName=Intersolve-voucher-paper",
         "householdSize=3", "district=north");
    MUST("-q", "registrations", "add", "referenceId=fuzz-ref-0002",
         "fullName=Fuzz Two", "phoneNumber=31600000002",
         "programFspConfigurationName=Intersolve-voucher-paper");
    MUST("-q", "registrations", "edit", "fuzz-ref-0001", "householdSize=4",
         "--reason", "recount");
    MUST("-q", "registrations", "status", "fuzz-ref-0002", "declined",
         "--reason", "moved away");
    copy_file(db, pristine);
    if (fchdir(home) != 0)
        exit(1);
}

int fuzz_cli_run(int argc, const char *const *argv)
{
    char path[128];
    int rc;

    fuzz_cli_setup();
    empty_dir(work);
    snprintf(path, sizeof(path), "%s/usb/out", dir);
    empty_dir(path);
    copy_file(pristine, db);
    snprintf(path, sizeof(path), "%s-wal", db);
    unlink(path);
    snprintf(path, sizeof(path), "%s-shm", db);
    unlink(path);
    fuzz_write_file(conf, conf_text, strlen(conf_text));
    /* Relative paths of the command land in the scratch folder. */
    if (chdir(work) != 0)
        abort();
    rc = run_raw(argc, argv);
    if (fchdir(home) != 0)
        abort();
    FUZZ_CHECK(rc >= AGENT_EXIT_OK && rc <= AGENT_EXIT_BUSY);
    return rc;
}
