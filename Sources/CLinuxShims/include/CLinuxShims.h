#ifndef CLINUXSHIMS_H
#define CLINUXSHIMS_H

// Linux APIs that Swift's Glibc module does not expose (epoll, eventfd, timerfd, TCP options, prctl), plus
// small wrappers for macros and for `struct epoll_event`, which is packed on x86_64. Imported by EventLoop, and by
// tensorwire-server's main for the process-wide prctl.

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

/// The event loop of the calling thread (EventLoop.current), set and read on that thread only.
void cls_set_current_loop(void *loop);
void *cls_current_loop(void);

static inline uint32_t cls_epollin(void) { return EPOLLIN; }
static inline uint32_t cls_epollout(void) { return EPOLLOUT; }
static inline uint32_t cls_epollerr(void) { return EPOLLERR; }
static inline uint32_t cls_epollhup(void) { return EPOLLHUP; }
static inline uint32_t cls_epollrdhup(void) { return EPOLLRDHUP; }

static inline int cls_errno(void) { return errno; }

/// epoll_create1(EPOLL_CLOEXEC).
static inline int cls_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

/// epoll_ctl with the event's data set to `token`. `op` is 0 = add, 1 = modify, 2 = delete.
int cls_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);

/// epoll_wait into two plain arrays (tokens and event masks) so Swift never touches the packed struct.
/// Retries on EINTR. Returns the number of ready entries, or -1 with errno set.
int cls_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms);

/// A non-blocking, close-on-exec eventfd with a zero counter.
static inline int cls_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// A non-blocking TCP listener on host:port (numeric or resolvable host; port 0 picks an ephemeral port),
/// SO_REUSEADDR set. Returns the fd, or -errno (a getaddrinfo failure reports -EADDRNOTAVAIL).
int cls_tcp_listen(const char *host, int port, int backlog);

/// Starts a non-blocking TCP connect. Returns the fd (>= 0) or -errno. `*in_progress` is 1 when the connect
/// completes later (wait for writability, then read cls_socket_error).
int cls_tcp_connect(const char *host, int port, int *in_progress);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC. Returns the fd or -1 with errno set.
int cls_accept(int fd);

/// Names the calling thread (truncated to 15 bytes), for ps/top/gdb.
void cls_set_thread_name(const char *name);

/// send(2) with MSG_NOSIGNAL: a peer that has gone away yields EPIPE instead of killing the process with SIGPIPE.
static inline ssize_t cls_send(int fd, const void *buf, size_t len) { return send(fd, buf, len, MSG_NOSIGNAL); }

/// writev(2) as sendmsg(2) with MSG_NOSIGNAL (see cls_send).
static inline ssize_t cls_sendv(int fd, const struct iovec *iov, int iovcnt) {
    struct msghdr msg = {0};
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)iovcnt;
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

/// prctl(PR_SET_DUMPABLE, 0): no core dumps, no ptrace attach and no /proc/PID/ reads (mem, environ, maps...) by
/// same-user processes without CAP_SYS_PTRACE. prctl is variadic, which Swift cannot call. Returns 0 or -errno.
static inline int cls_set_non_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : -errno; }

/// prctl(PR_GET_DUMPABLE): 0 when the process is non-dumpable, 1 or 2 otherwise, -errno on failure.
static inline int cls_dumpable(void) {
    int value = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    return value < 0 ? -errno : value;
}

/// The local port of a bound socket, or -errno.
int cls_local_port(int fd);

/// The peer of a connected socket as text: "1.2.3.4:5678" or "[::1]:5678" into `out` (NUL-terminated, at most
/// `size` bytes). Returns 0, or -errno.
int cls_peer_address(int fd, char *out, int size);

/// SO_ERROR of a socket (0 when a non-blocking connect succeeded), or -errno if getsockopt fails.
int cls_socket_error(int fd);

/// TCP_NODELAY on (1) or off (0). Returns 0 or -errno.
int cls_set_nodelay(int fd, int on);

/// Re-executes this program (/proc/self/exe, the same `argv`, the same process id) with `setting` (e.g.
/// "glibc.malloc.tcache_count=1000") appended to GLIBC_TUNABLES, which glibc reads only when a program starts.
/// Does nothing and returns 1 when GLIBC_TUNABLES already names `key` (this is the re-executed program, or the
/// operator chose a value); the re-executed program then also takes back its name (the executable's file name, not
/// the "exe" the kernel takes from /proc/self/exe). Returns only when it did not re-execute: 1 as above, or -errno
/// when execv failed (the environment is left as it was). Call it before starting threads.
int cls_reexec_with_glibc_tunable(char *const argv[], const char *key, const char *setting);

/// The CPUs this process may run on (`sched_getaffinity`: `taskset`, a container's cpuset), at least 1; 0 when the
/// mask cannot be read.
int cls_cpus_allowed(void);

#endif
