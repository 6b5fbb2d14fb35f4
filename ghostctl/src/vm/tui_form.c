/* SPDX-License-Identifier: MIT */
/* The form of `vm tui` as data: rows, focus, typed text, messages; see tui_form.h. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "profile.h"
#include "tui_form.h"

/* Typed text is capped well above what any field accepts, so a stuck key cannot eat memory. */
#define TEXT_MAX 4096

void gc_tui_form_set_message(struct gc_tui_form *form, bool is_error, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	(void)vsnprintf(form->message, sizeof(form->message), format, ap);
	va_end(ap);
	form->message_is_error = is_error;
}

/* Fields without a command-line option (the template) are for show only. */
static bool field_is_readonly(const struct gc_vm_field *f)
{
	return !f->option;
}

static bool field_is_text(const struct gc_vm_field *f)
{
	return f->kind == GC_VM_FIELD_TEXT || f->kind == GC_VM_FIELD_NUMBER ||
	       f->kind == GC_VM_FIELD_SIZE;
}

bool gc_tui_field_choice(const struct gc_vm_field *field, size_t i, char *buf, size_t size)
{
	const char *p = field->choices;

	if (!p || size == 0)
		return false;
	for (; i > 0; i--) {
		p = strchr(p, '|');
		if (!p)
			return false;
		p++;
	}
	(void)snprintf(buf, size, "%.*s", (int)strcspn(p, "|"), p);
	return true;
}

bool gc_tui_form_row_is_focusable(const struct gc_tui_form *form, size_t i)
{
	const struct gc_tui_row *row;

	if (i >= form->n_rows)
		return false;
	row = &form->rows[i];
	if (row->kind == GC_TUI_ROW_HEADING)
		return false;
	return !row->field || !field_is_readonly(row->field);
}

bool gc_tui_form_row_is_text(const struct gc_tui_form *form, size_t i)
{
	if (!gc_tui_form_row_is_focusable(form, i))
		return false;
	switch (form->rows[i].kind) {
	case GC_TUI_ROW_NAME:
	case GC_TUI_ROW_ITEM:
	case GC_TUI_ROW_ADD:
		return true;
	case GC_TUI_ROW_FIELD:
		return field_is_text(form->rows[i].field);
	case GC_TUI_ROW_HEADING:
		break;
	}
	return false;
}

void gc_tui_form_row_label(const struct gc_tui_form *form, size_t i, char *buf, size_t size)
{
	const struct gc_tui_row *row;
	const char *name;

	buf[0] = '\0';
	if (i >= form->n_rows)
		return;
	row = &form->rows[i];
	name = row->field && row->field->option ? row->field->option :
	       row->field			? row->field->key :
						  "";
	switch (row->kind) {
	case GC_TUI_ROW_HEADING:
		(void)snprintf(buf, size, "[%s]", row->section);
		break;
	case GC_TUI_ROW_NAME:
		(void)snprintf(buf, size, "name");
		break;
	case GC_TUI_ROW_FIELD:
		(void)snprintf(buf, size, "%s", name);
		break;
	case GC_TUI_ROW_ITEM:
		(void)snprintf(buf, size, "%s %zu", name, row->item + 1);
		break;
	case GC_TUI_ROW_ADD:
		(void)snprintf(buf, size, "add %s", name);
		break;
	}
}

/* The profile's text for row i (not what is typed there). */
static int profile_value(const struct gc_tui_form *form, size_t i, char **ret)
{
	const struct gc_tui_row *row = &form->rows[i];
	char *s = NULL;
	int r;

	switch (row->kind) {
	case GC_TUI_ROW_NAME:
		s = strdup(form->profile.name ? form->profile.name : "");
		break;
	case GC_TUI_ROW_FIELD:
	case GC_TUI_ROW_ITEM:
		r = gc_vm_profile_get(&form->profile, row->field, row->item, &s);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			s = strdup("");
		break;
	case GC_TUI_ROW_HEADING:
	case GC_TUI_ROW_ADD:
		s = strdup("");
		break;
	}
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int gc_tui_form_row_value(const struct gc_tui_form *form, size_t i, char **ret)
{
	char *s;

	if (i >= form->n_rows)
		return -EINVAL;
	if (i != form->focus || !form->text)
		return profile_value(form, i, ret);
	s = strdup(form->text);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

const char *gc_tui_form_help(const struct gc_tui_form *form)
{
	const struct gc_tui_row *row;

	if (form->focus >= form->n_rows)
		return "";
	row = &form->rows[form->focus];
	if (row->kind == GC_TUI_ROW_NAME)
		return "The new VM's name: 1 to 48 of A-Z a-z 0-9 . _ -, starting with a letter or "
		       "digit";
	return row->field ? row->field->help : "";
}

/* --- rows --------------------------------------------------------------------------- */

static int rows_push(struct gc_tui_row **rows, size_t *n, size_t *allocated, struct gc_tui_row row)
{
	if (*n == *allocated) {
		size_t grown = MAX(*allocated * 2, (size_t)64);
		struct gc_tui_row *p = realloc(*rows, grown * sizeof(**rows));

		if (!p)
			return -ENOMEM;
		*rows = p;
		*allocated = grown;
	}
	(*rows)[(*n)++] = row;
	return 0;
}

/* How many items a list field holds. */
static int list_count(const struct gc_vm_profile *p, const struct gc_vm_field *f, size_t *ret)
{
	size_t n = 0;

	for (;; n++) {
		_cleanup_free_ char *v = NULL;
		int r = gc_vm_profile_get(p, f, n, &v);

		if (r == -ENOENT)
			break;
		if (r < 0)
			return r;
	}
	*ret = n;
	return 0;
}

/* Builds the rows from the field table and the profile's lists. Keeps the focus index. */
static int rows_build(struct gc_tui_form *form)
{
	_cleanup_free_ struct gc_tui_row *rows = NULL;
	size_t n = 0, allocated = 0;
	const char *section = NULL;
	int r;

	for (size_t k = 0; k < gc_vm_n_fields; k++) {
		const struct gc_vm_field *f = &gc_vm_fields[k];
		size_t items = 0;

		if (!section || !streq(section, f->section)) {
			bool first = !section;

			section = f->section;
			r = rows_push(&rows, &n, &allocated,
				      (struct gc_tui_row){ .kind = GC_TUI_ROW_HEADING,
							   .section = section });
			if (r >= 0 && first && form->ask_name)
				r = rows_push(&rows, &n, &allocated,
					      (struct gc_tui_row){ .kind = GC_TUI_ROW_NAME,
								   .section = section });
			if (r < 0)
				return r;
		}
		if (f->kind != GC_VM_FIELD_LIST) {
			r = rows_push(&rows, &n, &allocated,
				      (struct gc_tui_row){ .kind = GC_TUI_ROW_FIELD,
							   .section = section,
							   .field = f });
			if (r < 0)
				return r;
			continue;
		}
		r = list_count(&form->profile, f, &items);
		for (size_t i = 0; r >= 0 && i < items; i++)
			r = rows_push(&rows, &n, &allocated,
				      (struct gc_tui_row){ .kind = GC_TUI_ROW_ITEM,
							   .section = section,
							   .field = f,
							   .item = i });
		if (r >= 0 && !field_is_readonly(f))
			r = rows_push(&rows, &n, &allocated,
				      (struct gc_tui_row){ .kind = GC_TUI_ROW_ADD,
							   .section = section,
							   .field = f });
		if (r < 0)
			return r;
	}
	free(form->rows);
	form->rows = TAKE_PTR(rows);
	form->n_rows = n;
	return 0;
}

static size_t find_row(const struct gc_tui_form *form, enum gc_tui_row_kind kind,
		       const struct gc_vm_field *field, size_t item)
{
	for (size_t i = 0; i < form->n_rows; i++) {
		const struct gc_tui_row *row = &form->rows[i];

		if (row->kind == kind && row->field == field &&
		    (kind != GC_TUI_ROW_ITEM || row->item == item))
			return i;
	}
	return form->n_rows;
}

static size_t first_focusable(const struct gc_tui_form *form)
{
	size_t i = 0;

	while (i < form->n_rows && !gc_tui_form_row_is_focusable(form, i))
		i++;
	return i;
}

/* Puts the focus on row i and loads its text. */
static int focus_set(struct gc_tui_form *form, size_t i)
{
	char *text = NULL;
	int r;

	if (!gc_tui_form_row_is_focusable(form, i))
		i = first_focusable(form);
	if (gc_tui_form_row_is_text(form, i)) {
		r = profile_value(form, i, &text);
		if (r < 0)
			return r;
	}
	free(form->text);
	form->text = text;
	form->cursor = text ? strlen(text) : 0;
	form->focus = i;
	return 0;
}

/* Rebuilds the rows after a list changed and focuses the row given, or the nearest. */
static int rows_rebuild(struct gc_tui_form *form, enum gc_tui_row_kind kind,
			const struct gc_vm_field *field, size_t item)
{
	size_t i;
	int r;

	r = rows_build(form);
	if (r < 0)
		return r;
	i = find_row(form, kind, field, item);
	if (i == form->n_rows && kind == GC_TUI_ROW_ITEM)
		i = find_row(form, GC_TUI_ROW_ADD, field, 0);
	return focus_set(form, i);
}

/* --- the profile -------------------------------------------------------------------- */

static char *to_ini(const struct gc_vm_profile *p)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);
	int r;

	if (!f)
		return NULL;
	r = gc_vm_profile_write(p, f);
	if (fclose(f) != 0 || r < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Whether a value, trimmed, is empty or "none": what clears a list, or drops an item. */
static bool value_clears(const char *v)
{
	size_t n;

	while (isspace((unsigned char)*v))
		v++;
	n = strlen(v);
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		n--;
	return n == 0 || (n == 4 && strneq(v, "none", 4));
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/*
 * Replaces item `index` of a list with `value`, or drops it when value is NULL, empty or
 * "none". The list is set again item by item, so every check of a new item (duplicates,
 * capacity) applies; if one fails, the old items are put back.
 */
static int list_replace(struct gc_tui_form *form, const struct gc_vm_field *f, size_t index,
			const char *value, char *err, size_t err_size)
{
	char **items = NULL, ignored[256];
	size_t n = 0;
	int r;

	r = list_count(&form->profile, f, &n);
	if (r < 0)
		return r;
	items = calloc(n + 1, sizeof(char *));
	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < n && r >= 0; i++)
		r = gc_vm_profile_get(&form->profile, f, i, &items[i]);
	if (r < 0) {
		strv_free(items);
		return r;
	}
	(void)gc_vm_profile_set(&form->profile, f, "none", ignored, sizeof(ignored));
	for (size_t i = 0; i < n && r >= 0; i++) {
		const char *v = i == index ? value : items[i];

		if (v && !value_clears(v))
			r = gc_vm_profile_set(&form->profile, f, v, err, err_size);
	}
	if (r < 0) {
		int k = 0;

		/* The old items were accepted before, so only memory can fail here. */
		(void)gc_vm_profile_set(&form->profile, f, "none", ignored, sizeof(ignored));
		for (size_t i = 0; i < n && k >= 0; i++)
			k = gc_vm_profile_set(&form->profile, f, items[i], ignored,
					      sizeof(ignored));
		if (k < 0)
			r = k;
	}
	strv_free(items);
	return r;
}

static int refuse(struct gc_tui_form *form, const char *message)
{
	char label[64];

	gc_tui_form_row_label(form, form->focus, label, sizeof(label));
	gc_tui_form_set_message(form, true, "%s: %s", label, message);
	return -EINVAL;
}

/*
 * Commits the focused text row to the profile. Returns 0; 1 when the row went away (an item
 * emptied) and the focus now rests on the row that followed it; -EINVAL when the value was
 * refused (message set, focus kept); -ENOMEM.
 */
static int commit(struct gc_tui_form *form)
{
	_cleanup_free_ char *old = NULL;
	const struct gc_tui_row *row;
	char err[512];
	int r;

	if (form->focus >= form->n_rows || !form->text)
		return 0;
	row = &form->rows[form->focus];
	r = profile_value(form, form->focus, &old);
	if (r < 0)
		return r;
	if (streq(old, form->text))
		return 0;

	switch (row->kind) {
	case GC_TUI_ROW_NAME: {
		char *name;

		if (!gc_vm_name_is_valid(form->text))
			return refuse(form,
				      isempty(form->text) ?
					      "the new VM needs a name" :
					      "invalid VM name (1 to 48 of A-Z a-z 0-9 . _ -, "
					      "starting with a letter or digit)");
		if (form->name_taken && form->name_taken(form->text, form->userdata)) {
			(void)snprintf(err, sizeof(err), "VM '%s' exists already", form->text);
			return refuse(form, err);
		}
		name = strdup(form->text);
		if (!name)
			return -ENOMEM;
		free(form->profile.name);
		form->profile.name = name;
		return 0;
	}
	case GC_TUI_ROW_FIELD:
		r = gc_vm_profile_set(&form->profile, row->field, form->text, err, sizeof(err));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return refuse(form, err);
		return focus_set(form, form->focus); /* the value as the profile writes it */
	case GC_TUI_ROW_ITEM: {
		const struct gc_vm_field *f = row->field;
		size_t item = row->item;
		bool dropped = value_clears(form->text);

		r = list_replace(form, f, item, form->text, err, sizeof(err));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return refuse(form, err);
		r = rows_rebuild(form, GC_TUI_ROW_ITEM, f, item);
		if (r < 0)
			return r;
		return dropped ? 1 : 0;
	}
	case GC_TUI_ROW_ADD: {
		const struct gc_vm_field *f = row->field;

		r = gc_vm_profile_set(&form->profile, f, form->text, err, sizeof(err));
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return refuse(form, err);
		return rows_rebuild(form, GC_TUI_ROW_ADD, f, 0);
	}
	case GC_TUI_ROW_HEADING:
		break;
	}
	return 0;
}

int gc_tui_form_move(struct gc_tui_form *form, int delta)
{
	int step = delta < 0 ? -1 : 1;
	int left = delta < 0 ? -delta : delta;
	size_t i;
	int r;

	r = commit(form);
	if (r < 0)
		return r;
	if (r > 0 && delta > 0)
		left--; /* the row went away: the focus already sits on the next one */
	i = form->focus;
	while (left > 0) {
		size_t j = i;

		do
			j += (size_t)step;
		while (j < form->n_rows && !gc_tui_form_row_is_focusable(form, j));
		if (j >= form->n_rows)
			break; /* also catches stepping up past row 0, which wraps */
		i = j;
		left--;
	}
	if (i == form->focus)
		return 0;
	return focus_set(form, i);
}

/* --- keys --------------------------------------------------------------------------- */

static bool is_printable(int key)
{
	return key >= 0x20 && key != 0x7f && !(key >= 0x80 && key < 0xa0) &&
	       !(key >= 0xd800 && key < 0xe000) && key < 0x110000;
}

static size_t utf8_encode(int c, char buf[static 4])
{
	unsigned u = (unsigned)c;

	if (u < 0x80) {
		buf[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		buf[0] = (char)(0xc0 | (u >> 6));
		buf[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		buf[0] = (char)(0xe0 | (u >> 12));
		buf[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		buf[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	buf[0] = (char)(0xf0 | (u >> 18));
	buf[1] = (char)(0x80 | ((u >> 12) & 0x3f));
	buf[2] = (char)(0x80 | ((u >> 6) & 0x3f));
	buf[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

static bool is_continuation(char c)
{
	return ((unsigned char)c & 0xc0) == 0x80;
}

static size_t char_before(const char *s, size_t at)
{
	if (at == 0)
		return 0;
	do
		at--;
	while (at > 0 && is_continuation(s[at]));
	return at;
}

static size_t char_after(const char *s, size_t at)
{
	if (s[at] == '\0')
		return at;
	do
		at++;
	while (s[at] != '\0' && is_continuation(s[at]));
	return at;
}

static int text_insert(struct gc_tui_form *form, int key)
{
	char utf8[4], *p;
	size_t n = utf8_encode(key, utf8), len = strlen(form->text);

	if (len + n > TEXT_MAX) {
		gc_tui_form_set_message(form, true, "The value is too long.");
		return 0;
	}
	p = realloc(form->text, len + n + 1);
	if (!p)
		return -ENOMEM;
	memmove(p + form->cursor + n, p + form->cursor, len - form->cursor + 1);
	memcpy(p + form->cursor, utf8, n);
	form->text = p;
	form->cursor += n;
	return 0;
}

/* Removes the bytes [from, to) of the text. */
static void text_cut(struct gc_tui_form *form, size_t from, size_t to)
{
	memmove(form->text + from, form->text + to, strlen(form->text + to) + 1);
	form->cursor = from;
}

/* Moves a CHOICE field `delta` choices on, wrapping; toggles a BOOL field. */
static int cycle(struct gc_tui_form *form, int delta)
{
	const struct gc_vm_field *f = form->rows[form->focus].field;
	_cleanup_free_ char *current = NULL;
	char choice[64], err[512];
	size_t n = 0, at = 0;
	int r;

	r = gc_vm_profile_get(&form->profile, f, 0, &current);
	if (r == -ENOMEM)
		return r;
	if (f->kind == GC_VM_FIELD_BOOL) {
		r = gc_vm_profile_set(&form->profile, f,
				      current && streq(current, "yes") ? "no" : "yes", err,
				      sizeof(err));
		return r == -ENOMEM ? r : 0;
	}
	for (; gc_tui_field_choice(f, n, choice, sizeof(choice)); n++)
		if (current && streq(choice, current))
			at = n;
	if (n == 0)
		return 0;
	at = (at + n + (size_t)(delta < 0 ? n - 1 : 1)) % n;
	if (!gc_tui_field_choice(f, at, choice, sizeof(choice)))
		return 0;
	r = gc_vm_profile_set(&form->profile, f, choice, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return refuse(form, err);
	return 0;
}

static int delete_item(struct gc_tui_form *form)
{
	const struct gc_tui_row *row = &form->rows[form->focus];
	const struct gc_vm_field *f = row->field;
	size_t item = row->item;
	char err[512];
	int r;

	r = list_replace(form, f, item, NULL, err, sizeof(err));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return refuse(form, err);
	return rows_rebuild(form, GC_TUI_ROW_ITEM, f, item);
}

static int action(int r, int done)
{
	return r == -ENOMEM ? r : done;
}

static int text_key(struct gc_tui_form *form, int key)
{
	switch (key) {
	case GC_TUI_KEY_LEFT:
		form->cursor = char_before(form->text, form->cursor);
		return 0;
	case GC_TUI_KEY_RIGHT:
		form->cursor = char_after(form->text, form->cursor);
		return 0;
	case GC_TUI_KEY_HOME:
		form->cursor = 0;
		return 0;
	case GC_TUI_KEY_END:
		form->cursor = strlen(form->text);
		return 0;
	case GC_TUI_KEY_BACKSPACE:
		text_cut(form, char_before(form->text, form->cursor), form->cursor);
		return 0;
	case GC_TUI_KEY_DELETE:
		text_cut(form, form->cursor, char_after(form->text, form->cursor));
		return 0;
	case GC_TUI_KEY_KILL:
		text_cut(form, 0, strlen(form->text));
		return 0;
	default:
		return is_printable(key) ? text_insert(form, key) : 0;
	}
}

int gc_tui_form_key(struct gc_tui_form *form, int key)
{
	const struct gc_tui_row *row = form->focus < form->n_rows ? &form->rows[form->focus] : NULL;
	bool choice =
		row && row->kind == GC_TUI_ROW_FIELD &&
		(row->field->kind == GC_VM_FIELD_CHOICE || row->field->kind == GC_VM_FIELD_BOOL);

	if (form->confirm_quit) {
		form->confirm_quit = false;
		form->message[0] = '\0';
		return key == 'y' || key == 'Y' ? GC_TUI_ACTION_QUIT : GC_TUI_ACTION_NONE;
	}
	form->message[0] = '\0';

	switch (key) {
	case GC_TUI_KEY_UP:
		return action(gc_tui_form_move(form, -1), GC_TUI_ACTION_NONE);
	case GC_TUI_KEY_DOWN:
		return action(gc_tui_form_move(form, 1), GC_TUI_ACTION_NONE);
	case GC_TUI_KEY_ENTER:
		if (row && row->kind == GC_TUI_ROW_ADD && form->text && !isempty(form->text))
			return action(commit(form), GC_TUI_ACTION_NONE);
		return action(gc_tui_form_move(form, 1), GC_TUI_ACTION_NONE);
	case GC_TUI_KEY_SAVE: {
		int r = gc_tui_form_prepare_save(form);

		return action(r, r < 0 ? GC_TUI_ACTION_NONE : GC_TUI_ACTION_SAVE);
	}
	case GC_TUI_KEY_QUIT:
		if (!gc_tui_form_is_changed(form))
			return GC_TUI_ACTION_QUIT;
		form->confirm_quit = true;
		gc_tui_form_set_message(form, false,
					"Quit without saving the changes? y: quit; any other key: "
					"go back (F2 saves)");
		return GC_TUI_ACTION_NONE;
	case GC_TUI_KEY_DELETE_ITEM:
		if (row && row->kind == GC_TUI_ROW_ITEM)
			return action(delete_item(form), GC_TUI_ACTION_NONE);
		return GC_TUI_ACTION_NONE;
	case GC_TUI_KEY_LEFT:
	case GC_TUI_KEY_RIGHT:
	case ' ':
		if (choice)
			return action(cycle(form, key == GC_TUI_KEY_LEFT ? -1 : 1),
				      GC_TUI_ACTION_NONE);
		break;
	default:
		break;
	}
	if (form->text)
		return action(text_key(form, key), GC_TUI_ACTION_NONE);
	return GC_TUI_ACTION_NONE;
}

/* --- life cycle and saving ---------------------------------------------------------- */

int gc_tui_form_prepare_save(struct gc_tui_form *form)
{
	char err[512];
	size_t name_row;
	int r;

	r = commit(form);
	if (r < 0)
		return r;
	name_row = find_row(form, GC_TUI_ROW_NAME, NULL, 0);
	if (form->creating && !gc_vm_name_is_valid(form->profile.name)) {
		if (name_row >= form->n_rows) {
			gc_tui_form_set_message(form, true, "Not saved: invalid VM name '%s'",
						form->profile.name);
			return -EINVAL;
		}
		r = focus_set(form, name_row);
		if (r < 0)
			return r;
		return refuse(form, "the new VM needs a name");
	}
	if (form->creating && form->name_taken &&
	    form->name_taken(form->profile.name, form->userdata)) {
		if (name_row < form->n_rows) {
			r = focus_set(form, name_row);
			if (r < 0)
				return r;
		}
		gc_tui_form_set_message(form, true, "Not saved: VM '%s' exists already",
					form->profile.name);
		return -EINVAL;
	}
	r = gc_vm_profile_validate(&form->profile, err, sizeof(err));
	if (r < 0) {
		gc_tui_form_set_message(form, true, "Not saved: %s", err);
		return -EINVAL;
	}
	r = gc_vm_profile_name_disks(&form->profile);
	if (r < 0)
		return r;
	return focus_set(form, form->focus); /* a disk row may show its new path */
}

int gc_tui_form_saved(struct gc_tui_form *form)
{
	char *ini = to_ini(&form->profile);
	const struct gc_tui_row *row;
	int r;

	if (!ini)
		return -ENOMEM;
	free(form->saved);
	form->saved = ini;
	form->creating = false;
	if (!form->ask_name)
		return 0;
	form->ask_name = false;
	row = form->focus < form->n_rows ? &form->rows[form->focus] : NULL;
	if (!row || row->kind == GC_TUI_ROW_NAME)
		r = rows_rebuild(form, GC_TUI_ROW_HEADING, NULL, 0);
	else
		r = rows_rebuild(form, row->kind, row->field, row->item);
	return r;
}

bool gc_tui_form_is_changed(const struct gc_tui_form *form)
{
	_cleanup_free_ char *ini = NULL;

	if (form->text) {
		_cleanup_free_ char *old = NULL;

		if (profile_value(form, form->focus, &old) < 0 || !streq(old, form->text))
			return true;
	}
	ini = to_ini(&form->profile);
	return !ini || !streq(ini, form->saved);
}

struct gc_tui_form *gc_tui_form_free(struct gc_tui_form *form)
{
	if (!form)
		return NULL;
	gc_vm_profile_done(&form->profile);
	free(form->rows);
	free(form->text);
	free(form->saved);
	free(form);
	return NULL;
}

int gc_tui_form_new(struct gc_vm_profile *profile, bool ask_name, bool creating,
		    struct gc_tui_form **ret_form)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = NULL;
	int r;

	form = calloc(1, sizeof(*form));
	if (!form)
		return -ENOMEM;
	form->ask_name = ask_name;
	form->creating = creating;
	form->saved = to_ini(profile);
	if (!form->saved)
		return -ENOMEM;
	/* Borrow the profile until nothing can fail, so that failure leaves it the caller's. */
	form->profile = *profile;
	r = rows_build(form);
	if (r >= 0)
		r = focus_set(form, first_focusable(form));
	if (r < 0) {
		form->profile = (struct gc_vm_profile){ 0 };
		return r;
	}
	*profile = (struct gc_vm_profile){ 0 };
	*ret_form = TAKE_PTR(form);
	return 0;
}
