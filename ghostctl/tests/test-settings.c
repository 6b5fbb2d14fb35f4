/* SPDX-License-Identifier: MIT */
/* Layered settings: defaults, system file, user file, environment, command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tests.h"
#include "settings.h"

static char root[64];

/* A fresh HOME, XDG dirs and GHOSTCTL_SYSCONFDIR, and no GHOSTCTL_* variables. */
static void sandbox(void)
{
	char path[256];

	strcpy(root, "/tmp/gc-settings-XXXXXX");
	ASSERT_NOT_NULL(mkdtemp(root));
	(void)snprintf(path, sizeof(path), "%s/etc", root);
	ASSERT_OK(mkdir(path, 0700));
	(void)snprintf(path, sizeof(path), "%s/etc/ghostctl", root);
	ASSERT_OK(mkdir(path, 0700));
	(void)snprintf(path, sizeof(path), "%s/home", root);
	ASSERT_OK(mkdir(path, 0700));
	ASSERT_OK(setenv("HOME", path, 1));
	(void)snprintf(path, sizeof(path), "%s/etc", root);
	ASSERT_OK(setenv("GHOSTCTL_SYSCONFDIR", path, 1));
	ASSERT_OK(unsetenv("XDG_CONFIG_HOME"));
	ASSERT_OK(unsetenv("XDG_DATA_HOME"));
	ASSERT_OK(unsetenv("GHOSTCTL_VM_ACCEL"));
	ASSERT_OK(unsetenv("GHOSTCTL_VM_STOP_TIMEOUT"));
}

static void write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		(void)mkdir(path, 0700);
		*p = '/';
	}
	f = fopen(path, "we");
	ASSERT_NOT_NULL(f);
	ASSERT_EQ(fputs(text, f) >= 0, true);
	ASSERT_OK(fclose(f));
}

TEST(defaults)
{
	struct gc_settings s = { 0 };
	char expect[256];

	sandbox();
	ASSERT_OK(gc_settings_load(&s));
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_ACCEL), "auto");
	ASSERT_STREQ(s.source[GC_SETTING_VM_ACCEL], "default");
	ASSERT_EQ(gc_settings_get_seconds(&s, GC_SETTING_VM_STOP_TIMEOUT), 30u);
	(void)snprintf(expect, sizeof(expect), "%s/home/.local/share/ghostctl/vms", root);
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_DIR), expect);

	ASSERT_OK(setenv("XDG_DATA_HOME", "/srv/data", 1));
	gc_settings_done(&s);
	ASSERT_OK(gc_settings_load(&s));
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_DIR), "/srv/data/ghostctl/vms");
	/* A relative XDG directory is ignored, as the XDG spec says. */
	ASSERT_OK(setenv("XDG_DATA_HOME", "relative", 1));
	gc_settings_done(&s);
	ASSERT_OK(gc_settings_load(&s));
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_DIR), expect);
	gc_settings_done(&s);
}

TEST(layers_override_in_order)
{
	struct gc_settings s = { 0 };
	char src[256];

	sandbox();
	write_file("etc/ghostctl/ghostctl.conf", "# system\n[vm]\naccel = kvm\nstop_timeout = 5\n"
						 "qemu = /opt/qemu/bin/qemu-system-x86_64\n");
	write_file("home/.config/ghostctl/ghostctl.conf", "[vm]\n\naccel=tcg\n");
	ASSERT_OK(gc_settings_load(&s));
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_ACCEL), "tcg");
	(void)snprintf(src, sizeof(src), "%s/home/.config/ghostctl/ghostctl.conf:3", root);
	ASSERT_STREQ(s.source[GC_SETTING_VM_ACCEL], src);
	ASSERT_EQ(gc_settings_get_seconds(&s, GC_SETTING_VM_STOP_TIMEOUT), 5u);
	(void)snprintf(src, sizeof(src), "%s/etc/ghostctl/ghostctl.conf:4", root);
	ASSERT_STREQ(s.source[GC_SETTING_VM_STOP_TIMEOUT], src);
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_QEMU), "/opt/qemu/bin/qemu-system-x86_64");
	gc_settings_done(&s);

	/* The environment beats both files... */
	ASSERT_OK(setenv("GHOSTCTL_VM_ACCEL", "kvm", 1));
	ASSERT_OK(gc_settings_load(&s));
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_ACCEL), "kvm");
	ASSERT_STREQ(s.source[GC_SETTING_VM_ACCEL], "$GHOSTCTL_VM_ACCEL");
	/* ...and the command line beats the environment. */
	ASSERT_OK(gc_settings_set_assignment(&s, "vm.accel=tcg"));
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_ACCEL), "tcg");
	ASSERT_STREQ(s.source[GC_SETTING_VM_ACCEL], "--set");
	gc_settings_done(&s);

	/* XDG_CONFIG_HOME moves the user file. */
	write_file("xdg/ghostctl/ghostctl.conf", "[vm]\nstop_timeout = 7\n");
	(void)snprintf(src, sizeof(src), "%s/xdg", root);
	ASSERT_OK(setenv("XDG_CONFIG_HOME", src, 1));
	ASSERT_OK(gc_settings_load(&s));
	ASSERT_EQ(gc_settings_get_seconds(&s, GC_SETTING_VM_STOP_TIMEOUT), 7u);
	gc_settings_done(&s);
}

TEST(bad_values_are_refused_with_their_place)
{
	struct gc_settings s = { 0 };

	sandbox();
	write_file("etc/ghostctl/ghostctl.conf", "[vm]\naccel = warp\n");
	ASSERT_ERROR(gc_settings_load(&s), EINVAL);
	gc_settings_done(&s);

	write_file("etc/ghostctl/ghostctl.conf", "[vm]\nstop_timeout = 0\n");
	ASSERT_ERROR(gc_settings_load(&s), EINVAL);
	gc_settings_done(&s);

	write_file("etc/ghostctl/ghostctl.conf", "this is not ini\n");
	ASSERT_ERROR(gc_settings_load(&s), EINVAL);
	gc_settings_done(&s);

	/* Unknown keys are warned about, not fatal: newer files work with older ghostctl. */
	write_file("etc/ghostctl/ghostctl.conf", "[vm]\nfuture_key = 1\n[later]\nx = y\n");
	ASSERT_OK(gc_settings_load(&s));
	gc_settings_done(&s);

	write_file("etc/ghostctl/ghostctl.conf", "");
	ASSERT_OK(setenv("GHOSTCTL_VM_STOP_TIMEOUT", "12x", 1));
	ASSERT_ERROR(gc_settings_load(&s), EINVAL);
	gc_settings_done(&s);
	ASSERT_OK(unsetenv("GHOSTCTL_VM_STOP_TIMEOUT"));

	ASSERT_OK(gc_settings_load(&s));
	ASSERT_ERROR(gc_settings_set_assignment(&s, "vm.accel"), EINVAL);
	ASSERT_ERROR(gc_settings_set_assignment(&s, "vm.nope=1"), EINVAL);
	ASSERT_ERROR(gc_settings_set_assignment(&s, "vm.qemu="), EINVAL);
	ASSERT_ERROR(gc_settings_set_assignment(&s, "vm.qemu=a\nb"), EINVAL);
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_QEMU), "qemu-system-x86_64");
	gc_settings_done(&s);
}

TEST(long_lines_and_semicolons)
{
	struct gc_settings s = { 0 };
	char text[5000];

	sandbox();
	/* ';' is part of a value, not a comment. */
	write_file("etc/ghostctl/ghostctl.conf", "[vm]\nqemu = /opt/a;b/qemu\n");
	ASSERT_OK(gc_settings_load(&s));
	ASSERT_STREQ(gc_settings_get(&s, GC_SETTING_VM_QEMU), "/opt/a;b/qemu");
	gc_settings_done(&s);

	/* A line past the limit is an error, not a silent cut. */
	(void)snprintf(text, sizeof(text), "[vm]\nqemu = /%04200d\n", 0);
	write_file("etc/ghostctl/ghostctl.conf", text);
	ASSERT_ERROR(gc_settings_load(&s), EINVAL);
	gc_settings_done(&s);

	/* Up to the limit is fine. */
	(void)snprintf(text, sizeof(text), "[vm]\nqemu = /%03900d\n", 0);
	write_file("etc/ghostctl/ghostctl.conf", text);
	ASSERT_OK(gc_settings_load(&s));
	ASSERT_EQ(strlen(gc_settings_get(&s, GC_SETTING_VM_QEMU)), 3901u);
	gc_settings_done(&s);
}

DEFINE_TEST_MAIN();
