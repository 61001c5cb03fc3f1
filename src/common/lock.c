/* Writer locks (lock.h): fcntl record locks on "<path>.lock". */
#define _POSIX_C_SOURCE 200809L
#include "common/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"

/* Locks this process holds. Its descriptor stays open until exit: POSIX
 * drops a process's record locks on a file when ANY descriptor of that
 * file is closed, so the file is opened exactly once. */
static struct {
    char *path;
    int fd;
} g_held[8];

char *lr_lock_path(const char *path) {
    size_t n = strlen(path) + 6;
    char *p = xmalloc(n);
    snprintf(p, n, "%s.lock", path);
    return p;
}

/* The owner line a holder wrote, without its newline ("?" when empty). */
static void read_owner(int fd, char *buf, size_t n) {
    ssize_t got = pread(fd, buf, n - 1, 0);
    if (got < 0) got = 0;
    buf[got] = 0;
    char *nl = strchr(buf, '\n');
    if (nl) *nl = 0;
    if (!buf[0]) snprintf(buf, n, "owner not recorded yet");
}

static int lock_writer(const char *path, const char *command, int create_dir);

int lr_lock_writer(const char *path, const char *command) { return lock_writer(path, command, 1); }

int lr_lock_existing(const char *path, const char *command) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    return lock_writer(path, command, 0);
}

static int lock_writer(const char *path, const char *command, int create_dir) {
    const char *off = getenv("LR_NO_LOCK");
    if (off && !strcmp(off, "1")) return 0;
    for (size_t i = 0; i < sizeof g_held / sizeof g_held[0]; i++)
        if (g_held[i].path && !strcmp(g_held[i].path, path)) return 0;
    char *lp = lr_lock_path(path);
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0 && errno == ENOENT && create_dir) {
        /* the output's directory does not exist yet: writers create it (mkdir -p) */
        char *dir = xstrdup(path), *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            if (lr_mkdir_p(dir) == 0) fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
            else errno = ENOENT;
        }
        free(dir);
    }
    if (fd < 0) {
        lr_error_set(lp, "cannot create the writer lock file: %s", strerror(errno));
        free(lp);
        return -1;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET; /* whole file: start 0, length 0 */
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int err = errno;
        if (err == EAGAIN || err == EACCES) {
            char owner[512];
            read_owner(fd, owner, sizeof owner);
            lr_error_set(path,
                         "in use by another writer (%s); one writer per file: wait for it to finish, or choose "
                         "another output (lock %s)",
                         owner, lp);
            close(fd);
            free(lp);
            return -1;
        }
        /* no lock support on this file system: say so, go on unlocked */
        lr_warn("%s: cannot lock (%s): nothing stops a second writer on this file system (docs/runfile.md)", lp,
                strerror(err));
        close(fd);
        free(lp);
        return 0;
    }
    char host[256] = "?";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = 0;
    char when[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[512];
    int len = snprintf(line, sizeof line, "host %s, PID %ld, `lightreasoner %s` since %s\n", host, (long)getpid(),
                       command ? command : "?", when);
    if (len > 0 && (size_t)len < sizeof line) {
        /* informative only: a failure to record the owner does not matter */
        if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)len, 0) < 0) { /* nothing */
        }
    }
    for (size_t i = 0; i < sizeof g_held / sizeof g_held[0]; i++)
        if (!g_held[i].path) {
            g_held[i].path = xstrdup(path);
            g_held[i].fd = fd;
            break;
        }
    free(lp);
    return 0;
}
