/* Stats sections other modules add to urt_stats_dump_json (and to the
 * URT_STATS=path file): core keeps the registry so it depends on none of
 * them. A provider writes one JSON value (normally an object) for its
 * section, e.g. offload registers "offload" and writes {"queued":3,...}.
 * Self-contained on purpose: includable from any module. */
#ifndef URT_STATS_PROVIDER_H
#define URT_STATS_PROVIDER_H

#include <stdio.h>

/* Write this section's JSON value to out (fprintf is fine). Called from
 * any loop thread, with the registry lock held: it must be thread-safe
 * and must not (un)register providers. Return 0, or -errno to leave the
 * section out (it is then written as null). */
typedef int (*urt__stats_write_fn)(FILE *out, void *arg);

/* Add section name (a string that outlives the registration, a JSON key
 * without escapes) written by fn(out, arg). Returns 0; -EINVAL (NULL
 * name/fn); -EEXIST (name taken); -ENOSPC (16 providers already). */
int urt__stats_provider_register(const char *name, urt__stats_write_fn fn, void *arg);
/* Remove section name; once it returns, fn is not running and will not be
 * called again. Returns 0, or -ENOENT. */
int urt__stats_provider_unregister(const char *name);

#endif
