/*
 * harness-iofault: make a share of a server's disk I/O calls fail, for the chaos suite.
 *
 * Preloaded into a server (LD_PRELOAD), it wraps pwrite, pwritev, fsync and fdatasync
 * (the calls Postgres writes its data and WAL with) and, when asked, pread and preadv.
 * What to fail is read from the file named by HARNESS_IOFAULT_FILE, at most every 100 ms
 * (monotonic clock), so a test turns the fault on and off at run time:
 *
 *     <probability> <errno> <ops>        e.g. "0.1 5 w": 10 % of writes and syncs fail with EIO
 *
 * <ops> is w (writes and syncs), r (reads) or rw. "0" or a missing file: no fault.
 * Each injected failure appends one line "<pid> <call>" to HARNESS_IOFAULT_FILE.log, so a
 * test can count them. Each process draws from its own generator (seeded by pid and time).
 *
 * Why not libfiu: Debian's fiu_posix_preload.so exports hash_create, which Postgres also
 * defines (Postgres crashes at start), and its control thread dies on the postmaster's
 * signals. This file does one thing, for servers the harness starts itself.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double probability;
static int fault_errno = EIO;
static int fail_writes, fail_reads;
static struct timespec checked_at;
static unsigned long long state;

static long elapsed_ms(const struct timespec *then, const struct timespec *now) {
    return (now->tv_sec - then->tv_sec) * 1000L + (now->tv_nsec - then->tv_nsec) / 1000000L;
}

static void refresh(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (checked_at.tv_sec != 0 && elapsed_ms(&checked_at, &now) < 100) return;
    checked_at = now;
    probability = 0.0;
    const char *path = getenv("HARNESS_IOFAULT_FILE");
    if (path == NULL) return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char text[64] = {0};
    ssize_t got = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (got <= 0) return;
    double p = 0.0;
    int code = EIO;
    char ops[4] = "w";
    if (sscanf(text, "%lf %d %3s", &p, &code, ops) < 1) return;
    probability = p;
    fault_errno = code > 0 ? code : EIO;
    fail_writes = strchr(ops, 'w') != NULL;
    fail_reads = strchr(ops, 'r') != NULL;
}

static double draw(void) {
    if (state == 0) state = ((unsigned long long)getpid() << 32) ^ (unsigned long long)time(NULL) ^ 0x9E3779B97F4A7C15ULL;
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}

static void note(const char *call) {
    const char *path = getenv("HARNESS_IOFAULT_FILE");
    if (path == NULL) return;
    char log_path[4096];
    snprintf(log_path, sizeof(log_path), "%s.log", path);
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return;
    char line[64];
    int n = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), call);
    ssize_t ignored = write(fd, line, (size_t)n);
    (void)ignored;
    close(fd);
}

static int inject(int is_write, const char *call) {
    int saved = errno;
    refresh();
    errno = saved;
    if (probability <= 0.0) return 0;
    if (is_write ? !fail_writes : !fail_reads) return 0;
    if (draw() >= probability) return 0;
    note(call);
    errno = fault_errno;
    return 1;
}

#define REAL(name) static __typeof__(&name) real_##name; if (!real_##name) real_##name = (__typeof__(&name))dlsym(RTLD_NEXT, #name)

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    REAL(pwrite);
    if (inject(1, "pwrite")) return -1;
    return real_pwrite(fd, buf, count, offset);
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    REAL(pwritev);
    if (inject(1, "pwritev")) return -1;
    return real_pwritev(fd, iov, iovcnt, offset);
}

int fsync(int fd) {
    REAL(fsync);
    if (inject(1, "fsync")) return -1;
    return real_fsync(fd);
}

int fdatasync(int fd) {
    REAL(fdatasync);
    if (inject(1, "fdatasync")) return -1;
    return real_fdatasync(fd);
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset) {
    REAL(pread);
    if (inject(0, "pread")) return -1;
    return real_pread(fd, buf, count, offset);
}

ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    REAL(preadv);
    if (inject(0, "preadv")) return -1;
    return real_preadv(fd, iov, iovcnt, offset);
}
