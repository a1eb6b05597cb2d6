/*
 * libfaultline_deny.so: the faultline layer's denylist fault.
 *
 * Preloaded into the function's runtime (LD_PRELOAD, set by /opt/faultline-wrapper or the
 * bootstrap wrapper), it wraps getaddrinfo(3): when the file named by
 * $FAULTLINE_DENYLIST_FILE (default /tmp/.faultline-denylist) exists, each line is a POSIX
 * extended regex, and a host name matching any of them fails with EAI_NONAME, as if DNS had
 * no such name. The extension writes the file (atomically) while the fault is active and
 * removes it otherwise, and has already rejected patterns that could backtrack badly or expand
 * into huge automata (repetition bounds above 63).
 *
 * The patterns are compiled once and cached until the file changes (device, inode, size,
 * modification or change time), so a lookup costs one stat(2) plus the matching; host names
 * longer than a DNS name can be (253 characters) are not matched (the real resolver refuses
 * them anyway). The cache is guarded by a mutex. If anything goes wrong (unreadable file, bad
 * pattern) the lookup proceeds untouched: the shim fails open.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_FILE "/tmp/.faultline-denylist"
#define MAX_PATTERN 512
#define MAX_PATTERNS 64
#define MAX_HOST 253

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static int cache_valid = 0;
static struct stat cache_st;
static regex_t cache_re[MAX_PATTERNS];
static int cache_n = 0;
static unsigned long compiles = 0;

/* How many times the patterns file has been (re)compiled: tests check the cache is used. */
__attribute__((visibility("default"))) unsigned long faultline_deny_compiles(void) {
    pthread_mutex_lock(&cache_lock);
    unsigned long n = compiles;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

static void cache_clear(void) {
    for (int i = 0; i < cache_n; i++) regfree(&cache_re[i]);
    cache_n = 0;
    cache_valid = 0;
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Called with cache_lock held: compiles the file's patterns into the cache. */
static void cache_load(const char *path, const struct stat *st) {
    cache_clear();
    compiles++;
    FILE *f = fopen(path, "re");
    if (f == NULL) return;
    char line[MAX_PATTERN + 2];
    while (cache_n < MAX_PATTERNS && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') continue;
        if (regcomp(&cache_re[cache_n], line, REG_EXTENDED | REG_NOSUB | REG_ICASE) == 0)
            cache_n++;
    }
    fclose(f);
    cache_st = *st;
    cache_valid = 1;
}

static int denied(const char *host) {
    const char *path = getenv("FAULTLINE_DENYLIST_FILE");
    if (path == NULL || path[0] == '\0') path = DEFAULT_FILE;
    struct stat st;
    int present = stat(path, &st) == 0 && st.st_size > 0;
    pthread_mutex_lock(&cache_lock);
    if (!present) {
        if (cache_valid) cache_clear();
        pthread_mutex_unlock(&cache_lock);
        return 0;
    }
    if (!cache_valid || !same_file(&st, &cache_st)) cache_load(path, &st);
    int hit = 0;
    if (strnlen(host, MAX_HOST + 1) <= MAX_HOST)
        for (int i = 0; !hit && i < cache_n; i++)
            hit = regexec(&cache_re[i], host, 0, NULL, 0) == 0;
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

__attribute__((visibility("default"))) int getaddrinfo(const char *node, const char *service,
                                                       const struct addrinfo *hints,
                                                       struct addrinfo **res) {
    static getaddrinfo_fn real = NULL;
    getaddrinfo_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        fn = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
        if (fn == NULL) return EAI_SYSTEM;
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    if (node != NULL && node[0] != '\0' && denied(node)) return EAI_NONAME;
    return fn(node, service, hints, res);
}
