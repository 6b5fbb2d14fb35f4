/* SPDX-License-Identifier: MIT */
/* Helpers the verbs of the psyne tool share: usage errors and output encodings. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/string-util.h"
#include "psyne.h"
#include "tool.h"

static bool usage_error_printed;

bool tool_usage_error_printed(void)
{
	return usage_error_printed;
}

int tool_usage_error(const char *verb, const char *format, ...)
{
	char msg[512];
	va_list ap;

	usage_error_printed = true;
	va_start(ap, format);
	(void)vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	if (verb)
		fprintf(stderr, TOOL_NAME ": %s: %s\nTry '" TOOL_NAME " %s --help'.\n", verb, msg,
			verb);
	else
		fprintf(stderr, TOOL_NAME ": %s\nTry '" TOOL_NAME " --help'.\n", msg);
	return -EINVAL;
}

int tool_option_error(const char *verb, int c, char *const argv[])
{
	/*
	 * getopt has moved past the offending word, unless it stopped inside a cluster of short
	 * options such as -rx, where optopt names the option and the word may be an earlier one.
	 * A long option is named as written, without any "=value".
	 */
	const char *word = optind > 0 ? argv[optind - 1] : "";
	bool is_long = startswith(word, "--") &&
		       (c == ':' || optopt == 0 || optopt >= 0x100 || strchr(word, '='));
	char name[64];

	if (is_long)
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(word, "="), word);
	else
		snprintf(name, sizeof(name), "-%c", optopt);

	if (c == ':')
		return tool_usage_error(verb, "option '%s' needs a value", name);
	if (is_long && optopt != 0)
		return tool_usage_error(verb, "option '%s' takes no value", name);
	return tool_usage_error(verb, "unknown option '%s'", name);
}

int tool_parse_log_level(const char *verb, const char *value)
{
	int level = log_level_from_string(value);

	if (level < 0)
		return tool_usage_error(verb, "--log-level: invalid level '%s'", value);
	log_set_max_level(level);
	return 0;
}

/* Between tool_reason_begin() and tool_reason_end(), the library's last error message. */
static char reason[512];
static bool reason_capturing;

static void log_sink(int level, const char *message, void *userdata)
{
	if (reason_capturing && level <= LOG_ERR) {
		snprintf(reason, sizeof(reason), "%s", message);
		return;
	}
	log_full(level, "%s", message);
}

void tool_log_setup(void)
{
	/* Errors always reach the sink, so that tool_reason_end() can give the reason. */
	psyne_set_log_func(log_sink, MAX(log_get_max_level(), LOG_ERR), NULL);
}

void tool_reason_begin(void)
{
	tool_log_setup(); /* a verb's parse_argv() runs before the dispatcher sets it up */
	reason[0] = 0;
	reason_capturing = true;
}

const char *tool_reason_end(void)
{
	reason_capturing = false;
	return reason[0] ? reason : NULL;
}

/* The schemes psyne_open() knows (psyne.h): -EPROTONOSUPPORT for another is a typo. */
static bool scheme_is_known(const char *uri)
{
	static const char *const schemes[] = { "memory", "ipc", "unix", "tcp", "tls", "udp" };
	size_t n = strcspn(uri, ":");

	for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
		if (strlen(schemes[i]) == n && strneq(schemes[i], uri, n))
			return true;
	return false;
}

int tool_open(const char *verb, const char *uri, const char *open_uri,
	      struct psyne_channel **ret_channel)
{
	const char *why;
	int r;

	tool_reason_begin();
	r = psyne_open(open_uri ? open_uri : uri, ret_channel);
	/* What the verb added may be what was refused; the reason must be about `uri`. */
	if ((r == -EINVAL || r == -EPROTONOSUPPORT) && open_uri && !streq(open_uri, uri))
		r = psyne_open(uri, ret_channel);
	why = tool_reason_end();
	if (r >= 0)
		return r;
	/*
	 * A URI the library refuses as written is a usage error; anything else is a failure.
	 * -EPROTONOSUPPORT is both: an unknown scheme, or a channel or peer of another version.
	 */
	if (r == -EINVAL || (r == -EPROTONOSUPPORT && !scheme_is_known(uri))) {
		(void)tool_usage_error(verb, "%s", why ? why : psyne_strerror(r));
		return -EINVAL;
	}
	/*
	 * The library's reason says it in more words than the code, which it names; a refused
	 * connection needs none (the address is the URI's), as nngcat says it.
	 */
	if (r == -ECONNREFUSED)
		why = NULL;
	/* A reason that starts with the channel's own address names it once already. */
	if (why) {
		size_t n = strcspn(uri, "?");

		if (strncmp(why, uri, n) == 0 && startswith(why + n, ": "))
			why += n + 2;
	}
	return log_error_errno(r, "%s: cannot open '%s': %s", verb, uri,
			       why ? why : psyne_strerror(r));
}

bool tool_utf8_is_valid(const void *data, size_t size)
{
	const uint8_t *p = data, *end = p + size;

	while (p < end) {
		uint32_t c = *p, min;
		size_t n;

		if (c < 0x80) {
			p++;
			continue;
		}
		/* The lead byte gives the length; 0xc0, 0xc1 and 0xf5 on can only be invalid. */
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			min = 0x80;
			c &= 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			min = 0x800;
			c &= 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			min = 0x10000;
			c &= 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = c << 6 | (p[i] & 0x3fu);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

void tool_json_string(FILE *f, const void *data, size_t size)
{
	const uint8_t *p = data;

	fputc('"', f);
	for (size_t i = 0; i < size; i++) {
		uint8_t c = p[i];

		switch (c) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (c < 0x20)
				fprintf(f, "\\u%04x", c);
			else
				fputc(c, f);
		}
	}
	fputc('"', f);
}

void tool_base64(FILE *f, const void *data, size_t size)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 3 <= size; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		fputc(alphabet[v >> 18], f);
		fputc(alphabet[v >> 12 & 63], f);
		fputc(alphabet[v >> 6 & 63], f);
		fputc(alphabet[v & 63], f);
	}
	if (size - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;

		fputc(alphabet[v >> 18], f);
		fputc(alphabet[v >> 12 & 63], f);
		fputs("==", f);
	} else if (size - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

		fputc(alphabet[v >> 18], f);
		fputc(alphabet[v >> 12 & 63], f);
		fputc(alphabet[v >> 6 & 63], f);
		fputc('=', f);
	}
}
