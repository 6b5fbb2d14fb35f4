/* SPDX-License-Identifier: MIT */
/*
 * The verbs that run VMs: start, stop, status, console, ssh. See run.h for the runtime
 * directory they share.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "env.h"
#include "output.h"
#include "process.h"
#include "profile.h"
#include "qemu.h"
#include "qmp.h"
#include "run.h"
#include "settings.h"
#include "store.h"
#include "vm.h"

#define QMP_TIMEOUT_MS 5000
#define ESCAPE_CHAR 0x1d /* Ctrl-] */

enum {
	OPT_ACCEL,
	OPT_DETACH,
	OPT_DISPLAY,
	OPT_TIMEOUT,
	OPT_FORCE,
	OPT_WATCH,
	OPT_INTERVAL,
	OPT_USER,
};

static struct {
	const char *accel;
	const char *display;
	bool detach;
	unsigned timeout; /* 0: the setting */
	bool force;
	bool watch;
	unsigned interval_ms;
	const char *user;
} arg = { .interval_ms = 1000 };

char *gc_vm_run_dir(const struct gc_settings *s, const char *name)
{
	char *d;

	if (asprintf(&d, "%s/%s", gc_settings_get(s, GC_SETTING_VM_RUNTIME_DIR), name) < 0)
		return NULL;
	return d;
}

static char *run_path(const char *run_dir, const char *file)
{
	char *p;

	if (asprintf(&p, "%s/%s", run_dir, file) < 0)
		return NULL;
	return p;
}

void gc_vm_state_done(struct gc_vm_state *st)
{
	free(st->accel);
	free(st->display);
	*st = (struct gc_vm_state){ 0 };
}

static int state_write(const char *run_dir, const struct gc_vm_state *st)
{
	_cleanup_free_ char *path = run_path(run_dir, "state.json"), *text = NULL;
	json_auto_t *obj = json_pack("{s:i, s:s, s:s, s:i, s:i, s:I}", "pid", (int)st->pid, "accel",
				     st->accel, "display", st->display, "ssh_port",
				     (int)st->ssh_port, "display_port", (int)st->display_port,
				     "started", (json_int_t)st->started);

	if (!path || !obj)
		return -ENOMEM;
	text = json_dumps(obj, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	return gc_write_file_atomic(path, text, strlen(text));
}

/* The VM has ended: what start recorded goes (best effort; a stale one is ignored). */
static void state_remove(const char *run_dir)
{
	_cleanup_free_ char *path = run_path(run_dir, "state.json");

	if (path)
		(void)unlink(path);
}

static bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int gc_vm_state_read(const struct gc_settings *s, const char *name, struct gc_vm_state *ret)
{
	_cleanup_free_ char *dir = gc_vm_run_dir(s, name), *path = NULL, *sock = NULL;
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = NULL;
	json_auto_t *obj = NULL;
	json_error_t jerr;
	struct gc_vm_state st = { 0 };
	const char *accel = NULL, *display = NULL;
	json_int_t pid = 0, ssh = 0, dport = 0, started = 0;

	if (!dir || !(path = run_path(dir, "state.json")) || !(sock = run_path(dir, "qmp.sock")))
		return -ENOMEM;
	obj = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj)
		return -ENOENT;
	if (json_unpack(obj, "{s:I, s:s, s:s, s:I, s:I, s:I}", "pid", &pid, "accel", &accel,
			"display", &display, "ssh_port", &ssh, "display_port", &dport, "started",
			&started) < 0 ||
	    pid <= 0 || pid > INT32_MAX || ssh < 0 || ssh > 65535 || dport < 0 || dport > 65535)
		return -ESRCH;
	/* A state whose QEMU is gone, or whose pid was reused by another program, is stale. */
	if (!pid_alive((pid_t)pid) || gc_qmp_open(sock, 1000, &q) < 0 ||
	    (gc_qmp_peer_pid(q) != 0 && gc_qmp_peer_pid(q) != (pid_t)pid)) {
		(void)unlink(path);
		return -ESRCH;
	}
	st.pid = (pid_t)pid;
	st.accel = strdup(accel);
	st.display = strdup(display);
	st.ssh_port = (unsigned)ssh;
	st.display_port = (unsigned)dport;
	st.started = (long long)started;
	if (!st.accel || !st.display) {
		gc_vm_state_done(&st);
		return -ENOMEM;
	}
	*ret = st;
	return 0;
}

/* A TCP port on 127.0.0.1 that nobody listens on now (the kernel's pick). */
static int free_port(unsigned *ret)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -errno;
	*ret = ntohs(a.sin_port);
	return 0;
}

/* A VNC display number whose port (5900 + N) is free. */
static int free_vnc_display(unsigned *ret)
{
	for (unsigned n = 0; n < 100; n++) {
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = htons((uint16_t)(5900 + n)),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			return -errno;
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			*ret = n;
			return 0;
		}
	}
	return -EADDRINUSE;
}

/* Creates the disks that have a size and no file yet, with qemu-img. */
static int create_disks(const struct gc_cmd *cmd, const struct gc_vm_profile *p, const char *vm_dir)
{
	const char *qemu_img = gc_settings_get(cmd->settings, GC_SETTING_VM_QEMU_IMG);

	for (size_t i = 0; i < p->n_disks; i++) {
		const struct gc_vm_disk *d = &p->disks[i];
		_cleanup_free_ char *path = gc_vm_disk_path(d, vm_dir);
		char size[32];
		int r;

		if (!path)
			return log_oom();
		if (access(path, F_OK) == 0)
			continue;
		if (d->size == 0)
			return log_error_errno(ENOENT,
					       "Disk '%s' does not exist and has no size to "
					       "create it with.",
					       path);
		(void)snprintf(size, sizeof(size), "%llu", (unsigned long long)d->size);
		char *argv[] = { (char *)qemu_img,	   "create", "-q", "-f",
				 d->raw ? "raw" : "qcow2", path,     size, NULL };
		if (cmd->dry_run) {
			_cleanup_free_ char *line = gc_argv_to_shell(argv);

			printf("%s\n", line ? line : "");
			continue;
		}
		log_info("Creating disk '%s' (%s bytes)...", path, size);
		r = gc_spawn_run(argv, -1, -1);
		if (r < 0)
			return log_error_errno(r, "Failed to run '%s': %m", qemu_img);
		if (r != 0)
			return log_error_errno(EIO, "%s failed (exit status %d) creating '%s'.",
					       qemu_img, r, path);
	}
	return 0;
}

/* Passthrough is checked before QEMU starts, so that the user hears what blocks it. */
static int check_passthrough(const struct gc_vm_profile *p)
{
	int blocked = 0;

	for (size_t i = 0; i < p->n_pci; i++) {
		struct gc_env_vfio v = { 0 };
		int r = gc_env_vfio_check(p->pci[i], &v);

		if (r < 0)
			return log_error_errno(r, "Failed to check PCI device %s: %m", p->pci[i]);
		if (!v.ready) {
			log_error("PCI device %s cannot be passed through:\n%s", p->pci[i],
				  v.why ? v.why : "unknown reason");
			blocked = -EBUSY;
		}
		gc_env_vfio_done(&v);
	}
	for (size_t i = 0; i < p->n_usb; i++) {
		struct gc_env_usb_dev u = { 0 };

		if (gc_env_usb_find(p->usb[i].vendor, p->usb[i].product, &u) < 0)
			log_warning("USB device %04x:%04x is not plugged in; QEMU attaches it when "
				    "it appears.",
				    p->usb[i].vendor, p->usb[i].product);
		else
			gc_env_usb_dev_done(&u);
	}
	return blocked;
}

/*
 * Bridge and tap networking need privileges QEMU itself reports late and tersely: check
 * them first and say what to do.
 */
static int check_network(const struct gc_vm_profile *p)
{
	_cleanup_free_ char *why = NULL;
	int r = 0;

	if (p->net == GC_VM_NET_TAP)
		r = gc_env_tap_check(p->tap, &why);
	else if (p->net == GC_VM_NET_BRIDGE)
		r = gc_env_bridge_check(p->bridge, &why);
	if (r < 0)
		return log_oom();
	if (r > 0)
		return log_error_errno(p->net == GC_VM_NET_TAP ? ENODEV : EACCES, "%s", why);
	return 0;
}

static int decide_accel(const struct gc_cmd *cmd, bool *ret_kvm)
{
	const char *accel = arg.accel ? arg.accel :
					gc_settings_get(cmd->settings, GC_SETTING_VM_ACCEL);

	if (streq(accel, "tcg")) {
		*ret_kvm = false;
		return 0;
	}
	if (streq(accel, "kvm")) {
		if (!gc_env_kvm_usable())
			log_warning("--accel=kvm: KVM does not look usable here (see 'ghostctl "
				    "doctor'); trying anyway.");
		*ret_kvm = true;
		return 0;
	}
	*ret_kvm = gc_env_kvm_usable();
	if (!*ret_kvm)
		log_info("KVM cannot run guests here (see 'ghostctl doctor'): using TCG, which "
			 "is much slower.");
	return 0;
}

static int decide_display(const struct gc_cmd *cmd, const struct gc_vm_profile *p,
			  enum gc_vm_display *ret)
{
	enum gc_vm_display d = p->display;

	if (arg.display) {
		bool found = false;

		for (int i = GC_VM_DISPLAY_AUTO; i < _GC_VM_DISPLAY_MAX; i++)
			if (streq(arg.display, gc_vm_display_to_string(i))) {
				d = (enum gc_vm_display)i;
				found = true;
			}
		if (!found)
			return gc_usage_error(cmd->path,
					      "--display: invalid display '%s' (auto, none, gtk, "
					      "sdl, spice or vnc)",
					      arg.display);
	}
	if (d == GC_VM_DISPLAY_AUTO) {
		struct gc_display_advice a;

		gc_env_recommend_display(gc_settings_get(cmd->settings, GC_SETTING_VM_QEMU), &a);
		switch (a.display) {
		case GC_DISPLAY_GTK:
			d = GC_VM_DISPLAY_GTK;
			break;
		case GC_DISPLAY_SDL:
			d = GC_VM_DISPLAY_SDL;
			break;
		case GC_DISPLAY_SPICE:
			d = GC_VM_DISPLAY_SPICE;
			break;
		case GC_DISPLAY_VNC:
			d = GC_VM_DISPLAY_VNC;
			break;
		default:
			d = GC_VM_DISPLAY_NONE;
			break;
		}
		log_debug("Display auto: %s (%s).", gc_vm_display_to_string(d), a.reason);
	}
	*ret = d;
	return 0;
}

/* Starts virtiofsd for each virtiofs share and waits for its socket. */
static int start_virtiofsd(const struct gc_cmd *cmd, const struct gc_vm_profile *p,
			   const char *run_dir)
{
	const char *virtiofsd = gc_settings_get(cmd->settings, GC_SETTING_VM_VIRTIOFSD);

	for (size_t i = 0; i < p->n_shares; i++) {
		const struct gc_vm_share *s = &p->shares[i];
		_cleanup_free_ char *sock = NULL, *sockopt = NULL, *source = NULL, *logp = NULL;
		_cleanup_close_ int log_fd = -EBADF;
		pid_t pid;
		int r;

		if (s->type != GC_VM_SHARE_VIRTIOFS)
			continue;
		if (access(virtiofsd, X_OK) < 0)
			return log_error_errno(errno,
					       "Share '%s' wants virtiofs, but virtiofsd "
					       "('%s') is not there: install it, or use "
					       "type=9p.",
					       s->tag, virtiofsd);
		sock = gc_vm_virtiofs_socket(run_dir, i);
		if (!sock || asprintf(&sockopt, "--socket-path=%s", sock) < 0 ||
		    asprintf(&source, "source=%s", s->path) < 0 ||
		    asprintf(&logp, "%s/virtiofsd%zu.log", run_dir, i) < 0)
			return log_oom();
		/* virtiofsd parses -o as a comma list: a ',' in the path cannot pass. */
		if (strchr(s->path, ','))
			return log_error_errno(EINVAL,
					       "virtiofsd cannot share '%s': its -o option "
					       "cannot carry a ','. Use type=9p.",
					       s->path);
		char *argv[] = {
			(char *)virtiofsd, sockopt, "-o", source, "-o", "cache=auto", NULL
		};
		if (cmd->dry_run) {
			_cleanup_free_ char *line = gc_argv_to_shell(argv);

			printf("%s &\n", line ? line : "");
			continue;
		}
		log_fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (log_fd < 0)
			return log_error_errno(errno, "Failed to create '%s': %m", logp);
		struct gc_spawn_opts o = { -1, log_fd, log_fd, true };
		r = gc_spawn(argv, &o, &pid);
		if (r < 0)
			return log_error_errno(r, "Failed to start '%s': %m", virtiofsd);
		for (int t = 0; access(sock, F_OK) < 0; t += 10) {
			int code;

			if (gc_spawn_wait(pid, 10, &code) == 0)
				return log_error_errno(
					EIO, "virtiofsd exited (status %d); see '%s'.", code, logp);
			if (t > 5000) {
				(void)kill(pid, SIGKILL);
				return log_error_errno(ETIMEDOUT, "virtiofsd did not open '%s'.",
						       sock);
			}
		}
	}
	return 0;
}

/* The last lines of a log, for an error message about a program that died. */
static void print_tail(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char buf[2048];
	size_t n;
	long size;

	if (!f || fseek(f, 0, SEEK_END) < 0)
		return;
	size = ftell(f);
	if (size > (long)sizeof(buf) - 1)
		(void)fseek(f, size - (long)sizeof(buf) + 1, SEEK_SET);
	else
		rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	if (n > 0)
		fprintf(stderr, "%s%s", buf, buf[n - 1] == '\n' ? "" : "\n");
}

/* Pins the vCPU threads round robin over the host CPUs of cpu_pin. */
static void pin_vcpus(struct gc_qmp *q, const char *cpu_pin)
{
	_cleanup_(gc_qmp_stats_freep) struct gc_qmp_stats *st = NULL;
	unsigned cpus[4096];
	size_t n = 0;

	for (const char *s = cpu_pin; *s && n < ELEMENTSOF(cpus);) {
		char *end;
		unsigned a = (unsigned)strtoul(s, &end, 10), b = a;

		if (*end == '-')
			b = (unsigned)strtoul(end + 1, &end, 10);
		for (unsigned c = a; c <= b && n < ELEMENTSOF(cpus); c++)
			cpus[n++] = c;
		s = *end == ',' ? end + 1 : end;
	}
	if (n == 0 || gc_qmp_query_stats(q, QMP_TIMEOUT_MS, &st) < 0)
		return;
	for (size_t i = 0; i < st->n_vcpus; i++) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpus[i % n], &set);
		if (sched_setaffinity((pid_t)st->vcpus[i].thread_id, sizeof(set), &set) < 0)
			log_warning_errno(errno, "Failed to pin vCPU %zu to CPU %u, ignoring: %m",
					  i, cpus[i % n]);
	}
}

/* Raw terminal for the console; restored by restore_tty(). */
static struct termios saved_tty;
static bool tty_raw;

static void make_raw(int fd)
{
	struct termios t;

	if (!isatty(fd) || tcgetattr(fd, &saved_tty) < 0)
		return;
	t = saved_tty;
	cfmakeraw(&t);
	if (tcsetattr(fd, TCSANOW, &t) == 0)
		tty_raw = true;
}

static void restore_tty(int fd)
{
	if (tty_raw)
		(void)tcsetattr(fd, TCSANOW, &saved_tty);
	tty_raw = false;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int r = -errno;

		(void)close(fd);
		return r;
	}
	return fd;
}

static bool write_all(int fd, const void *data, size_t size)
{
	const char *p = data;

	while (size > 0) {
		ssize_t n = write(fd, p, size);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		size -= (size_t)n;
	}
	return true;
}

/*
 * The foreground supervisor: follows serial.log to stdout (when console), forwards stdin to
 * the serial socket, turns SIGINT/SIGTERM (or Ctrl-] on a terminal) into a graceful stop, and
 * returns QEMU's exit code when it exits.
 */
static int supervise(const struct gc_cmd *cmd, pid_t pid, const char *run_dir, bool console)
{
	_cleanup_free_ char *logp = run_path(run_dir, "serial.log");
	_cleanup_free_ char *sockp = run_path(run_dir, "serial.sock");
	_cleanup_free_ char *qmpp = run_path(run_dir, "qmp.sock");
	_cleanup_close_ int sfd = -EBADF, pidfd = -EBADF, log_fd = -EBADF, ser = -EBADF;
	bool stopping = false, in_open = console;
	sigset_t mask;
	int code = 0, r;

	if (!logp || !sockp || !qmpp)
		return log_oom();
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	(void)sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (sfd < 0 || pidfd < 0)
		return log_error_errno(errno, "Failed to watch QEMU: %m");
	if (console) {
		log_fd = open(logp, O_RDONLY | O_CLOEXEC);
		ser = connect_unix(sockp);
		if (isatty(STDIN_FILENO)) {
			log_info("Console of '%s': Ctrl-] stops the VM.", cmd->path);
			make_raw(STDIN_FILENO);
		}
	}
	for (;;) {
		struct pollfd p[4] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = in_open && ser >= 0 ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = ser, .events = POLLIN },
		};
		char buf[4096];
		ssize_t n;
		bool stop = false;

		(void)poll(p, ELEMENTSOF(p), log_fd >= 0 ? 50 : -1);
		/* The console's output, as QEMU logged it. */
		while (log_fd >= 0 && (n = read(log_fd, buf, sizeof(buf))) > 0)
			if (!write_all(STDOUT_FILENO, buf, (size_t)n))
				break;
		/*
		 * The output is followed in serial.log (it has what came before we connected),
		 * but the socket must be read too: QEMU's UART writes a byte at a time, and a
		 * client that never reads fills the socket and stalls the guest's console.
		 */
		if (p[3].revents && read(ser, buf, sizeof(buf)) <= 0)
			ser = safe_close(ser);
		if (p[1].revents) {
			r = gc_spawn_wait(pid, -1, &code);
			if (r < 0)
				code = 1;
			break;
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si))
				stop = true;
		}
		if (p[2].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false;
			} else if (tty_raw && memchr(buf, ESCAPE_CHAR, (size_t)n)) {
				stop = true;
			} else if (!write_all(ser, buf, (size_t)n)) {
				in_open = false;
			}
		}
		if (stop && !stopping) {
			_cleanup_(gc_qmp_closep) struct gc_qmp *q = NULL;
			unsigned t =
				gc_settings_get_seconds(cmd->settings, GC_SETTING_VM_STOP_TIMEOUT);

			stopping = true;
			restore_tty(STDIN_FILENO);
			log_info("Stopping the VM (graceful, up to %us)...", t);
			if (gc_qmp_open(qmpp, QMP_TIMEOUT_MS, &q) < 0 ||
			    gc_qmp_shutdown(q, (int)t * 1000) < 0)
				(void)kill(pid, SIGKILL);
		}
	}
	restore_tty(STDIN_FILENO);
	(void)sigprocmask(SIG_UNBLOCK, &mask, NULL);
	return code;
}

int gc_vm_start_option(struct gc_cmd *cmd, int id, const char *value)
{
	switch (id) {
	case OPT_ACCEL:
		if (gc_setting_check(GC_SETTING_VM_ACCEL, value) < 0)
			return gc_usage_error(
				cmd->path, "--accel: invalid accelerator '%s' (auto, kvm or tcg)",
				value);
		arg.accel = value;
		return 0;
	case OPT_DETACH:
		arg.detach = true;
		return 0;
	case OPT_DISPLAY:
		arg.display = value;
		return 0;
	}
	return -EINVAL;
}

const struct gc_option gc_vm_start_options[] = {
	{ "accel", 0, "ACCEL", "kvm, tcg, or auto (KVM when it can boot a guest)", OPT_ACCEL },
	{ "detach", 'd', NULL, "Start in the background and return", OPT_DETACH },
	{ "display", 0, "TYPE", "Override the profile's display this time", OPT_DISPLAY },
	{ NULL, 0, NULL, NULL, 0 },
};

int gc_vm_start_run(struct gc_cmd *cmd, int n_args, char **args)
{
	struct timespec t0;
	_cleanup_free_ char *vm_dir = NULL, *run_dir = NULL, *qmp_path = NULL, *log_path = NULL;
	_cleanup_(gc_strv_freep) char **argv = NULL;
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = NULL;
	_cleanup_close_ int log_fd = -EBADF;
	struct gc_vm_launch l = { 0 };
	struct gc_vm_profile p;
	struct gc_vm_state st = { 0 };
	enum gc_vm_display display = GC_VM_DISPLAY_NONE;
	char err[512];
	bool kvm = false;
	pid_t pid;
	int r;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	r = gc_vm_load_named(cmd, args[0], &p);
	if (r < 0)
		return r;
	vm_dir = gc_vm_dir(cmd->settings, p.name);
	run_dir = gc_vm_run_dir(cmd->settings, p.name);
	if (!vm_dir || !run_dir || !(qmp_path = run_path(run_dir, "qmp.sock")) ||
	    !(log_path = run_path(run_dir, "qemu.log"))) {
		gc_vm_profile_done(&p);
		return log_oom();
	}
	if (gc_vm_state_read(cmd->settings, p.name, &st) == 0) {
		log_error("VM '%s' is running already (pid %d).", p.name, (int)st.pid);
		gc_vm_state_done(&st);
		gc_vm_profile_done(&p);
		return -EBUSY;
	}

	r = decide_accel(cmd, &kvm);
	if (r >= 0)
		r = decide_display(cmd, &p, &display);
	if (r >= 0)
		r = check_network(&p);
	if (r >= 0 && !cmd->dry_run)
		r = check_passthrough(&p);
	if (r >= 0 && p.net == GC_VM_NET_USER && p.ssh_port == 0)
		r = free_port(&l.ssh_port);
	else
		l.ssh_port = p.ssh_port;
	if (r >= 0 && display == GC_VM_DISPLAY_SPICE)
		r = free_port(&l.display_port);
	if (r >= 0 && display == GC_VM_DISPLAY_VNC)
		r = free_vnc_display(&l.display_port);
	if (r < 0) {
		gc_vm_profile_done(&p);
		return r == GC_EXIT_USAGE ?
			       r :
			       log_error_errno(r, "Failed to prepare '%s': %m", p.name);
	}
	l.qemu = gc_settings_get(cmd->settings, GC_SETTING_VM_QEMU);
	l.vm_dir = vm_dir;
	l.run_dir = run_dir;
	l.kvm = kvm;
	l.display = display;
	r = gc_vm_qemu_argv(&p, &l, &argv, err, sizeof(err));
	if (r < 0) {
		gc_vm_profile_done(&p);
		return r == -ENOMEM ? log_oom() : log_error_errno(r, "%s", err);
	}

	if (!cmd->dry_run) {
		r = gc_mkdir_p(run_dir, true);
		if (r < 0)
			log_error_errno(r, "Failed to create '%s': %m", run_dir);
	}
	if (r >= 0)
		r = create_disks(cmd, &p, vm_dir);
	if (r >= 0)
		r = start_virtiofsd(cmd, &p, run_dir);
	if (r < 0 || cmd->dry_run) {
		if (r >= 0) {
			_cleanup_free_ char *line = gc_argv_to_shell(argv);

			printf("%s\n", line ? line : "");
		}
		gc_vm_profile_done(&p);
		return r;
	}

	/* The old sockets and logs of a stopped run go; the new ones take their place. */
	static const char *const stale[] = { "qmp.sock", "serial.sock", "serial.log",
					     "state.json" };
	for (size_t i = 0; i < ELEMENTSOF(stale); i++) {
		_cleanup_free_ char *f = run_path(run_dir, stale[i]);

		if (f)
			(void)unlink(f);
	}
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (log_fd < 0) {
		gc_vm_profile_done(&p);
		return log_error_errno(errno, "Failed to create '%s': %m", log_path);
	}
	struct gc_spawn_opts o = { -1, log_fd, log_fd, arg.detach };
	struct timespec t1;

	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	r = gc_spawn(argv, &o, &pid);
	if (r < 0) {
		gc_vm_profile_done(&p);
		return log_error_errno(r, "Failed to start '%s': %m", l.qemu);
	}
	log_debug("Spawned QEMU %.3f ms after start began.",
		  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);

	/* QEMU is up once its monitor answers; if it exits first, say why. */
	r = gc_qmp_open(qmp_path, 30000, &q);
	if (r < 0) {
		int code = 0;

		(void)kill(pid, SIGKILL);
		(void)gc_spawn_wait(pid, 5000, &code);
		log_error("QEMU did not start (%s). Its output:", strerror(-r));
		print_tail(log_path);
		gc_vm_profile_done(&p);
		return -EIO;
	}
	st = (struct gc_vm_state){
		.pid = pid,
		.accel = kvm ? "kvm" : "tcg",
		.display = (char *)gc_vm_display_to_string(display),
		.ssh_port = p.net == GC_VM_NET_USER ? l.ssh_port : 0,
		.display_port = l.display_port,
		.started = (long long)time(NULL),
	};
	r = state_write(run_dir, &st);
	if (r < 0)
		log_warning_errno(r, "Failed to record the state of '%s', ignoring: %m", p.name);
	if (p.cpu_pin)
		pin_vcpus(q, p.cpu_pin);
	q = gc_qmp_close(q);

	if (cmd->json) {
		json_auto_t *obj = json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:s}", "name", p.name,
					     "pid", (int)pid, "accel", st.accel, "display",
					     st.display, "ssh_port", (int)st.ssh_port,
					     "display_port", (int)st.display_port, "run_dir",
					     run_dir);
		(void)gc_json_print(obj);
	} else {
		printf("Started '%s' (pid %d, %s, display %s", p.name, (int)pid, st.accel,
		       st.display);
		if (st.ssh_port)
			printf(", ssh on 127.0.0.1:%u", st.ssh_port);
		if (display == GC_VM_DISPLAY_SPICE)
			printf(", spice on 127.0.0.1:%u", l.display_port);
		if (display == GC_VM_DISPLAY_VNC)
			printf(", vnc on 127.0.0.1:%u", 5900 + l.display_port);
		printf(").\n");
		fflush(stdout);
	}
	if (arg.detach) {
		gc_vm_profile_done(&p);
		return 0;
	}
	r = supervise(cmd, pid, run_dir, display == GC_VM_DISPLAY_NONE && !cmd->json);
	gc_vm_profile_done(&p);
	state_remove(run_dir);
	if (r != 0)
		log_info("QEMU exited with status %d.", r);
	/* QEMU's status is ours. */
	return r == 0 ? 0 : GC_EXIT_STATUS(MIN(r, 255));
}

/* --- stop, status, console, ssh ------------------------------------------------------ */

/* Reads NAME's state, saying so when it is not running. */
static int running(struct gc_cmd *cmd, const char *name, struct gc_vm_state *st)
{
	int r;

	r = gc_vm_check_exists(cmd, name);
	if (r < 0)
		return r;
	r = gc_vm_state_read(cmd->settings, name, st);
	if (r == -ENOENT || r == -ESRCH)
		return log_error_errno(ESRCH, "VM '%s' is not running.", name);
	if (r < 0)
		return log_error_errno(r, "Failed to read the state of '%s': %m", name);
	return 0;
}

static int open_qmp(const struct gc_cmd *cmd, const char *name, struct gc_qmp **ret)
{
	_cleanup_free_ char *dir = gc_vm_run_dir(cmd->settings, name), *sock = NULL;
	int r;

	if (!dir || !(sock = run_path(dir, "qmp.sock")))
		return log_oom();
	r = gc_qmp_open(sock, QMP_TIMEOUT_MS, ret);
	if (r < 0)
		return log_error_errno(r, "Failed to reach the monitor of '%s' at '%s': %m", name,
				       sock);
	return 0;
}

int gc_vm_stop_option(struct gc_cmd *cmd, int id, const char *value)
{
	switch (id) {
	case OPT_TIMEOUT:
		if (safe_atou(value, &arg.timeout) < 0 || arg.timeout < 1 || arg.timeout > 86400)
			return gc_usage_error(
				cmd->path, "--timeout: invalid seconds '%s' (1 to 86400)", value);
		return 0;
	case OPT_FORCE:
		arg.force = true;
		return 0;
	}
	return -EINVAL;
}

const struct gc_option gc_vm_stop_options[] = {
	{ "timeout", 't', "SECONDS", "How long the guest may take to power off (vm.stop_timeout)",
	  OPT_TIMEOUT },
	{ "force", 'f', NULL, "Do not ask the guest: make QEMU quit at once", OPT_FORCE },
	{ NULL, 0, NULL, NULL, 0 },
};

int gc_vm_stop_run(struct gc_cmd *cmd, int n_args, char **args)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = NULL;
	struct gc_vm_state st;
	unsigned timeout =
		arg.timeout ? arg.timeout :
			      gc_settings_get_seconds(cmd->settings, GC_SETTING_VM_STOP_TIMEOUT);
	int r, code;

	r = running(cmd, args[0], &st);
	if (r < 0)
		return r;
	if (cmd->dry_run) {
		printf("would %s VM '%s' (pid %d)%s\n", arg.force ? "quit" : "power off", args[0],
		       (int)st.pid, arg.force ? "" : ", then quit it after the timeout");
		gc_vm_state_done(&st);
		return 0;
	}
	r = open_qmp(cmd, args[0], &q);
	if (r >= 0) {
		if (arg.force)
			r = gc_qmp_quit(q, QMP_TIMEOUT_MS);
		else {
			log_info("Asking '%s' to power off (up to %us)...", args[0], timeout);
			r = gc_qmp_shutdown(q, (int)timeout * 1000);
		}
	}
	/* However QEMU took it, the process must end; a kill is the last word. */
	for (int waited = 0; pid_alive(st.pid) && waited < 5000; waited += 20) {
		if (gc_spawn_wait(st.pid, 0, &code) == 0)
			break;
		(void)nanosleep(&(struct timespec){ .tv_nsec = 20000000 }, NULL);
	}
	if (pid_alive(st.pid)) {
		log_warning("QEMU (pid %d) is still there: killing it.", (int)st.pid);
		(void)kill(st.pid, SIGKILL);
	}
	if (cmd->json) {
		json_auto_t *obj = json_pack("{s:s, s:s}", "name", args[0], "stopped",
					     arg.force || r == 1 ? "forced" : "graceful");
		(void)gc_json_print(obj);
	} else if (r == 1)
		printf("Stopped '%s' (forced: the guest did not power off within %us).\n", args[0],
		       timeout);
	else
		printf("Stopped '%s'%s.\n", args[0], arg.force ? " (forced)" : "");
	{
		_cleanup_free_ char *dir = gc_vm_run_dir(cmd->settings, args[0]);

		if (dir)
			state_remove(dir);
	}
	gc_vm_state_done(&st);
	return 0;
}

int gc_vm_status_option(struct gc_cmd *cmd, int id, const char *value)
{
	switch (id) {
	case OPT_WATCH:
		arg.watch = true;
		return 0;
	case OPT_INTERVAL: {
		unsigned ms;

		if (safe_atou(value, &ms) < 0 || ms < 100 || ms > 3600000)
			return gc_usage_error(
				cmd->path, "--interval: invalid milliseconds '%s' (100 to 3600000)",
				value);
		arg.interval_ms = ms;
		return 0;
	}
	}
	return -EINVAL;
}

const struct gc_option gc_vm_status_options[] = {
	{ "watch", 'w', NULL, "Refresh the live counters until Ctrl-C or the VM stops", OPT_WATCH },
	{ "interval", 'i', "MS", "Refresh period of --watch in milliseconds (1000)", OPT_INTERVAL },
	{ NULL, 0, NULL, NULL, 0 },
};

static json_t *stats_json(const struct gc_qmp_stats *s, const struct gc_qmp_stats *prev)
{
	json_t *vcpus = json_array(), *blocks = json_array(), *nics = json_array();
	double dt = prev ? (double)(s->timestamp_ns - prev->timestamp_ns) / 1e9 : 0;

	for (size_t i = 0; i < s->n_vcpus && vcpus; i++) {
		const struct gc_qmp_vcpu *v = &s->vcpus[i];
		double load = -1;

		if (prev && i < prev->n_vcpus && dt > 0 && v->has_cpu_time)
			load = (double)(v->cpu_time_ns - prev->vcpus[i].cpu_time_ns) / 1e9 / dt;
		/* The load needs two samples (--watch); null until then. */
		json_array_append_new(vcpus, json_pack("{s:I, s:I, s:o}", "index",
						       (json_int_t)v->cpu_index, "thread",
						       (json_int_t)v->thread_id, "load",
						       load < 0 ? json_null() : json_real(load)));
	}
	for (size_t i = 0; i < s->n_blocks && blocks; i++) {
		const struct gc_qmp_block_stats *b = &s->blocks[i];

		json_array_append_new(blocks,
				      json_pack("{s:s, s:I, s:I, s:I, s:I}", "device",
						*b->device ? b->device : b->node_name, "rd_bytes",
						(json_int_t)b->rd_bytes, "wr_bytes",
						(json_int_t)b->wr_bytes, "rd_operations",
						(json_int_t)b->rd_operations, "wr_operations",
						(json_int_t)b->wr_operations));
	}
	for (size_t i = 0; i < s->n_nics && nics; i++) {
		const struct gc_qmp_nic_stats *n = &s->nics[i];

		json_array_append_new(nics,
				      json_pack("{s:s, s:s, s:b, s:I, s:I}", "name", n->name,
						"netdev", n->peer_type, "counters", n->has_counters,
						"rx_bytes", (json_int_t)n->rx_bytes, "tx_bytes",
						(json_int_t)n->tx_bytes));
	}
	return json_pack("{s:o, s:I, s:o, s:o}", "vcpus", vcpus, "memory",
			 (json_int_t)(s->has_balloon ? s->balloon_actual :
						       s->memory_base + s->memory_plugged),
			 "blocks", blocks, "nics", nics);
}

static void print_stats(const struct gc_qmp_stats *s, const struct gc_qmp_stats *prev)
{
	double dt = prev ? (double)(s->timestamp_ns - prev->timestamp_ns) / 1e9 : 0;

	printf("  memory   %llu MiB\n",
	       (unsigned long long)((s->has_balloon ? s->balloon_actual :
						      s->memory_base + s->memory_plugged) >>
				    20));
	for (size_t i = 0; i < s->n_vcpus; i++) {
		const struct gc_qmp_vcpu *v = &s->vcpus[i];

		if (prev && i < prev->n_vcpus && dt > 0 && v->has_cpu_time)
			printf("  vcpu%-4lld thread %-8lld %5.1f%%\n", (long long)v->cpu_index,
			       (long long)v->thread_id,
			       100.0 * (double)(v->cpu_time_ns - prev->vcpus[i].cpu_time_ns) / 1e9 /
				       dt);
		else
			printf("  vcpu%-4lld thread %lld\n", (long long)v->cpu_index,
			       (long long)v->thread_id);
	}
	for (size_t i = 0; i < s->n_blocks; i++) {
		const struct gc_qmp_block_stats *b = &s->blocks[i];

		printf("  %-8s read %llu B (%llu ops), written %llu B (%llu ops)\n",
		       *b->device ? b->device : b->node_name, (unsigned long long)b->rd_bytes,
		       (unsigned long long)b->rd_operations, (unsigned long long)b->wr_bytes,
		       (unsigned long long)b->wr_operations);
	}
	for (size_t i = 0; i < s->n_nics; i++) {
		const struct gc_qmp_nic_stats *n = &s->nics[i];

		if (n->has_counters)
			printf("  %-8s rx %llu B, tx %llu B\n", n->name,
			       (unsigned long long)n->rx_bytes, (unsigned long long)n->tx_bytes);
		else
			printf("  %-8s (%s networking: QEMU 7.2 keeps no counters for it)\n",
			       n->name, n->peer_type);
	}
}

int gc_vm_status_run(struct gc_cmd *cmd, int n_args, char **args)
{
	_cleanup_(gc_qmp_closep) struct gc_qmp *q = NULL;
	_cleanup_(gc_qmp_stats_freep) struct gc_qmp_stats *prev = NULL;
	_cleanup_free_ char *status = NULL;
	struct gc_vm_state st;
	int r;

	r = gc_vm_check_exists(cmd, args[0]);
	if (r < 0)
		return r;
	r = gc_vm_state_read(cmd->settings, args[0], &st);
	if (r == -ENOENT || r == -ESRCH) {
		if (cmd->json) {
			json_auto_t *obj =
				json_pack("{s:s, s:s}", "name", args[0], "state", "stopped");
			return gc_json_print(obj);
		}
		printf("%s: stopped\n", args[0]);
		return 0;
	}
	if (r < 0)
		return log_error_errno(r, "Failed to read the state of '%s': %m", args[0]);
	r = open_qmp(cmd, args[0], &q);
	if (r >= 0)
		r = gc_qmp_query_status(q, QMP_TIMEOUT_MS, &status, NULL);
	if (r < 0) {
		gc_vm_state_done(&st);
		return r == -EREMOTEIO ? log_error_errno(r, "query-status failed: %s",
							 gc_qmp_last_error(q)->desc) :
					 r;
	}
	for (;;) {
		_cleanup_(gc_qmp_stats_freep) struct gc_qmp_stats *s = NULL;
		long long up = (long long)time(NULL) - st.started;

		r = gc_qmp_query_stats(q, QMP_TIMEOUT_MS, &s);
		if (r < 0) {
			if (arg.watch && r == -ECONNRESET) {
				printf("%s: stopped\n", args[0]);
				r = 0;
			}
			break;
		}
		if (cmd->json) {
			json_auto_t *obj = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:i, s:o}",
						     "name", args[0], "state", status, "pid",
						     (int)st.pid, "accel", st.accel, "display",
						     st.display, "uptime", (json_int_t)up,
						     "ssh_port", (int)st.ssh_port, "stats",
						     stats_json(s, prev));

			r = gc_json_print(obj);
		} else {
			if (arg.watch && isatty(STDOUT_FILENO))
				printf("\033[H\033[2J");
			printf("%s: %s (pid %d, %s, display %s, up %llds", args[0], status,
			       (int)st.pid, st.accel, st.display, up);
			if (st.ssh_port)
				printf(", ssh 127.0.0.1:%u", st.ssh_port);
			printf(")\n");
			print_stats(s, prev);
		}
		fflush(stdout);
		if (!arg.watch || r < 0)
			break;
		gc_qmp_stats_free(prev);
		prev = TAKE_PTR(s);
		(void)nanosleep(
			&(struct timespec){ .tv_sec = arg.interval_ms / 1000,
					    .tv_nsec = (long)(arg.interval_ms % 1000) * 1000000L },
			NULL);
	}
	gc_vm_state_done(&st);
	return r;
}

int gc_vm_console_run(struct gc_cmd *cmd, int n_args, char **args)
{
	_cleanup_free_ char *dir = NULL, *sock = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct gc_vm_state st;
	bool in_open = true;
	int r;

	r = running(cmd, args[0], &st);
	if (r < 0)
		return r;
	gc_vm_state_done(&st);
	dir = gc_vm_run_dir(cmd->settings, args[0]);
	if (!dir || !(sock = run_path(dir, "serial.sock")))
		return log_oom();
	fd = connect_unix(sock);
	if (fd < 0)
		return log_error_errno(fd, "Failed to connect to the console at '%s': %m", sock);
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "Connected to the serial console of '%s'; Ctrl-] leaves it.\r\n",
			args[0]);
		make_raw(STDIN_FILENO);
	}
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		char buf[4096];
		ssize_t n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0 || !write_all(STDOUT_FILENO, buf, (size_t)n))
				break;
		}
		if (p[1].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0) {
				in_open = false;
				continue;
			}
			if (tty_raw && memchr(buf, ESCAPE_CHAR, (size_t)n))
				break;
			if (!write_all(fd, buf, (size_t)n))
				break;
		}
	}
	restore_tty(STDIN_FILENO);
	return 0;
}

int gc_vm_ssh_option(struct gc_cmd *cmd, int id, const char *value)
{
	if (id != OPT_USER)
		return -EINVAL;
	if (isempty(value) || value[0] == '-' || strpbrk(value, "@ \t\n"))
		return gc_usage_error(cmd->path, "--user: invalid user name '%s'", value);
	arg.user = value;
	return 0;
}

const struct gc_option gc_vm_ssh_options[] = {
	{ "user", 'l', "USER", "Log in as USER (default: your user name)", OPT_USER },
	{ NULL, 0, NULL, NULL, 0 },
};

int gc_vm_ssh_run(struct gc_cmd *cmd, int n_args, char **args)
{
	_cleanup_free_ char *dir = NULL, *port = NULL, *kh = NULL;
	struct gc_vm_state st;
	char *argv[96];
	size_t n = 0;
	int r;

	r = running(cmd, args[0], &st);
	if (r < 0)
		return r;
	if (st.ssh_port == 0) {
		gc_vm_state_done(&st);
		return log_error_errno(EADDRNOTAVAIL,
				       "VM '%s' has no SSH forward (it needs "
				       "--net=user); reach it on its own address.",
				       args[0]);
	}
	dir = gc_vm_run_dir(cmd->settings, args[0]);
	/* Host keys of forwarded ports change with every VM: keep them out of ~/.ssh. */
	if (!dir || asprintf(&port, "%u", st.ssh_port) < 0 ||
	    asprintf(&kh, "UserKnownHostsFile=%s/known_hosts", dir) < 0) {
		gc_vm_state_done(&st);
		return log_oom();
	}
	gc_vm_state_done(&st);
	argv[n++] = (char *)gc_settings_get(cmd->settings, GC_SETTING_VM_SSH);
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-o";
	argv[n++] = kh;
	argv[n++] = "-o";
	argv[n++] = "StrictHostKeyChecking=accept-new";
	if (arg.user) {
		argv[n++] = "-l";
		argv[n++] = (char *)arg.user;
	}
	argv[n++] = "127.0.0.1";
	for (int i = 1; i < n_args && n + 1 < ELEMENTSOF(argv); i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (cmd->dry_run) {
		_cleanup_free_ char *line = gc_argv_to_shell(argv);

		printf("%s\n", line ? line : "");
		return 0;
	}
	execvp(argv[0], argv);
	return log_error_errno(errno, "Failed to run '%s': %m", argv[0]);
}
