/* SPDX-License-Identifier: MIT */
/* QEMU and other programs: lookup in $PATH, running them without a shell, and what QEMU has. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/time-util.h"
#include "env-internal.h"
#include "env.h"
#include "process.h"

extern char **environ;

#define CAPTURE_MAX (4u * 1024 * 1024)

static bool is_executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int gc_env_find_program(const char *name, char **ret_path)
{
	const char *search = getenv("PATH");
	char *p;

	if (isempty(name))
		return -EINVAL;
	if (strchr(name, '/')) {
		if (!is_executable(name))
			return -ENOENT;
		p = strdup(name);
		if (!p)
			return -ENOMEM;
		*ret_path = p;
		return 0;
	}
	if (isempty(search))
		search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (const char *dir = search; *dir;) {
		size_t n = strcspn(dir, ":");

		/* An empty entry means the current directory: never look there. */
		if (n > 0) {
			if (asprintf(&p, "%.*s/%s", (int)n, dir, name) < 0)
				return -ENOMEM;
			if (is_executable(p)) {
				*ret_path = p;
				return 0;
			}
			free(p);
		}
		dir += n;
		if (*dir == ':')
			dir++;
	}
	return -ENOENT;
}

/* Starts argv with stdout on fd; stdin and stderr on /dev/null (see process.h). */
static int spawn(char *const argv[], int fd, pid_t *ret_pid)
{
	_cleanup_close_ int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct gc_spawn_opts o = { .stdin_fd = -1, .stdout_fd = fd, .stderr_fd = null_fd };

	if (null_fd < 0)
		return -errno;
	return gc_spawn(argv, &o, ret_pid);
}

/* Reads fd to EOF into a growing buffer, until the deadline. -ETIMEDOUT when it passed. */
static int read_all(int fd, uint64_t deadline, char **buf, size_t *size)
{
	size_t cap = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[16384];
		ssize_t n;
		int k;

		k = poll(&p, 1, timeout_ms_left(deadline));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ETIMEDOUT;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (*size + (size_t)n > CAPTURE_MAX)
			continue; /* keep draining, so that the child is not blocked */
		if (*size + (size_t)n + 1 > cap) {
			size_t want = MAX(cap * 2, *size + (size_t)n + 1);
			char *m = realloc(*buf, want);

			if (!m)
				return -ENOMEM;
			*buf = m;
			cap = want;
		}
		memcpy(*buf + *size, chunk, (size_t)n);
		*size += (size_t)n;
	}
}

int gc_env_run_capture(char *const argv[], int timeout_ms, char **ret_stdout, int *ret_status)
{
	uint64_t deadline = deadline_from_timeout_ms(timeout_ms);
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int rd = -EBADF, wr = -EBADF;
	int pipefd[2], status, r, k;
	size_t size = 0;
	pid_t pid;

	if (!argv || !argv[0])
		return -EINVAL;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	rd = pipefd[0];
	wr = pipefd[1];
	r = spawn(argv, wr, &pid);
	if (r < 0)
		return r;
	wr = safe_close(wr);

	r = read_all(rd, deadline, &buf, &size);
	if (r < 0)
		(void)kill(pid, SIGKILL);
	k = gc_spawn_wait(pid, -1, &status);
	if (r < 0)
		return r;
	if (k < 0)
		return k;

	if (!buf) {
		buf = strdup("");
		if (!buf)
			return -ENOMEM;
	} else
		buf[size] = '\0';
	*ret_stdout = TAKE_PTR(buf);
	*ret_status = status;
	return 0;
}

/* ---- QEMU -------------------------------------------------------------------------------- */

const char *const gc_env_qemu_devices[] = {
	"vfio-pci",
	"virtio-vga-gl",
	"virtio-vga",
	"qxl-vga",
	"nvme",
	"virtio-9p-pci",
	"vhost-user-fs-pci",
	"usb-host",
	"qemu-xhci",
	"virtio-net-pci",
	NULL,
};

int gc_qemu_version_parse(const char *text, char **ret_version)
{
	const char *p = strstr(text, "version ");
	size_t n;
	char *v;

	if (!p)
		return -EINVAL;
	p += strlen("version ");
	n = strspn(p, "0123456789.");
	if (n == 0 || p[0] == '.' || !memchr(p, '.', n))
		return -EINVAL;
	v = strndup(p, n);
	if (!v)
		return -ENOMEM;
	*ret_version = v;
	return 0;
}

/* Runs `qemu ARG VALUE`; the output when it exited 0. */
static int qemu_run(const char *qemu, const char *arg, const char *value, char **ret_out)
{
	char *argv[] = { (char *)qemu, (char *)arg, (char *)value, NULL };
	_cleanup_free_ char *out = NULL;
	int status, r;

	r = gc_env_run_capture(argv, GC_QEMU_TIMEOUT_MS, &out, &status);
	if (r < 0)
		return r;
	if (status != 0)
		return -EIO;
	*ret_out = TAKE_PTR(out);
	return 0;
}

/* The lines that are one word ("tcg"); headings, which have spaces, are skipped. */
static int parse_words(char *text, char ***ret)
{
	_cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
	char *save = NULL;
	int r;

	if (!l)
		return -ENOMEM;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line);
		char *w;

		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || strspn(line, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789_.-") != n)
			continue;
		w = strdup(line);
		if (!w)
			return -ENOMEM;
		r = gc_env__strv_consume(&l, w);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

/* The names of `-device help`: lines of the form `name "vfio-pci", bus PCI, ...`. */
static int parse_devices(char *text, char ***ret)
{
	_cleanup_strv_free_ char **l = calloc(1, sizeof(char *));
	int r;

	if (!l)
		return -ENOMEM;
	for (char *p = text; (p = strstr(p, "name \""));) {
		size_t n;
		char *w;

		p += strlen("name \"");
		n = strcspn(p, "\"\n");
		if (p[n] != '"')
			continue;
		w = strndup(p, n);
		if (!w)
			return -ENOMEM;
		r = gc_env__strv_consume(&l, w);
		if (r < 0)
			return r;
		p += n;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

/*
 * `qemu ARG help`, parsed. A help that fails gives an empty list: an old or odd QEMU is still
 * usable. Only running out of memory or time is an error.
 */
static int qemu_list(const char *path, const char *arg, int (*parse)(char *text, char ***ret),
		     char ***ret)
{
	_cleanup_free_ char *out = NULL;
	int r;

	r = qemu_run(path, arg, "help", &out);
	if (r == -ENOMEM || r == -ETIMEDOUT)
		return r;
	if (r < 0) {
		out = strdup("");
		if (!out)
			return -ENOMEM;
	}
	return parse(out, ret);
}

int gc_env_qemu_probe(const char *qemu, struct gc_env_qemu *ret)
{
	_cleanup_free_ char *path = NULL, *out = NULL, *version = NULL;
	_cleanup_strv_free_ char **accels = NULL, **displays = NULL, **devices = NULL;
	bool spice;
	int status, r;

	r = gc_env_find_program(qemu, &path);
	if (r < 0)
		return r;
	r = qemu_run(path, "--version", NULL, &out);
	if (r < 0)
		return r;
	r = gc_qemu_version_parse(out, &version);
	if (r < 0)
		return r == -ENOMEM ? r : -EIO;
	out = mfree(out);

	r = qemu_list(path, "-accel", parse_words, &accels);
	if (r >= 0)
		r = qemu_list(path, "-display", parse_words, &displays);
	if (r >= 0)
		r = qemu_list(path, "-device", parse_devices, &devices);
	if (r < 0)
		return r;
	/*
	 * With SPICE, QEMU prints "spice options:" and its list on stdout (and exits 1, as 7.2
	 * does); without, "There is no option group 'spice'" on stderr.
	 */
	r = gc_env_run_capture((char *[]){ path, (char *)"-spice", (char *)"help", NULL },
			       GC_QEMU_TIMEOUT_MS, &out, &status);
	if (r == -ENOMEM || r == -ETIMEDOUT)
		return r;
	spice = r >= 0 && strstr(out, "options:");

	*ret = (struct gc_env_qemu){
		.path = TAKE_PTR(path),
		.version = TAKE_PTR(version),
		.accelerators = TAKE_PTR(accels),
		.displays = TAKE_PTR(displays),
		.devices = TAKE_PTR(devices),
		.spice = spice,
	};
	return 0;
}

void gc_env_qemu_done(struct gc_env_qemu *qemu)
{
	qemu->path = mfree(qemu->path);
	qemu->version = mfree(qemu->version);
	qemu->accelerators = gc_strv_free(qemu->accelerators);
	qemu->displays = gc_strv_free(qemu->displays);
	qemu->devices = gc_strv_free(qemu->devices);
}

unsigned gc_env_qemu_display_mask(const struct gc_env_qemu *qemu)
{
	/* VNC is built into every QEMU distributions ship, and has no help to ask. */
	unsigned mask = 1u << GC_DISPLAY_NONE | 1u << GC_DISPLAY_VNC;

	if (gc_strv_contains(qemu->displays, "gtk"))
		mask |= 1u << GC_DISPLAY_GTK;
	if (gc_strv_contains(qemu->displays, "sdl"))
		mask |= 1u << GC_DISPLAY_SDL;
	if (qemu->spice)
		mask |= 1u << GC_DISPLAY_SPICE;
	return mask;
}

struct qemu_cache {
	char *name;
	int r;
	struct gc_env_qemu qemu;
	struct qemu_cache *next;
};

static struct qemu_cache *qemu_cache;

void gc_env__qemu_cache_flush(void)
{
	while (qemu_cache) {
		struct qemu_cache *c = qemu_cache;

		qemu_cache = c->next;
		if (c->r >= 0)
			gc_env_qemu_done(&c->qemu);
		free(c->name);
		free(c);
	}
}

int gc_env_qemu(const char *qemu, const struct gc_env_qemu **ret)
{
	struct qemu_cache *c;

	for (c = qemu_cache; c; c = c->next)
		if (streq(c->name, qemu))
			break;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->name = strdup(qemu);
		if (!c->name) {
			free(c);
			return -ENOMEM;
		}
		c->r = gc_env_qemu_probe(qemu, &c->qemu);
		if (c->r == -ENOMEM) {
			free(c->name);
			free(c);
			return -ENOMEM;
		}
		c->next = qemu_cache;
		qemu_cache = c;
	}
	if (c->r < 0)
		return c->r;
	*ret = &c->qemu;
	return 0;
}
