/* SPDX-License-Identifier: MIT */
/* Host networking for VMs: tap devices and bridges, as QEMU's netdevs need them. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "env-internal.h"
#include "env.h"

static int why(char **ret_why, const char *format, ...) _printf_(2, 3);
static int why(char **ret_why, const char *format, ...)
{
	va_list ap;
	int r;

	va_start(ap, format);
	r = vasprintf(ret_why, format, ap);
	va_end(ap);
	return r < 0 ? -ENOMEM : 1;
}

int gc_env_tap_check(const char *tap, char **ret_why)
{
	_cleanup_free_ char *line = NULL;
	char path[128];
	unsigned owner;
	const char *user = getenv("USER");

	(void)snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", tap);
	if (!gc_env__exists(path))
		return why(
			ret_why,
			"Tap device '%s' does not exist. Create it (as root) with: ip tuntap add "
			"dev %s mode tap user %s",
			tap, tap, user ? user : "$USER");
	(void)snprintf(path, sizeof(path), "/sys/class/net/%s/owner", tap);
	if (geteuid() != 0 && gc_env__read_line(path, &line) == 0 && safe_atou(line, &owner) == 0 &&
	    owner != (unsigned)getuid())
		return why(ret_why,
			   "Tap device '%s' belongs to uid %u, not to you (uid %u): recreate it "
			   "with 'user %u', or run as root.",
			   tap, owner, (unsigned)getuid(), (unsigned)getuid());
	return 0;
}

/* Whether QEMU's bridge helper may use the bridge: an "allow" line in its ACL file. */
static bool bridge_allowed(const char *bridge)
{
	_cleanup_free_ char *conf = NULL;
	char *save = NULL;

	if (gc_env__read_file("/etc/qemu/bridge.conf", 64 * 1024, &conf) < 0)
		return false;
	for (char *line = strtok_r(conf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char word[32], name[64];

		if (sscanf(line, "%31s %63s", word, name) == 2 && streq(word, "allow") &&
		    (streq(name, "all") || streq(name, bridge)))
			return true;
	}
	return false;
}

int gc_env_bridge_check(const char *bridge, char **ret_why)
{
	char path[128];

	(void)snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", bridge);
	if (!gc_env__exists(path))
		return why(ret_why,
			   "There is no bridge '%s'. Create one (as root): ip link add %s type "
			   "bridge && ip link set %s up",
			   bridge, bridge, bridge);
	if (!bridge_allowed(bridge))
		return why(ret_why,
			   "QEMU's bridge helper may not use '%s': add 'allow %s' to "
			   "/etc/qemu/bridge.conf (as root).",
			   bridge, bridge);
	return 0;
}
