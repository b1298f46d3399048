/* Micro-measure (not a test): the process CPU one trivial syscall costs on this host (getppid, and getpeername on a
 * connected loopback socket, as uWS's client address makes per request), to read the syscall counts in bench/RESULTS.md.
 * cc -O2 -o /tmp/syscall-cost bench/micro/syscall-cost.c && taskset -c 1 /tmp/syscall-cost */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void) {
  const int n = 1000000;
  for (int r = 0; r < 5; r++) {
    double a = cpu_ns();
    for (int i = 0; i < n; i++) syscall(SYS_getppid); /* not cached by libc */
    double b = cpu_ns();
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(0x7f000001);
    socklen_t l = sizeof sa;
    bind(s, (struct sockaddr *)&sa, sizeof sa);
    listen(s, 1);
    getsockname(s, (struct sockaddr *)&sa, &l);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&sa, sizeof sa);
    int peer = accept(s, 0, 0);
    struct sockaddr_in6 p;
    double d = cpu_ns();
    for (int i = 0; i < n; i++) { l = sizeof p; getpeername(peer, (struct sockaddr *)&p, &l); }
    double e = cpu_ns();
    printf("round %d: getppid %.0f ns, getpeername %.0f ns per call (process CPU)\n", r, (b - a) / n, (e - d) / n);
    close(peer); close(c); close(s);
  }
  return 0;
}
