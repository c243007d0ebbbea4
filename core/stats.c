/* Stats as JSON: the loop's counters plus the sections other modules
 * register (stats_provider.h), on request or, with URT_STATS=path, as one
 * line appended to path when each loop is destroyed. */
#include "core_internal.h"
#include "stats_provider.h"
#include "urt_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define URT_MAX_PROVIDERS 16

static pthread_mutex_t providers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct provider {
	const char *name;         /* section key, NULL if the slot is free */
	urt__stats_write_fn fn;
	void *arg;
} providers[URT_MAX_PROVIDERS];

int urt__stats_provider_register(const char *name, urt__stats_write_fn fn, void *arg)
{
	if (!name || !fn)
		return -EINVAL;
	int r = -ENOSPC;
	pthread_mutex_lock(&providers_lock);
	for (unsigned i = 0; i < URT_MAX_PROVIDERS; i++)
		if (providers[i].name && strcmp(providers[i].name, name) == 0) {
			r = -EEXIST;
			goto out;
		}
	for (unsigned i = 0; i < URT_MAX_PROVIDERS; i++)
		if (!providers[i].name) {
			providers[i] = (struct provider){name, fn, arg};
			r = 0;
			break;
		}
out:
	pthread_mutex_unlock(&providers_lock);
	return r;
}

int urt__stats_provider_unregister(const char *name)
{
	int r = -ENOENT;
	pthread_mutex_lock(&providers_lock);
	for (unsigned i = 0; name && i < URT_MAX_PROVIDERS; i++)
		if (providers[i].name && strcmp(providers[i].name, name) == 0) {
			providers[i] = (struct provider){0};
			r = 0;
		}
	pthread_mutex_unlock(&providers_lock);
	return r;
}

static void write_loop(FILE *f, const urt_loop *l)
{
	const urt_loop_stats *s = &l->stats;
	fprintf(f, "\"loop\":{\"id\":%llu,\"ticks\":%llu,\"enters\":%llu,\"sqes\":%llu,"
		   "\"cqes\":%llu,\"cqe_hist\":[",
		(unsigned long long)l->id, (unsigned long long)s->ticks,
		(unsigned long long)s->enters, (unsigned long long)s->sqes,
		(unsigned long long)s->cqes);
	for (unsigned i = 0; i < 8; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)s->cqe_hist[i]);
	fprintf(f, "],\"sq_full\":%llu,\"cq_overflow\":%llu,\"enobufs\":%llu,\"remote\":%llu,"
		   "\"switches\":%llu,\"spawned\":%llu,\"alive\":%llu,\"stalls\":%llu,"
		   "\"idle_spins\":%llu,\"io_spins\":%llu,\"waits\":%llu}",
		(unsigned long long)s->sq_full, (unsigned long long)s->cq_overflow,
		(unsigned long long)s->enobufs, (unsigned long long)s->remote,
		(unsigned long long)s->switches, (unsigned long long)s->spawned,
		(unsigned long long)s->alive, (unsigned long long)s->stalls,
		(unsigned long long)s->idle_spins, (unsigned long long)s->io_spins,
		(unsigned long long)s->waits);
}

static void write_providers(FILE *f)
{
	pthread_mutex_lock(&providers_lock);
	for (unsigned i = 0; i < URT_MAX_PROVIDERS; i++) {
		if (!providers[i].name)
			continue;
		fprintf(f, ",\"%s\":", providers[i].name);
		long before = ftell(f);
		if (providers[i].fn(f, providers[i].arg) < 0 || ftell(f) == before) {
			/* drop a partial value: the line must stay valid JSON */
			fflush(f);
			fseek(f, before, SEEK_SET);
			fputs("null", f);
		}
	}
	pthread_mutex_unlock(&providers_lock);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int urt_stats_dump_json(urt_loop *l, int fd)
{
	if (!l)
		l = urt__loop();
	if (!l || l != urt__loop() || fd < 0)
		return -EINVAL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = urt__fault(URT_FAULT_ALLOC) ? NULL : open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputc('{', f);
	write_loop(f, l);
	write_providers(f);
	fputs("}\n", f);
	int r = fclose(f) == 0 ? 0 : -ENOMEM;
	if (r == 0)
		r = write_all(fd, buf, len); /* one write: lines from many loops stay whole */
	free(buf);
	return r < 0 ? r : (int)len;
}

void urt__stats_loop_closed(urt_loop *l)
{
	const char *path = getenv("URT_STATS");
	if (!path || !*path)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return; /* nowhere to report it: stats are best effort */
	urt_stats_dump_json(l, fd);
	close(fd);
}
