/* Guest RAM file view with a SIGBUS guard; see ramview.h. */
#include "ramview.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

__thread sigjmp_buf ramview_jb;
__thread volatile sig_atomic_t ramview_armed;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    if (ramview_armed) {
        ramview_armed = 0;
        siglongjmp(ramview_jb, 1);
    }
    /* Not inside a guarded read: a real bug, die as SIGBUS would. */
    signal(sig, SIG_DFL);
    raise(sig);
}

int ramview_init_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, NULL);
}

void ramview_arm(void)
{
    ramview_init_signals();
    ramview_armed = 1;
}

static void unmap(struct ramview *v)
{
    if (v->base)
        munmap((void *)v->base, v->size);
    v->base = NULL;
    v->size = 0;
}

static int map(struct ramview *v)
{
    struct stat st;
    void *p;

    if (fstat(v->fd, &st) < 0)
        return -1;
    v->ino = st.st_ino;
    if (st.st_size <= 0)
        return 0;
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, v->fd, 0);
    if (p == MAP_FAILED)
        return -1;
    v->base = p;
    v->size = (uint64_t)st.st_size;
    return 0;
}

int ramview_open(struct ramview *v, const char *path)
{
    memset(v, 0, sizeof(*v));
    v->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (v->fd < 0)
        return -1;
    if (map(v) < 0) {
        int e = errno;
        close(v->fd);
        v->fd = -1;
        errno = e;
        return -1;
    }
    return 0;
}

int ramview_refresh(struct ramview *v)
{
    struct stat st;

    if (v->fd < 0)
        return -1;
    if (fstat(v->fd, &st) < 0)
        return -1;
    if ((uint64_t)st.st_size == v->size && st.st_ino == v->ino)
        return 0;
    unmap(v);
    return map(v) < 0 ? -1 : 1;
}

void ramview_release(const void *base, uint64_t len)
{
    if (base && len)
        madvise((void *)base, len, MADV_DONTNEED);
}

void ramview_close(struct ramview *v)
{
    unmap(v);
    if (v->fd >= 0)
        close(v->fd);
    v->fd = -1;
}
