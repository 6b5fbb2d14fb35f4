/* SPDX-License-Identifier: MIT */
/*
 * A dynamically linked test program for the testbed guest (test-boot.py packs it with
 * mkpayload, which brings its loader and libc along). It prints the kernel release and
 * checks what /init promises: the mounts and the host name. It exits 3 when all is well,
 * so that the host sees a status no accident produces, and 1 otherwise.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

static const char *const expected_mounts[][2] = {
	{ "/proc", "proc" },	  { "/sys", "sysfs" }, { "/dev", "devtmpfs" },
	{ "/dev/pts", "devpts" }, { "/tmp", "tmpfs" }, { "/run", "tmpfs" },
};

/* Whether /proc/mounts lists a file system of `type` at `dir`; -errno when unreadable. */
static int has_mount(const char *dir, const char *type)
{
	char line[512], src[128], mnt[256], fstype[64];
	FILE *f;
	int r = 0;

	f = fopen("/proc/mounts", "re");
	if (!f)
		return -errno;
	while (r == 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %255s %63s", src, mnt, fstype) == 3 &&
		    strcmp(mnt, dir) == 0 && strcmp(fstype, type) == 0)
			r = 1;
	fclose(f);
	return r;
}

int main(void)
{
	struct utsname u;
	bool ok = true;

	if (uname(&u) < 0) {
		fprintf(stderr, "probe: uname: %s\n", strerror(errno));
		return 1;
	}
	printf("probe: release=%s\n", u.release);
	printf("probe: hostname=%s\n", u.nodename);
	if (strcmp(u.nodename, "testbed") != 0) {
		printf("probe: FAIL hostname is '%s', not 'testbed'\n", u.nodename);
		ok = false;
	}
	for (size_t i = 0; i < sizeof(expected_mounts) / sizeof(expected_mounts[0]); i++) {
		int r = has_mount(expected_mounts[i][0], expected_mounts[i][1]);

		if (r < 0) {
			printf("probe: FAIL /proc/mounts: %s\n", strerror(-r));
			return 1;
		}
		if (r == 0) {
			printf("probe: FAIL no %s mounted at %s\n", expected_mounts[i][1],
			       expected_mounts[i][0]);
			ok = false;
		}
	}
	if (!ok)
		return 1;
	printf("probe: mounts ok\n");
	return 3;
}
