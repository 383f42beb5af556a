// accept4 and pthread_setname_np are GNU extensions.
#define _GNU_SOURCE
#include "CLinuxShims.h"
#include <arpa/inet.h>
#include <errno.h>

#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/// The event loop running on this thread (an unretained EventLoop), or NULL: set by the loop thread itself when its
/// run starts and cleared when it ends, read only on the same thread.
static _Thread_local void *cls_current_loop_pointer = NULL;

void cls_set_current_loop(void *loop) { cls_current_loop_pointer = loop; }

void *cls_current_loop(void) { return cls_current_loop_pointer; }

int cls_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    static const int ops[3] = {EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL};
    if (op < 0 || op > 2) {
        errno = EINVAL;
        return -1;
    }
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, ops[op], fd, &ev);
}

int cls_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n;
    do {
        n = epoll_wait(epfd, evs, max, timeout_ms);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) {
        tokens[i] = evs[i].data.u64;
        events[i] = evs[i].events;
    }
    return n;
}

static struct addrinfo *resolve(const char *host, int port, int passive) {
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0) return NULL;
    return res;
}

int cls_tcp_listen(const char *host, int port, int backlog) {
    struct addrinfo *res = resolve(host, port, 1);
    if (res == NULL) return -EADDRNOTAVAIL;
    int err = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
            freeaddrinfo(res);
            return fd;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return -err;
}

int cls_tcp_connect(const char *host, int port, int *in_progress) {
    *in_progress = 0;
    struct addrinfo *res = resolve(host, port, 0);
    if (res == NULL) return -EADDRNOTAVAIL;
    int err = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc == 0 || errno == EINPROGRESS) {
            *in_progress = (rc != 0);
            freeaddrinfo(res);
            return fd;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    return -err;
}

int cls_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

int cls_peer_address(int fd, char *out, int size) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (size < 64) return -EINVAL;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    char host[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        if (!inet_ntop(AF_INET, &in->sin_addr, host, sizeof host)) return -errno;
        snprintf(out, (size_t)size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
        return 0;
    }
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        if (!inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host)) return -errno;
        snprintf(out, (size_t)size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
        return 0;
    }
    return -EAFNOSUPPORT;
}

int cls_socket_error(int fd) {
    int value = 0;
    socklen_t len = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) != 0) return -errno;
    return value;
}

int cls_set_nodelay(int fd, int on) {
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0 ? 0 : -errno;
}

int cls_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); }

void cls_set_thread_name(const char *name) {
    char truncated[16];
    snprintf(truncated, sizeof truncated, "%s", name);
    pthread_setname_np(pthread_self(), truncated);
}

/// After a re-execution through /proc/self/exe the kernel names the process "exe" (the name comes from the path
/// given to exec); `ps`, `top` and `pgrep tensorwire` would show that. Gives the process the name a plain
/// start gives it: the executable's file name, cut to the kernel's 15 bytes. Leaves any other name alone.
static void cls_restore_name_after_reexec(void) {
    char name[16] = {0};
    if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0 || strcmp(name, "exe") != 0) return;
    char path[4096];
    ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
    if (length <= 0) return;
    path[length] = '\0';
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    if (*base == '\0') return;
    char truncated[16];
    snprintf(truncated, sizeof truncated, "%s", base);
    prctl(PR_SET_NAME, truncated, 0, 0, 0);
}

int cls_reexec_with_glibc_tunable(char *const argv[], const char *key, const char *setting) {
    const char *current = getenv("GLIBC_TUNABLES");
    if (current != NULL && strstr(current, key) != NULL) {
        cls_restore_name_after_reexec();
        return 1;
    }
    size_t current_length = current != NULL ? strlen(current) : 0;
    size_t setting_length = strlen(setting);
    char *saved = current != NULL ? strdup(current) : NULL;
    char *value = malloc(current_length + setting_length + 2);
    if (value == NULL || (current != NULL && saved == NULL)) {
        free(value);
        free(saved);
        return -ENOMEM;
    }
    if (current_length > 0) {
        memcpy(value, current, current_length);
        value[current_length] = ':';
        memcpy(value + current_length + 1, setting, setting_length + 1);
    } else {
        memcpy(value, setting, setting_length + 1);
    }
    int rc = setenv("GLIBC_TUNABLES", value, 1);
    free(value);
    if (rc != 0) {
        int error = errno;
        free(saved);
        return -error;
    }
    execv("/proc/self/exe", argv);
    int error = errno;
    if (saved != NULL) {
        setenv("GLIBC_TUNABLES", saved, 1);
        free(saved);
    } else {
        unsetenv("GLIBC_TUNABLES");
    }
    return -error;
}

int cls_cpus_allowed(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    int count = CPU_COUNT(&set);
    return count > 0 ? count : 0;
}
