/*
 * lifecycle.c - constructor, destructor and fork handlers.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>

#include "shell.h"

/* One exported marker: the first copy of the library in the global scope
 * owns it. A second copy in LD_PRELOAD finds another copy's marker and
 * stays inert (its wrappers only forward). The marker points at a hidden
 * object: a reference to the exported name itself would go through the
 * GOT and resolve to the first copy in every copy. */
static const char instance_tag[] = "headershim " HS_VERSION;
HS_EXPORT const char *const headershim_instance = instance_tag;

static void atfork_prepare(void)
{
    if (hs_cfg.mode == HS_MODE_OFF)
        return;
    hs_in_shim++;
    /* Rule 10: flush what is owed, and keep every connection still until
     * both processes have their copy. */
    hs_tracks_lock_all();
    hs_conn_pool_lock();
}

static void atfork_parent(void)
{
    if (hs_cfg.mode == HS_MODE_OFF)
        return;
    hs_conn_pool_unlock();
    hs_tracks_unlock_all_parent();
    hs_in_shim--;
}

static void atfork_child(void)
{
    if (hs_cfg.mode == HS_MODE_OFF)
        return;
    hs_conn_pool_reinit_child();
    hs_tracks_reinit_child();
    hs_log_atfork_child();
    hs_in_shim--;
}

/* glibc passes argc and argv to ELF constructors. */
__attribute__((constructor)) static void hs_init(int argc, char **argv)
{
    int saved = errno;
    hs_real_bind();
    hs_owner_pid = (pid_t)hs_raw(SYS_getpid, 0, 0, 0);
    const char *const *first = dlsym(RTLD_DEFAULT, "headershim_instance");
    if (first && *first != instance_tag) {
        hs_cfg.inert = true;        /* mode stays OFF */
        errno = saved;
        return;
    }
    hs_env_init(argc, argv);
    if (hs_cfg.mode != HS_MODE_OFF) {
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        hs_log_start();
    }
    errno = saved;
}

__attribute__((destructor)) static void hs_fini(void)
{
    if (hs_cfg.mode == HS_MODE_OFF || !hs_is_owner())
        return;
    int saved = errno;
    hs_in_shim++;
    if (hs_cfg.mode == HS_MODE_ENFORCE)
        hs_tracks_flush_all(HS_FLUSH_TIMEOUT_MS);
    hs_log_exit();
    hs_in_shim--;
    errno = saved;
}
