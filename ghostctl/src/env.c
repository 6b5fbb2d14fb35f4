/* SPDX-License-Identifier: MIT */
/* Environment detection: the root prefix, file helpers, the user, the CPU, the session. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "env-internal.h"
#include "env.h"

const char *gc_env_root(void)
{
	static char buf[4096];
	const char *root = getenv(GC_ENV_ROOT_VAR);
	size_t n;

	if (isempty(root))
		return "";
	n = strlen(root);
	while (n > 0 && root[n - 1] == '/')
		n--;
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, root, n);
	buf[n] = '\0';
	return buf;
}

char *gc_env_path(const char *path)
{
	char *p;

	if (asprintf(&p, "%s%s", gc_env_root(), path) < 0)
		return NULL;
	return p;
}

void gc_env_cache_flush(void)
{
	gc_env__kvm_cache_flush();
	gc_env__qemu_cache_flush();
}

int gc_env__strv_consume(char ***l, char *s)
{
	size_t n = gc_strv_length(*l);
	char **m;

	m = realloc(*l, (n + 2) * sizeof(*m));
	if (!m) {
		free(s);
		return -ENOMEM;
	}
	m[n] = s;
	m[n + 1] = NULL;
	*l = m;
	return 0;
}

int gc_env__read_file(const char *path, size_t max, char **ret_text)
{
	_cleanup_free_ char *p = gc_env_path(path), *buf = NULL;
	_cleanup_close_ int fd = -EBADF;
	size_t size = 0, cap = 4096;

	if (!p)
		return -ENOMEM;
	fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (size + 1 >= cap) {
			char *m;

			if (cap > max)
				return -EFBIG;
			cap *= 2;
			m = realloc(buf, cap);
			if (!m)
				return -ENOMEM;
			buf = m;
		}
		n = read(fd, buf + size, cap - size - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		size += (size_t)n;
	}
	if (size > max)
		return -EFBIG;
	buf[size] = '\0';
	*ret_text = TAKE_PTR(buf);
	return 0;
}

int gc_env__read_line(const char *path, char **ret_line)
{
	_cleanup_free_ char *text = NULL;
	int r;

	r = gc_env__read_file(path, 64 * 1024, &text);
	if (r < 0)
		return r;
	text[strcspn(text, "\n")] = '\0';
	*ret_line = TAKE_PTR(text);
	return 0;
}

int gc_env__read_u32(const char *path, uint32_t *ret)
{
	_cleanup_free_ char *line = NULL;
	unsigned long v;
	char *end;
	int r;

	r = gc_env__read_line(path, &line);
	if (r < 0)
		return r;
	if (!isxdigit((unsigned char)line[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(line, &end, 0);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int gc_env__link_basename(const char *path, char **ret_name)
{
	_cleanup_free_ char *p = gc_env_path(path);
	char target[4096], *name, *slash;
	ssize_t n;

	if (!p)
		return -ENOMEM;
	n = readlink(p, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	while (n > 1 && target[n - 1] == '/')
		target[--n] = '\0';
	slash = strrchr(target, '/');
	name = strdup(slash ? slash + 1 : target);
	if (!name)
		return -ENOMEM;
	*ret_name = name;
	return 0;
}

bool gc_env__exists(const char *path)
{
	_cleanup_free_ char *p = gc_env_path(path);
	struct stat st;

	return p && stat(p, &st) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int gc_env__list_dir(const char *path, char ***ret_names)
{
	_cleanup_free_ char *p = gc_env_path(path);
	_cleanup_closedir_ DIR *d = NULL;
	_cleanup_strv_free_ char **names = NULL;
	struct dirent *de;
	int r;

	if (!p)
		return -ENOMEM;
	d = opendir(p);
	if (!d)
		return -errno;
	names = calloc(1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	while ((errno = 0, de = readdir(d))) {
		char *s;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		s = strdup(de->d_name);
		if (!s)
			return -ENOMEM;
		r = gc_env__strv_consume(&names, s);
		if (r < 0)
			return r;
	}
	if (errno != 0)
		return -errno;
	qsort(names, gc_strv_length(names), sizeof(*names), cmp_str);
	*ret_names = TAKE_PTR(names);
	return 0;
}

/* ---- The user ---------------------------------------------------------------------------- */

bool gc_env_is_root(void)
{
	return geteuid() == 0;
}

/* The gid and members of a group in $ROOT/etc/group. -ENOENT when it is not there. */
static int etc_group_lookup(const char *name, gid_t *ret_gid, char **ret_members)
{
	_cleanup_free_ char *text = NULL;
	char *save = NULL;
	int r;

	r = gc_env__read_file("/etc/group", 4 * 1024 * 1024, &text);
	if (r < 0)
		return r;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *fields[4] = { NULL, NULL, NULL, NULL };
		unsigned gid;
		char *p = line;
		size_t n = 0;

		/* name:password:gid:members, where members may be empty. */
		for (; n < 3; n++) {
			fields[n] = p;
			p = strchr(p, ':');
			if (!p)
				break;
			*p++ = '\0';
		}
		if (n != 3)
			continue;
		fields[3] = p;
		if (!streq(fields[0], name) || safe_atou(fields[2], &gid) < 0)
			continue;
		char *members = strdup(fields[3]);
		if (!members)
			return -ENOMEM;
		*ret_gid = (gid_t)gid;
		*ret_members = members;
		return 0;
	}
	return -ENOENT;
}

static bool have_gid(gid_t gid)
{
	gid_t groups[256];
	int n;

	if (getegid() == gid || getgid() == gid)
		return true;
	n = getgroups((int)ELEMENTSOF(groups), groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int gc_env_in_group(const char *name)
{
	_cleanup_free_ char *members = NULL;
	gid_t gid;
	int r;

	r = etc_group_lookup(name, &gid, &members);
	if (r == -ENOMEM)
		return r;
	if (r < 0 && isempty(gc_env_root())) {
		/* Not in /etc/group: NSS may still know it (LDAP, sssd). */
		struct group *g = getgrnam(name);

		if (!g)
			return -ENOENT;
		gid = g->gr_gid;
	} else if (r < 0)
		return -ENOENT;
	return have_gid(gid) ? 1 : 0;
}

/* ---- The CPU ----------------------------------------------------------------------------- */

const char *const gc_env_cpu_features[] = {
	"avx",	  "avx2", "avx512f", "aes",    "sse4_2", "x2apic",     "pdpe1gb",
	"1gb_pg", "nx",	  "lm",	     "rdrand", "invtsc", "tsc_adjust", NULL,
};

/* The value of "key : value" when line starts with key, else NULL. */
static char *cpuinfo_value(char *line, const char *key)
{
	const char *rest = startswith(line, key);
	char *v;

	if (!rest || (*rest != ' ' && *rest != '\t' && *rest != ':'))
		return NULL;
	v = strchr(line, ':');
	if (!v)
		return NULL;
	v++;
	while (*v == ' ' || *v == '\t')
		v++;
	return v;
}

int gc_env_cpu_read(struct gc_env_cpu *ret)
{
	_cleanup_free_ char *text = NULL, *vendor = NULL, *model = NULL, *flags = NULL;
	char *save = NULL;
	unsigned n = 0;
	int r;

	r = gc_env__read_file("/proc/cpuinfo", 16 * 1024 * 1024, &text);
	if (r < 0)
		return r;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *v;

		if (cpuinfo_value(line, "processor"))
			n++;
		else if (!vendor && (v = cpuinfo_value(line, "vendor_id"))) {
			vendor = strdup(v);
			if (!vendor)
				return -ENOMEM;
		} else if (!model && (v = cpuinfo_value(line, "model name"))) {
			model = strdup(v);
			if (!model)
				return -ENOMEM;
		} else if (!flags && (v = cpuinfo_value(line, "flags"))) {
			flags = strdup(v);
			if (!flags)
				return -ENOMEM;
		}
	}
	if (!flags) {
		flags = strdup("");
		if (!flags)
			return -ENOMEM;
	}
	*ret = (struct gc_env_cpu){
		.vendor = TAKE_PTR(vendor),
		.model = TAKE_PTR(model),
		.n_cpus = n,
		.flags = TAKE_PTR(flags),
	};
	return 0;
}

void gc_env_cpu_done(struct gc_env_cpu *cpu)
{
	cpu->vendor = mfree(cpu->vendor);
	cpu->model = mfree(cpu->model);
	cpu->flags = mfree(cpu->flags);
}

bool gc_env_cpu_has(const struct gc_env_cpu *cpu, const char *flag)
{
	size_t n = strlen(flag);

	if (n == 0 || !cpu->flags)
		return false;
	for (const char *p = cpu->flags; (p = strstr(p, flag)); p += n)
		if ((p == cpu->flags || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return true;
	return false;
}

const char *gc_env_cpu_virt(const struct gc_env_cpu *cpu)
{
	if (gc_env_cpu_has(cpu, "vmx"))
		return "vmx";
	if (gc_env_cpu_has(cpu, "svm"))
		return "svm";
	return NULL;
}

/* ---- The session and the display advice -------------------------------------------------- */

enum gc_session gc_session_from(const char *xdg_session_type, const char *wayland_display,
				const char *display)
{
	if (streq_ptr(xdg_session_type, "wayland"))
		return GC_SESSION_WAYLAND;
	if (streq_ptr(xdg_session_type, "x11"))
		return GC_SESSION_X11;
	if (!isempty(wayland_display))
		return GC_SESSION_WAYLAND;
	if (!isempty(display))
		return GC_SESSION_X11;
	if (streq_ptr(xdg_session_type, "tty"))
		return GC_SESSION_TTY;
	return GC_SESSION_NONE;
}

enum gc_session gc_env_session(void)
{
	return gc_session_from(getenv("XDG_SESSION_TYPE"), getenv("WAYLAND_DISPLAY"),
			       getenv("DISPLAY"));
}

static const char *const session_names[_GC_SESSION_MAX] = {
	[GC_SESSION_NONE] = "none",
	[GC_SESSION_TTY] = "tty",
	[GC_SESSION_X11] = "x11",
	[GC_SESSION_WAYLAND] = "wayland",
};

const char *gc_session_to_string(enum gc_session session)
{
	return (unsigned)session < _GC_SESSION_MAX ? session_names[session] : NULL;
}

static const char *const display_names[_GC_DISPLAY_MAX] = {
	[GC_DISPLAY_NONE] = "none",   [GC_DISPLAY_GTK] = "gtk", [GC_DISPLAY_SDL] = "sdl",
	[GC_DISPLAY_SPICE] = "spice", [GC_DISPLAY_VNC] = "vnc",
};

const char *gc_display_to_string(enum gc_display display)
{
	return (unsigned)display < _GC_DISPLAY_MAX ? display_names[display] : NULL;
}

int gc_display_from_string(const char *s, enum gc_display *ret)
{
	for (unsigned i = 0; i < _GC_DISPLAY_MAX; i++)
		if (streq(s, display_names[i])) {
			*ret = (enum gc_display)i;
			return 0;
		}
	return -EINVAL;
}

void gc_display_advise(enum gc_session session, bool render, unsigned available,
		       struct gc_display_advice *ret)
{
	bool graphical = session == GC_SESSION_WAYLAND || session == GC_SESSION_X11;

	if (available == 0)
		available = (1u << _GC_DISPLAY_MAX) - 1;

	if (!graphical) {
		*ret = (struct gc_display_advice){
			.display = GC_DISPLAY_NONE,
			.reason = "no graphical session: the serial console only; "
				  "use vnc to see the screen from another machine",
		};
		return;
	}
	if (available & (1u << GC_DISPLAY_GTK)) {
		*ret = (struct gc_display_advice){
			.display = GC_DISPLAY_GTK,
			.gl = render,
			.reason = render ? "a graphical session and a GPU render node: gtk with "
					   "gl=on (virtio-vga-gl, virgl)" :
					   "a graphical session but no GPU render node: gtk "
					   "without gl",
		};
		return;
	}
	if (available & (1u << GC_DISPLAY_SDL)) {
		*ret = (struct gc_display_advice){
			.display = GC_DISPLAY_SDL,
			.gl = render,
			.reason = render ? "a graphical session, no gtk in QEMU, a GPU render "
					   "node: sdl with gl=on" :
					   "a graphical session, no gtk in QEMU, no GPU render "
					   "node: sdl without gl",
		};
		return;
	}
	if (available & (1u << GC_DISPLAY_SPICE)) {
		*ret = (struct gc_display_advice){
			.display = GC_DISPLAY_SPICE,
			.reason = "a graphical session but neither gtk nor sdl in QEMU (install "
				  "qemu-system-gui): spice, seen with remote-viewer",
		};
		return;
	}
	*ret = (struct gc_display_advice){
		.display = GC_DISPLAY_VNC,
		.reason = "a graphical session but no gtk, sdl or spice in QEMU: vnc, seen with "
			  "a VNC viewer",
	};
}

/* A GPU bound to a driver that renders: not passed through, not parked on pci-stub. */
static bool have_rendering_gpu(void)
{
	struct gc_env_gpu *gpus = NULL;
	size_t n = 0;
	bool found = false;

	if (gc_env_gpu_list(&gpus, &n) < 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *drv = gpus[i].pci.driver;

		if (drv && !startswith(drv, "vfio") && !streq(drv, "pci-stub"))
			found = true;
	}
	gc_env_gpu_list_free(gpus, n);
	return found;
}

void gc_env_recommend_display(const char *qemu, struct gc_display_advice *ret)
{
	_cleanup_strv_free_ char **nodes = NULL;
	const struct gc_env_qemu *q = NULL;
	unsigned available = 0;
	bool render;

	render = gc_env_render_nodes(&nodes) >= 0 && gc_strv_length(nodes) > 0 &&
		 have_rendering_gpu();
	if (qemu && gc_env_qemu(qemu, &q) >= 0) {
		available = gc_env_qemu_display_mask(q);
		/* gl=on needs the device that carries it. */
		if (!gc_strv_contains(q->devices, "virtio-vga-gl"))
			render = false;
	}
	gc_display_advise(gc_env_session(), render, available, ret);
}
