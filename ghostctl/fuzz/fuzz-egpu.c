/* SPDX-License-Identifier: MIT */
/*
 * What `ghostctl egpu` takes from outside: LINK and FAULT [VALUE] arguments as users type
 * them, and what the module (and through it the far host) reports: struct anarchy_link_info
 * with its names and counters, and struct anarchy_event. Every input is tried as all of them:
 * as text, an argument that parses must read back the same; as bytes, a link's text and JSON
 * must be printable (no control character but newlines, valid UTF-8) whatever the far host
 * advertised, and an event's line too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egpu/link.h"
#include "egpu/monitor.h"
#include "egpu/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* No control character but newline, and valid UTF-8 (jansson checks that). */
static void check_printable(const char *s)
{
	json_t *j;

	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\n')
			abort();
	j = json_string(s);
	if (!j)
		abort();
	json_decref(j);
}

static void check_arguments(const char *s)
{
	struct gc_egpu_fault f;
	char name[GC_EGPU_NAME_MAX], err[256], copy[256];
	const char *value = NULL;
	unsigned index, again;
	char *space;

	if (gc_egpu_link_parse(s, &index) == 0) {
		gc_egpu_link_name(index, name);
		if (index > GC_EGPU_LINK_MAX || gc_egpu_link_parse(name, &again) != 0 ||
		    again != index)
			abort();
	}
	/* "FAULT VALUE", split at the first space, as the shell would. */
	(void)snprintf(copy, sizeof(copy), "%s", s);
	space = strchr(copy, ' ');
	if (space) {
		*space = '\0';
		value = space + 1;
	}
	if (gc_egpu_fault_parse(copy, value, &f, err, sizeof(err)) == 0) {
		if (f.kind >= _GC_EGPU_FAULT_MAX || !f.knob ||
		    (f.kind == GC_EGPU_FAULT_DELAY && f.value > GC_EGPU_FAULT_DELAY_MAX) ||
		    f.value > GC_EGPU_FAULT_COUNT_MAX)
			abort();
		gc_egpu_fault_describe(&f, "anarchy0", err, sizeof(err));
	} else if (err[0] == '\0')
		abort(); /* a refusal always says why */
}

static void check_link(const struct anarchy_link_info *info, enum gc_egpu_source source)
{
	struct gc_egpu_link l = { .index = info->index % (GC_EGPU_LINK_MAX + 1),
				  .source = source,
				  .open_error = -13,
				  .info = *info };
	char *text = NULL, *dump;
	size_t text_size = 0;
	json_t *j;
	FILE *f;

	f = open_memstream(&text, &text_size);
	if (!f)
		abort();
	if (gc_egpu_link_write(f, &l) != 0)
		abort();
	fclose(f);
	check_printable(text);
	free(text);

	j = gc_egpu_link_json(&l);
	if (!j)
		abort();
	dump = json_dumps(j, JSON_COMPACT);
	if (!dump)
		abort();
	free(dump);
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anarchy_link_info info = { 0 };
	struct anarchy_event ev = { 0 };
	char text[256], line[GC_EGPU_EVENT_LINE_MAX];

	if (size > 4096)
		return 0;
	(void)snprintf(text, sizeof(text), "%.*s", (int)size, (const char *)data);
	check_arguments(text);
	gc_egpu_text_sanitize(text, sizeof(text));
	check_printable(text);

	memcpy(&info, data, size < sizeof(info) ? size : sizeof(info));
	check_link(&info, GC_EGPU_SOURCE_DEVICE);
	check_link(&info, GC_EGPU_SOURCE_SYSFS);

	memcpy(&ev, data, size < sizeof(ev) ? size : sizeof(ev));
	gc_egpu_event_describe(&ev, line, sizeof(line));
	check_printable(line);
	return 0;
}
