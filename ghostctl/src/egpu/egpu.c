/* SPDX-License-Identifier: MIT */
/*
 * `ghostctl egpu`: status, monitor, limit, inject, connect and disconnect of the anarchy
 * links. Reading needs only sysfs (the device, when it opens, adds the far host's UUID, GPU
 * details, RTT and the rest of the counters); changing a link needs CAP_SYS_ADMIN, through
 * the device (limit, connect, disconnect) or debugfs (inject). Every argument is checked
 * before anything is read or changed; --dry-run checks everything a real run would, then
 * says what it would do instead of doing it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "egpu.h"
#include "link.h"
#include "monitor.h"
#include "output.h"
#include "status.h"

#define GC_EGPU_LIMIT_MAX 100000u /* the module's largest cap, in Mb/s */

enum {
	OPT_INTERVAL,
	OPT_WAIT,
	OPT_TIMEOUT,
};

/* Options of the invocation; one verb runs per process. */
static struct {
	unsigned interval_ms;
	bool wait;
	unsigned timeout_s;
} arg = {
	.interval_ms = 500,
	.timeout_s = 10,
};

static int parse_link(struct gc_cmd *cmd, const char *s, unsigned *ret)
{
	if (gc_egpu_link_parse(s, ret) < 0)
		return gc_usage_error(cmd->path, "invalid link '%s' (N, anarchyN or /dev/anarchyN)",
				      s);
	return 0;
}

/* The module is loaded and has this link; each failure logged with what to do. */
static int check_link(unsigned index)
{
	if (gc_egpu_module_check() < 0)
		return gc_egpu_log_no_module();
	if (!gc_egpu_link_exists(index))
		return log_error_errno(ENOENT, "No link anarchy%u (see 'ghostctl egpu status').",
				       index);
	return 0;
}

/* Opens a link to change it; a refusal says that root is needed. */
static int open_for_change(unsigned index, struct anarchy_link **ret)
{
	char dev[GC_EGPU_PATH_MAX];
	int r;

	gc_egpu_link_dev(index, dev);
	r = gc_egpu_open(index, 0, ret);
	if (r == -EACCES || r == -EPERM)
		return log_error_errno(r, "Cannot open %s: %m: changing a link needs root.", dev);
	if (r == -ENOENT)
		return log_error_errno(r, "Cannot open %s: %m (is udev or devtmpfs missing?).",
				       dev);
	if (r == -EPROTO)
		return log_error_errno(r,
				       "Cannot use %s: the module speaks another ABI than this "
				       "ghostctl (ABI %d); update one of them.",
				       dev, ANARCHY_ABI_MAJOR);
	if (r < 0)
		return log_error_errno(r, "Cannot open %s: %m", dev);
	return 0;
}

static void link_closep(struct anarchy_link **link)
{
	*link = anarchy_link_close(*link);
}

/* ---- status ------------------------------------------------------------------------------ */

static int status_run(struct gc_cmd *cmd, int n_args, char **args)
{
	_cleanup_free_ unsigned *indexes = NULL;
	_cleanup_free_ struct gc_egpu_link *links = NULL;
	char unopened[256] = "";
	size_t n = 0, n_links = 0, n_unopened = 0;
	int open_error = 0, r;

	if (n_args > 0) {
		unsigned index;

		r = parse_link(cmd, args[0], &index);
		if (r < 0)
			return r;
		r = check_link(index);
		if (r < 0)
			return r;
		indexes = malloc(sizeof(*indexes));
		if (!indexes)
			return log_oom();
		indexes[n++] = index;
	} else {
		r = gc_egpu_list(&indexes, &n);
		if (r == -ENOENT)
			return gc_egpu_log_no_module();
		if (r < 0)
			return log_error_errno(r, "Failed to list " GC_EGPU_SYSFS_DIR ": %m");
	}
	links = calloc(MAX(n, (size_t)1), sizeof(*links));
	if (!links)
		return log_oom();

	for (size_t k = 0; k < n; k++) {
		_cleanup_(link_closep) struct anarchy_link *link = NULL;
		int e = gc_egpu_open(indexes[k], 0, &link);

		if (e < 0) {
			size_t len = strlen(unopened);

			link = NULL;
			if (n_unopened++ == 0)
				open_error = e;
			(void)snprintf(unopened + len, sizeof(unopened) - len, "%s/dev/anarchy%u",
				       len > 0 ? ", " : "", indexes[k]);
		}
		r = gc_egpu_read(indexes[k], link, e, &links[n_links]);
		if (r < 0) {
			log_warning_errno(r, "Failed to read anarchy%u, skipping it: %m",
					  indexes[k]);
			continue;
		}
		n_links++;
	}
	/* One line for all of them: the reason is the same (permissions, as a rule). */
	if (n_unopened > 0)
		log_warning("Cannot open %s (%s): showing what sysfs has; the far host's UUID, "
			    "GPU details, RTT and some counters need the device (root, or its "
			    "group).",
			    unopened, strerror(-open_error));

	if (cmd->json) {
		json_auto_t *j = gc_egpu_status_json(links, n_links);

		return gc_json_print(j);
	}
	if (n_links == 0) {
		printf("No anarchy links: no far host is connected%s.\n",
		       n > 0 ? " that could be read" : "");
		return 0;
	}
	for (size_t k = 0; k < n_links; k++) {
		if (k > 0)
			putchar('\n');
		r = gc_egpu_link_write(stdout, &links[k]);
		if (r < 0)
			return log_error_errno(r, "Failed to write to standard output: %m");
	}
	return fflush(stdout) == EOF ? log_error_errno(errno, "Failed to write: %m") : 0;
}

/* ---- monitor ----------------------------------------------------------------------------- */

static int monitor_option(struct gc_cmd *cmd, int id, const char *value)
{
	if (id == OPT_INTERVAL) {
		unsigned ms;

		if (safe_atou(value, &ms) < 0 || ms < 50 || ms > 60000)
			return gc_usage_error(cmd->path,
					      "--interval: invalid milliseconds '%s' (50 to 60000)",
					      value);
		arg.interval_ms = ms;
		return 0;
	}
	return -EINVAL;
}

static int monitor_run(struct gc_cmd *cmd, int n_args, char **args)
{
	unsigned index = 0;
	int r;

	if (n_args > 0) {
		r = parse_link(cmd, args[0], &index);
		if (r < 0)
			return r;
	}
	return gc_egpu_monitor(cmd, n_args > 0, index, arg.interval_ms);
}

static const struct gc_option monitor_options[] = {
	{ "interval", 'i', "MS", "Sample every MS milliseconds, 50 to 60000 (500)", OPT_INTERVAL },
	{ NULL, 0, NULL, NULL, 0 },
};

/* ---- limit ------------------------------------------------------------------------------- */

static void format_cap(uint32_t mbps, char *buf, size_t size)
{
	if (mbps == 0)
		(void)snprintf(buf, size, "none");
	else
		(void)snprintf(buf, size, "%u Mb/s", mbps);
}

static int limit_run(struct gc_cmd *cmd, int n_args, char **args)
{
	_cleanup_(link_closep) struct anarchy_link *link = NULL;
	struct anarchy_params p = { .mask = ANARCHY_PARAM_BANDWIDTH };
	struct gc_egpu_link now;
	char before[32], after[32];
	unsigned index, mbps;
	int r;

	r = parse_link(cmd, args[0], &index);
	if (r < 0)
		return r;
	if (streq(args[1], "off") || streq(args[1], "none"))
		mbps = 0;
	else if (safe_atou(args[1], &mbps) < 0 || mbps > GC_EGPU_LIMIT_MAX)
		return gc_usage_error(cmd->path,
				      "invalid rate '%s' (Mb/s, 0 to %u; 0 or off: no cap)",
				      args[1], GC_EGPU_LIMIT_MAX);
	r = check_link(index);
	if (r < 0)
		return r;
	r = gc_egpu_read_sysfs(index, &now);
	if (r < 0)
		return log_error_errno(r, "Failed to read anarchy%u: %m", index);
	format_cap(now.info.bandwidth_cap_mbps, before, sizeof(before));
	format_cap(mbps, after, sizeof(after));
	if (cmd->dry_run) {
		printf("Would set the bandwidth cap of anarchy%u to %s (now %s).\n", index, after,
		       before);
		return 0;
	}
	r = open_for_change(index, &link);
	if (r < 0)
		return r;
	p.bandwidth_cap_mbps = mbps;
	r = anarchy_link_set_params(link, &p);
	if (r == -EPERM)
		return log_error_errno(
			r,
			"Setting the bandwidth cap of anarchy%u needs CAP_SYS_ADMIN: "
			"run as root.",
			index);
	if (r < 0)
		return log_error_errno(r, "Failed to set the bandwidth cap of anarchy%u: %m",
				       index);
	log_info("anarchy%u: bandwidth cap %s (was %s).", index, after, before);
	return 0;
}

/* ---- inject ------------------------------------------------------------------------------ */

static int inject_run(struct gc_cmd *cmd, int n_args, char **args)
{
	_cleanup_free_ char *path = NULL;
	struct gc_egpu_fault f;
	struct gc_egpu_link now;
	char err[256], name[GC_EGPU_NAME_MAX], what[160];
	unsigned index;
	int r;

	r = parse_link(cmd, args[0], &index);
	if (r < 0)
		return r;
	if (gc_egpu_fault_parse(args[1], n_args > 2 ? args[2] : NULL, &f, err, sizeof(err)) < 0)
		return gc_usage_error(cmd->path, "%s", err);
	r = check_link(index);
	if (r < 0)
		return r;
	gc_egpu_link_name(index, name);
	if (f.kind == GC_EGPU_FAULT_UNPLUG || f.kind == GC_EGPU_FAULT_REPLUG) {
		r = gc_egpu_read_sysfs(index, &now);
		if (r < 0)
			return log_error_errno(r, "Failed to read %s: %m", name);
		if (!(now.info.flags & ANARCHY_INFO_SIMULATED))
			return log_error_errno(EOPNOTSUPP,
					       "%s is a Thunderbolt link: unplug and replug act on "
					       "simulated links only (pull the cable instead).",
					       name);
	}
	r = gc_egpu_debugfs_check(index);
	if (r < 0)
		return r; /* logged, with what to do */
	path = gc_egpu_knob_path(index, f.knob);
	if (!path)
		return log_oom();
	gc_egpu_fault_describe(&f, name, what, sizeof(what));
	if (cmd->dry_run) {
		printf("Would %s: write %u to %s.\n", what, f.value, path);
		return 0;
	}
	r = gc_egpu_knob_write(index, f.knob, f.value);
	if (r == -EACCES || r == -EPERM)
		return log_error_errno(r, "Cannot write %s: %m: fault injection needs root.", path);
	if (r == -ENOENT)
		return log_error_errno(r, "No knob %s: this module has no '%s' fault.", path,
				       args[1]);
	if (r == -EINVAL)
		return log_error_errno(r, "The module refused %u for %s: %m", f.value, path);
	if (r < 0)
		return log_error_errno(r, "Failed to write %u to %s: %m", f.value, path);
	log_info("Fault injected: %s.", what);
	return 0;
}

/* ---- connect, disconnect ----------------------------------------------------------------- */

static int connect_option(struct gc_cmd *cmd, int id, const char *value)
{
	switch (id) {
	case OPT_WAIT:
		arg.wait = true;
		return 0;
	case OPT_TIMEOUT:
		if (safe_atou(value, &arg.timeout_s) < 0 || arg.timeout_s < 1 ||
		    arg.timeout_s > 3600)
			return gc_usage_error(cmd->path,
					      "--timeout: invalid seconds '%s' (1 to 3600)", value);
		return 0;
	default:
		return -EINVAL;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits until the link is up: 0, -ETIMEDOUT (logged), or the error of reading it. */
static int wait_up(struct anarchy_link *link, unsigned index, unsigned timeout_s)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
	struct anarchy_link_info info;
	int r;

	for (;;) {
		r = anarchy_link_get_info(link, &info);
		if (r < 0)
			return log_error_errno(r, "Failed to read anarchy%u: %m", index);
		if (info.state == ANARCHY_LINK_UP)
			return 0;
		if (now_ms() >= deadline)
			return log_error_errno(ETIMEDOUT,
					       "anarchy%u did not come up within %u s (state %s).",
					       index, timeout_s,
					       anarchy_state_to_string(info.state));
		(void)usleep(20000);
	}
}

static int connect_common(struct gc_cmd *cmd, char **args, bool connect)
{
	_cleanup_(link_closep) struct anarchy_link *link = NULL;
	struct anarchy_link_info info;
	struct gc_egpu_link now;
	unsigned index;
	int r;

	r = parse_link(cmd, args[0], &index);
	if (r < 0)
		return r;
	r = check_link(index);
	if (r < 0)
		return r;
	if (cmd->dry_run) {
		r = gc_egpu_read_sysfs(index, &now);
		if (r < 0)
			return log_error_errno(r, "Failed to read anarchy%u: %m", index);
		if (connect)
			printf("Would connect anarchy%u (now %s): it would come up when the far "
			       "host answers.\n",
			       index, gc_egpu_state_string(now.info.state));
		else
			printf("Would disconnect anarchy%u (now %s): it would stay down until "
			       "'ghostctl egpu connect %u'.\n",
			       index, gc_egpu_state_string(now.info.state), index);
		return 0;
	}
	r = open_for_change(index, &link);
	if (r < 0)
		return r;
	r = anarchy_link_get_info(link, &info);
	if (r < 0)
		return log_error_errno(r, "Failed to read anarchy%u: %m", index);
	r = anarchy_link_connect(link, connect);
	if (r == -EPERM)
		return log_error_errno(r, "%s anarchy%u needs CAP_SYS_ADMIN: run as root.",
				       connect ? "Connecting" : "Disconnecting", index);
	if (r < 0)
		return log_error_errno(r, "Failed to %s anarchy%u: %m",
				       connect ? "connect" : "disconnect", index);
	if (!connect) {
		if (info.flags & ANARCHY_INFO_ADMIN_DOWN)
			log_info("anarchy%u was disconnected already.", index);
		else
			log_info("Disconnected anarchy%u: it stays down until 'ghostctl egpu "
				 "connect %u'.",
				 index, index);
		return 0;
	}
	if (arg.wait) {
		r = wait_up(link, index, arg.timeout_s);
		if (r < 0)
			return r;
		if (info.flags & ANARCHY_INFO_ADMIN_DOWN)
			log_info("Connected anarchy%u: the link is up.", index);
		else
			log_info("anarchy%u is up (it was connected already).", index);
		return 0;
	}
	if (!(info.flags & ANARCHY_INFO_ADMIN_DOWN))
		log_info("anarchy%u was connected already (state %s).", index,
			 anarchy_state_to_string(info.state));
	else
		log_info("Connected anarchy%u: it comes up when the far host answers.", index);
	return 0;
}

static int connect_run(struct gc_cmd *cmd, int n_args, char **args)
{
	return connect_common(cmd, args, true);
}

static int disconnect_run(struct gc_cmd *cmd, int n_args, char **args)
{
	return connect_common(cmd, args, false);
}

static const struct gc_option connect_options[] = {
	{ "wait", 'w', NULL, "Wait until the link is up (see --timeout)", OPT_WAIT },
	{ "timeout", 0, "SECONDS", "How long --wait waits, 1 to 3600 (10)", OPT_TIMEOUT },
	{ NULL, 0, NULL, NULL, 0 },
};

/* ---- The table --------------------------------------------------------------------------- */

#define EXIT_STATUS "Exit status: 0 on success, 1 on failure, 2 on a usage error."

const struct gc_verb gc_egpu_verbs[GC_EGPU_N_VERBS] = {
	{
		.name = "status",
		.synopsis = "[LINK] [OPTIONS]",
		.summary = "Show the links: state, speeds, far host, GPUs, counters, RTT",
		.description =
			"Shows every link in /sys/class/anarchy, or the one named. Each link's device\n"
			"is opened (without taking its rings) for the full picture: far host name and\n"
			"UUID, its GPUs with VRAM, driver and encoders, all the counters, the RTT.\n"
			"When the device cannot be opened (permissions, as a rule) the link is read\n"
			"from sysfs instead, and one warning line says so. --json prints\n"
			"{\"schema\": 1, \"links\": [...]}, documented in docs/egpu.md; fields that\n"
			"sysfs cannot give are null.",
		.max_args = 1,
		.flags = GC_VERB_JSON,
		.run = status_run,
		.epilogue = EXIT_STATUS " No module loaded is a failure;\n"
					"no link is not.\n"
					"Example: ghostctl egpu status 0 --json",
	},
	{
		.name = "monitor",
		.synopsis = "[LINK] [OPTIONS]",
		.summary = "A live dashboard: throughput and RTT graphs, counters, events",
		.description =
			"Samples every link (or the one named) each --interval and draws, for the\n"
			"selected link, its speed and far host, graphs of the TX and RX throughput and\n"
			"of the round-trip time, its counters, and the newest events of all links\n"
			"(link up and down, hot-plug, stalls, errors). Links that come and go are\n"
			"followed. A link whose device cannot be opened is read from sysfs: no RTT\n"
			"then, and state changes instead of the module's events. Needs a terminal of\n"
			"at least 60x16; scripts use 'egpu status --json'.",
		.max_args = 1,
		.options = monitor_options,
		.parse_option = monitor_option,
		.run = monitor_run,
		.epilogue = "Keys: q, Esc or ^C quits; Tab, Left/Right (or n/p) select a link; c\n"
			    "clears the events.",
	},
	{
		.name = "limit",
		.synopsis = "LINK MBPS [OPTIONS]",
		.summary = "Cap a link's bandwidth, in Mb/s (0 or off: no cap)",
		.description =
			"Sets the link's bandwidth cap through the device (ANARCHY_IOC_SET_PARAMS):\n"
			"records are paced so that the link carries at most MBPS megabits a second,\n"
			"from 1 to 100000; 0, off or none lifts the cap. Needs CAP_SYS_ADMIN.",
		.min_args = 2,
		.max_args = 2,
		.flags = GC_VERB_DRY_RUN,
		.run = limit_run,
		.epilogue = EXIT_STATUS "\nExample: ghostctl egpu limit 0 2500",
	},
	{
		.name = "inject",
		.synopsis = "LINK FAULT [VALUE] [OPTIONS]",
		.summary = "Inject a fault: drop, corrupt, delay, stall, unplug, replug",
		.description =
			"Writes the link's fault-injection knob in debugfs\n"
			"(/sys/kernel/debug/anarchy/anarchyN/), acting on the frames that end sends:\n"
			"  drop N       lose the next N frames\n"
			"  corrupt N    flip a byte of each of the next N frames (the CRC catches it)\n"
			"  delay US     deliver every frame US microseconds later (0: no delay)\n"
			"  stall on|off go silent, as a hung host would, or speak again\n"
			"  unplug       pull the simulated cable (both ends go down)\n"
			"  replug       plug it back in\n"
			"unplug and replug act on simulated links (test_mode=1) only. Needs root and\n"
			"a mounted debugfs (mount -t debugfs none /sys/kernel/debug).",
		.min_args = 2,
		.max_args = 3,
		.flags = GC_VERB_DRY_RUN,
		.run = inject_run,
		.epilogue = EXIT_STATUS "\nExample: ghostctl egpu inject 0 drop 10",
	},
	{
		.name = "connect",
		.synopsis = "LINK [OPTIONS]",
		.summary = "Let a disconnected link come up again",
		.description =
			"Undoes 'egpu disconnect': the link negotiates with the far host and comes up\n"
			"when it answers; --wait waits for that. Needs CAP_SYS_ADMIN.",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_DRY_RUN,
		.options = connect_options,
		.parse_option = connect_option,
		.run = connect_run,
		.epilogue = EXIT_STATUS " --wait fails when the link is not up in time.",
	},
	{
		.name = "disconnect",
		.synopsis = "LINK [OPTIONS]",
		.summary = "Take a link down and keep it down",
		.description =
			"Says goodbye to the far host and takes the link down; it stays down, cable\n"
			"or not, until 'egpu connect'. Records queued meanwhile wait. Needs\n"
			"CAP_SYS_ADMIN.",
		.min_args = 1,
		.max_args = 1,
		.flags = GC_VERB_DRY_RUN,
		.run = disconnect_run,
		.epilogue = EXIT_STATUS,
	},
};
