/* fakexen.c - LD_PRELOAD shim that stubs out the Xen hypervisor interfaces
 * Debian's cxenstored 4.17 needs, so that the real, unmodified daemon can
 * serve its unix socket on a machine without Xen.  Test harness only: it is
 * not a Xen host (every domid "exists", event channels never fire, dom0's
 * ring page is an ordinary zero-filled file).
 *
 * Build (Debian packages gcc, libc6-dev, libxen-dev):
 *   gcc -shared -fPIC -O2 -o fakexen.so fakexen.c -ldl
 * Use: see README.md and xenstored-start.sh next to this file.
 * Environment: FAKEXEN_DIR=DIR redirects every open() of /proc/xen/NAME to
 * DIR/NAME (DIR/xsd_port must contain "1", DIR/xsd_kva must be a 4096-byte
 * file).
 * Origin: copied unchanged (but for these two lines) from the hvnet project's shared Xen
 * research material, shared/xen/fakexen.c (see shared/reference/xen-hotplug.md §19). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

static int dummy;
static int evfd = -1;

xc_interface *xc_interface_open(xentoollog_logger *l, xentoollog_logger *d, unsigned f)
{ (void)l; (void)d; (void)f; return (xc_interface *)&dummy; }
int xc_interface_close(xc_interface *x) { (void)x; return 0; }

/* Every domid below DOMID_FIRST_RESERVED "exists" and is running. */
int xc_domain_getinfo(xc_interface *x, uint32_t first, unsigned int max, xc_dominfo_t *info)
{
    (void)x;
    if (max < 1 || first >= DOMID_FIRST_RESERVED)
        return 0;
    memset(info, 0, sizeof(*info));
    info->domid = first;
    info->running = 1;
    return 1;
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *l, unsigned f)
{
    (void)l; (void)f;
    if (evfd < 0)
        evfd = eventfd(0, 0); /* pollable, never becomes readable */
    return (xenevtchn_handle *)&dummy;
}
xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *l, int fd, unsigned f)
{ (void)l; (void)f; evfd = fd; return (xenevtchn_handle *)&dummy; }
int xenevtchn_fd(xenevtchn_handle *h) { (void)h; return evfd; }
int xenevtchn_notify(xenevtchn_handle *h, evtchn_port_t p) { (void)h; (void)p; return 0; }
static int next_port = 1;
xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *h, uint32_t d, evtchn_port_t r)
{ (void)h; (void)d; (void)r; return next_port++; }
xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *h, unsigned int v)
{ (void)h; (void)v; return next_port++; }
int xenevtchn_unbind(xenevtchn_handle *h, evtchn_port_t p) { (void)h; (void)p; return 0; }
xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *h) { (void)h; return -1; }
int xenevtchn_unmask(xenevtchn_handle *h, evtchn_port_t p) { (void)h; (void)p; return 0; }

xengnttab_handle *xengnttab_open(struct xentoollog_logger *l, unsigned f)
{ (void)l; (void)f; return (xengnttab_handle *)&dummy; }
int xengnttab_close(xengnttab_handle *x) { (void)x; return 0; }
int xengnttab_set_max_grants(xengnttab_handle *x, uint32_t n) { (void)x; (void)n; return 0; }
void *xengnttab_map_grant_ref(xengnttab_handle *x, uint32_t d, uint32_t r, int p)
{ (void)x; (void)d; (void)r; (void)p; return NULL; }
int xengnttab_unmap(xengnttab_handle *x, void *a, uint32_t c) { (void)x; (void)a; (void)c; return 0; }

/* Redirect dom0's xenbus port / ring page to files in $FAKEXEN_DIR. */
int open(const char *path, int flags, ...)
{
    static int (*real_open)(const char *, int, ...);
    mode_t mode = 0;
    char buf[4096];
    const char *dir = getenv("FAKEXEN_DIR");

    if (!real_open)
        real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    if (dir && path && strncmp(path, "/proc/xen/", 10) == 0) {
        snprintf(buf, sizeof(buf), "%s/%s", dir, path + 10);
        path = buf;
    }
    return real_open(path, flags, mode);
}
