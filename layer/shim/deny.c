/*
 * libfaultline_deny.so: the faultline layer's denylist fault.
 *
 * Preloaded into the function's runtime (LD_PRELOAD, set by /opt/faultline-wrapper or the
 * bootstrap wrapper), it wraps getaddrinfo(3): when the file named by
 * $FAULTLINE_DENYLIST_FILE (default /tmp/.faultline-denylist) exists, each line is a POSIX
 * extended regex, and a host name matching any of them fails with EAI_NONAME, as if DNS had
 * no such name. The extension writes the file (atomically) while the fault is active and
 * removes it otherwise, and has already rejected patterns that could backtrack badly.
 *
 * Cost when inactive: one stat(2) per lookup. No global mutable state besides the resolved
 * pointer to the real getaddrinfo, so concurrent lookups are safe. If anything goes wrong
 * (unreadable file, bad pattern) the lookup proceeds untouched: the shim fails open.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_FILE "/tmp/.faultline-denylist"
#define MAX_PATTERN 512

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *,
                              struct addrinfo **);

static int denied(const char *host) {
    const char *path = getenv("FAULTLINE_DENYLIST_FILE");
    if (path == NULL || path[0] == '\0') path = DEFAULT_FILE;
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size == 0) return 0;
    FILE *f = fopen(path, "re");
    if (f == NULL) return 0;
    char line[MAX_PATTERN + 2];
    int hit = 0;
    while (!hit && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') continue;
        regex_t re;
        if (regcomp(&re, line, REG_EXTENDED | REG_NOSUB | REG_ICASE) != 0) continue;
        hit = regexec(&re, host, 0, NULL, 0) == 0;
        regfree(&re);
    }
    fclose(f);
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
