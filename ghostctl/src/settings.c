/* SPDX-License-Identifier: MIT */
/* Layered settings; see settings.h. */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "settings.h"

static const struct gc_setting_def defs[_GC_SETTING_MAX] = {
	[GC_SETTING_LOG_LEVEL] = { "core", "log_level", GC_SETTING_CHOICE,
				   "error|warning|info|debug", "How much ghostctl says on stderr" },
	[GC_SETTING_COLOR] = { "core", "color", GC_SETTING_CHOICE, "auto|always|never",
			       "Colour in output (auto: on a terminal, when NO_COLOR is unset)" },
	[GC_SETTING_VM_DIR] = { "vm", "dir", GC_SETTING_PATH, NULL,
				"Where VM profiles and their disks live" },
	[GC_SETTING_VM_RUNTIME_DIR] = { "vm", "runtime_dir", GC_SETTING_PATH, NULL,
					"Where running VMs keep their QMP sockets and state" },
	[GC_SETTING_VM_QEMU] = { "vm", "qemu", GC_SETTING_PATH, NULL, "The QEMU system emulator" },
	[GC_SETTING_VM_QEMU_IMG] = { "vm", "qemu_img", GC_SETTING_PATH, NULL,
				     "qemu-img, which creates and snapshots disks" },
	[GC_SETTING_VM_ACCEL] = { "vm", "accel", GC_SETTING_CHOICE, "auto|kvm|tcg",
				  "Acceleration: auto uses KVM when it can boot a guest, else TCG" },
	[GC_SETTING_VM_STOP_TIMEOUT] = { "vm", "stop_timeout", GC_SETTING_SECONDS, NULL,
					 "Seconds a graceful stop may take before QEMU is killed" },
	[GC_SETTING_VM_VIRTIOFSD] = { "vm", "virtiofsd", GC_SETTING_PATH, NULL,
				      "virtiofsd, for shared folders over virtiofs" },
	[GC_SETTING_VM_SSH] = { "vm", "ssh", GC_SETTING_PATH, NULL,
				"The ssh client that `vm ssh` runs" },
	[GC_SETTING_TESTBED_DIR] = { "testbed", "dir", GC_SETTING_PATH, NULL,
				     "Where the testbed guest's kernel and initramfs are" },
};

const struct gc_setting_def *gc_setting_def(enum gc_setting_id id)
{
	return (unsigned)id < _GC_SETTING_MAX ? &defs[id] : NULL;
}

int gc_setting_lookup(const char *name, enum gc_setting_id *ret_id)
{
	const char *dot = strchr(name, '.');

	if (!dot)
		return -ENOENT;
	for (unsigned i = 0; i < _GC_SETTING_MAX; i++)
		if (strlen(defs[i].section) == (size_t)(dot - name) &&
		    strneq(name, defs[i].section, (size_t)(dot - name)) &&
		    streq(dot + 1, defs[i].key)) {
			*ret_id = (enum gc_setting_id)i;
			return 0;
		}
	return -ENOENT;
}

static bool choice_is_valid(const char *choices, const char *value)
{
	size_t n = strlen(value);

	for (const char *p = choices; *p;) {
		size_t k = strcspn(p, "|");

		if (k == n && strneq(p, value, n))
			return true;
		p += k;
		if (*p == '|')
			p++;
	}
	return false;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int gc_setting_check(enum gc_setting_id id, const char *value)
{
	const struct gc_setting_def *d = gc_setting_def(id);
	unsigned u;

	if (!d || !value || has_control(value) || strlen(value) > 4000)
		return -EINVAL;
	switch (d->type) {
	case GC_SETTING_STRING:
		return 0;
	case GC_SETTING_PATH:
		return isempty(value) ? -EINVAL : 0;
	case GC_SETTING_SECONDS:
		if (safe_atou(value, &u) < 0 || u < 1 || u > 86400)
			return -EINVAL;
		return 0;
	case GC_SETTING_CHOICE:
		return choice_is_valid(d->choices, value) ? 0 : -EINVAL;
	}
	return -EINVAL;
}

/* The error line's "expected ..." part. */
static const char *expectation(const struct gc_setting_def *d, char *buf, size_t size)
{
	switch (d->type) {
	case GC_SETTING_PATH:
		return "a path or command name";
	case GC_SETTING_SECONDS:
		return "seconds, 1 to 86400";
	case GC_SETTING_CHOICE:
		(void)snprintf(buf, size, "one of %s", d->choices);
		for (char *p = buf; *p; p++)
			if (*p == '|')
				*p = ',';
		return buf;
	default:
		return "text without control characters";
	}
}

int gc_settings_set(struct gc_settings *s, enum gc_setting_id id, const char *value,
		    const char *source)
{
	const struct gc_setting_def *d = gc_setting_def(id);
	char buf[128];
	char *v, *src;

	if (!d)
		return -EINVAL;
	if (gc_setting_check(id, value) < 0) {
		char shown[64];

		/* Quote a bad value readably: control characters as '?', long ones cut. */
		(void)snprintf(shown, sizeof(shown), "%s", value ? value : "");
		for (char *q = shown; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				*q = '?';
		log_error("%s: %s.%s: invalid value '%s%s' (expected %s)", source, d->section,
			  d->key, shown, value && strlen(value) >= sizeof(shown) ? "..." : "",
			  expectation(d, buf, sizeof(buf)));
		return -EINVAL;
	}
	v = strdup(value);
	src = strdup(source);
	if (!v || !src) {
		free(v);
		free(src);
		return log_oom();
	}
	free(s->value[id]);
	free(s->source[id]);
	s->value[id] = v;
	s->source[id] = src;
	return 0;
}

int gc_settings_set_assignment(struct gc_settings *s, const char *assignment)
{
	const char *eq = strchr(assignment, '=');
	enum gc_setting_id id;
	char name[64];

	if (!eq || (size_t)(eq - assignment) >= sizeof(name)) {
		log_error("--set: expected SECTION.KEY=VALUE, got '%s'", assignment);
		return -EINVAL;
	}
	memcpy(name, assignment, (size_t)(eq - assignment));
	name[eq - assignment] = '\0';
	if (gc_setting_lookup(name, &id) < 0) {
		log_error("--set: unknown setting '%s' (see 'ghostctl config show')", name);
		return -EINVAL;
	}
	return gc_settings_set(s, id, eq + 1, "--set");
}

const char *gc_settings_get(const struct gc_settings *s, enum gc_setting_id id)
{
	return (unsigned)id < _GC_SETTING_MAX ? s->value[id] : NULL;
}

unsigned gc_settings_get_seconds(const struct gc_settings *s, enum gc_setting_id id)
{
	unsigned u = 0;

	const char *v = gc_settings_get(s, id);

	if (v)
		(void)safe_atou(v, &u);
	return u;
}

void gc_settings_done(struct gc_settings *s)
{
	for (unsigned i = 0; i < _GC_SETTING_MAX; i++) {
		free(s->value[i]);
		free(s->source[i]);
		s->value[i] = s->source[i] = NULL;
	}
}

void gc_ini_setup(void)
{
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_max_line = 4096 + 3;
	ini_initial_alloc = ini_max_line; /* the heap buffer's size, as realloc is off */
	ini_stop_on_first_error = true;
}

/* $HOME, or the password database's idea of it. */
static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (!isempty(h) && h[0] == '/')
		return h;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : "/";
}

/* $VAR if it is an absolute path, else HOME/fallback; then "/SUFFIX". */
static int xdg_path(const char *var, const char *fallback, const char *suffix, char **ret)
{
	const char *base = getenv(var);
	int r;

	if (!isempty(base) && base[0] == '/')
		r = asprintf(ret, "%s/%s", base, suffix);
	else
		r = asprintf(ret, "%s/%s/%s", home_dir(), fallback, suffix);
	return r < 0 ? -ENOMEM : 0;
}

static int set_default(struct gc_settings *s, enum gc_setting_id id, const char *value)
{
	return gc_settings_set(s, id, value, "default");
}

static int load_defaults(struct gc_settings *s)
{
	_cleanup_free_ char *vm_dir = NULL, *runtime = NULL, *testbed = NULL;
	const char *rt = getenv("XDG_RUNTIME_DIR");
	int r;

	r = xdg_path("XDG_DATA_HOME", ".local/share", "ghostctl/vms", &vm_dir);
	if (r >= 0)
		r = xdg_path("XDG_DATA_HOME", ".local/share", "ghostctl/testbed", &testbed);
	if (r < 0)
		return log_oom();
	/* Sockets need a short, private directory: XDG_RUNTIME_DIR, else one under /run or /tmp. */
	if (!isempty(rt) && rt[0] == '/')
		r = asprintf(&runtime, "%s/ghostctl", rt);
	else if (geteuid() == 0)
		r = asprintf(&runtime, "/run/ghostctl");
	else
		r = asprintf(&runtime, "/tmp/ghostctl-%u", (unsigned)getuid());
	if (r < 0)
		return log_oom();

	const char *virtiofsd = "/usr/lib/qemu/virtiofsd";
	if (access(virtiofsd, X_OK) < 0 && access("/usr/libexec/virtiofsd", X_OK) == 0)
		virtiofsd = "/usr/libexec/virtiofsd";

	if (set_default(s, GC_SETTING_LOG_LEVEL, "info") < 0 ||
	    set_default(s, GC_SETTING_COLOR, "auto") < 0 ||
	    set_default(s, GC_SETTING_VM_DIR, vm_dir) < 0 ||
	    set_default(s, GC_SETTING_VM_RUNTIME_DIR, runtime) < 0 ||
	    set_default(s, GC_SETTING_VM_QEMU, "qemu-system-x86_64") < 0 ||
	    set_default(s, GC_SETTING_VM_QEMU_IMG, "qemu-img") < 0 ||
	    set_default(s, GC_SETTING_VM_ACCEL, "auto") < 0 ||
	    set_default(s, GC_SETTING_VM_STOP_TIMEOUT, "30") < 0 ||
	    set_default(s, GC_SETTING_VM_VIRTIOFSD, virtiofsd) < 0 ||
	    set_default(s, GC_SETTING_VM_SSH, "ssh") < 0 ||
	    set_default(s, GC_SETTING_TESTBED_DIR, testbed) < 0)
		return -ENOMEM;
	return 0;
}

struct file_ctx {
	struct gc_settings *s;
	FILE *f;
	const char *path;
	int line;     /* counted by read_line(): inih gives handlers no line numbers here */
	int too_long; /* the first line longer than inih's buffer, or 0 */
	int error;
};

/* inih's reader: fgets() that counts lines, so that errors and sources name FILE:LINE. */
static char *read_line(char *buf, int size, void *stream)
{
	struct file_ctx *c = stream;
	char *p = fgets(buf, size, c->f);

	if (p && !strchr(p, '\n') && !feof(c->f)) {
		/* Longer than inih's buffer: stop, rather than parse half a line. */
		c->too_long = c->line + 1;
		return NULL;
	}
	if (p)
		c->line++;
	return p;
}

static int file_handler(void *user, const char *section, const char *name, const char *value)
{
	struct file_ctx *c = user;
	char key[160], source[4200];
	enum gc_setting_id id;

	(void)snprintf(key, sizeof(key), "%s.%s", section, name);
	if (gc_setting_lookup(key, &id) < 0) {
		log_warning("%s:%d: unknown setting '%s', ignoring", c->path, c->line, key);
		return 1;
	}
	(void)snprintf(source, sizeof(source), "%s:%d", c->path, c->line);
	c->error = gc_settings_set(c->s, id, value, source);
	return c->error < 0 ? 0 : 1;
}

static int load_file(struct gc_settings *s, const char *path)
{
	_cleanup_fclose_ FILE *f = NULL;
	struct file_ctx c = { .s = s, .path = path };
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT || r == -ENOTDIR)
			return 0;
		return log_error_errno(r, "Failed to read '%s': %m", path);
	}
	c.f = f;
	gc_ini_setup();
	r = ini_parse_stream(read_line, &c, file_handler, &c);
	if (c.too_long > 0 && c.error == 0) {
		log_error("%s:%d: line longer than 4096 bytes", path, c.too_long);
		return -EINVAL;
	}
	if (r == 0)
		return 0;
	if (c.error < 0)
		return c.error; /* gc_settings_set() named FILE:LINE */
	if (r < 0)
		return log_error_errno(ENOMEM, "Failed to parse '%s': %m", path);
	log_error("%s:%d: syntax error (expected [section] or key = value)", path, r);
	return -EINVAL;
}

static int load_env(struct gc_settings *s)
{
	for (unsigned i = 0; i < _GC_SETTING_MAX; i++) {
		char name[96];
		const char *v;
		int r;

		(void)snprintf(name, sizeof(name), "GHOSTCTL_%s_%s", defs[i].section, defs[i].key);
		for (char *p = name; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		v = getenv(name);
		if (!v)
			continue;
		char source[100];
		(void)snprintf(source, sizeof(source), "$%s", name);
		r = gc_settings_set(s, (enum gc_setting_id)i, v, source);
		if (r < 0)
			return r;
	}
	return 0;
}

int gc_settings_load(struct gc_settings *s)
{
	_cleanup_free_ char *sys = NULL, *user = NULL;
	const char *sysconfdir = getenv("GHOSTCTL_SYSCONFDIR");
	int r;

	r = load_defaults(s);
	if (r < 0)
		return r;
	if (isempty(sysconfdir))
		sysconfdir = "/etc";
	if (asprintf(&sys, "%s/ghostctl/ghostctl.conf", sysconfdir) < 0)
		return log_oom();
	r = load_file(s, sys);
	if (r < 0)
		return r;
	r = xdg_path("XDG_CONFIG_HOME", ".config", "ghostctl/ghostctl.conf", &user);
	if (r < 0)
		return log_oom();
	r = load_file(s, user);
	if (r < 0)
		return r;
	return load_env(s);
}
