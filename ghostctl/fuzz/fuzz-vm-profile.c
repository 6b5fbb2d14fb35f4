/* SPDX-License-Identifier: MIT */
/*
 * The VM profile parser on arbitrary bytes: a profile is a file a user (or anyone who can
 * write it) edits by hand. Whatever parses must write back to text that parses to the same
 * text, and must give a QEMU command line whose every argument is printable.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "vm/profile.h"
#include "vm/qemu.h"

static char *to_ini(const struct gc_vm_profile *p)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		abort();
	if (gc_vm_profile_write(p, f) < 0)
		abort();
	fclose(f);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gc_vm_profile p, q;
	char *text, err[512];

	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (gc_vm_profile_parse(&p, "fuzz", text, err, sizeof(err)) == 0) {
		char *a = to_ini(&p), *b;
		struct gc_vm_launch l = { .qemu = "qemu",
					  .vm_dir = "/vm",
					  .run_dir = "/run/vm",
					  .display = GC_VM_DISPLAY_NONE,
					  .ssh_port = 2222,
					  .display_port = 1 };
		char **argv = NULL;

		/* What was accepted saves to a file that loads back to the same profile. */
		if (gc_vm_profile_parse(&q, "fuzz", a, err, sizeof(err)) != 0)
			abort();
		b = to_ini(&q);
		if (strcmp(a, b) != 0)
			abort();
		if (gc_vm_qemu_argv(&p, &l, &argv, err, sizeof(err)) == 0) {
			for (char **arg = argv; *arg; arg++)
				for (const char *c = *arg; *c; c++)
					if ((unsigned char)*c < 0x20)
						abort();
			gc_strv_free(argv);
		}
		gc_vm_profile_done(&q);
		free(a);
		free(b);
	}
	gc_vm_profile_done(&p);
	free(text);
	return 0;
}
