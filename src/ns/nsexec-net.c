/* The network step of tsrun-nsexec: a new network namespace starts with only
 * `lo`, and it is down. runc brings it up before any hook or process runs, and
 * programs expect 127.0.0.1 and ::1 to answer (a health check on localhost, a
 * sidecar in the same pod). Nothing else does it for a plain `ctr run` or a
 * `podman run --network none`, so the runtime must.
 *
 * Setting IFF_UP on `lo` is enough: the kernel itself adds 127.0.0.1/8 and
 * ::1 when the loopback device goes up. */
#define _GNU_SOURCE
#include "nsexec.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* loopback-up: IFF_UP on "lo" of the network namespace we are in. */
void op_loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno, "socket for the loopback device");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) fail(errno, "read the flags of lo");
  if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) fail(errno, "bring lo up");
  }
  close(fd);
}
