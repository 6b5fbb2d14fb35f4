/* SPDX-License-Identifier: MIT */
/* The form of `vm tui` without a terminal: rows from the field table, keys, checks, saving. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "common/string-util.h"
#include "common/tests.h"
#include "vm/profile.h"
#include "vm/tui_form.h"

static struct gc_tui_form *form_new(const char *name, const char *template)
{
	struct gc_tui_form *form = NULL;
	struct gc_vm_profile p;

	ASSERT_OK(gc_vm_profile_init(&p, name ? name : ""));
	if (template)
		ASSERT_OK(gc_vm_profile_apply_template(&p, template, "/srv/testbed"));
	ASSERT_OK(gc_tui_form_new(&p, !name, true, &form));
	ASSERT_NULL(p.name); /* taken over */
	return form;
}

static const char *focus_label(const struct gc_tui_form *form)
{
	static char label[64];

	gc_tui_form_row_label(form, form->focus, label, sizeof(label));
	return label;
}

static void key(struct gc_tui_form *form, int k)
{
	ASSERT_EQ(gc_tui_form_key(form, k), GC_TUI_ACTION_NONE);
}

static void type(struct gc_tui_form *form, const char *s)
{
	for (; *s; s++)
		key(form, (unsigned char)*s);
}

/* Moves the focus to the row labelled `label`, as a user would: with Up and Down. */
static void focus_on(struct gc_tui_form *form, const char *label)
{
	size_t before;

	do {
		before = form->focus;
		key(form, GC_TUI_KEY_UP);
	} while (form->focus != before);
	while (!streq(focus_label(form), label)) {
		before = form->focus;
		key(form, GC_TUI_KEY_DOWN);
		if (form->focus == before) {
			fprintf(stderr, "no row '%s' (stuck at '%s': %s)\n", label,
				focus_label(form), form->message);
			ASSERT_NE(form->focus, before);
		}
	}
}

/* Replaces the focused row's text and leaves the row downwards. */
static void enter_value(struct gc_tui_form *form, const char *value)
{
	key(form, GC_TUI_KEY_KILL);
	type(form, value);
	key(form, GC_TUI_KEY_DOWN);
}

static char *get(const struct gc_tui_form *form, const char *option, size_t i)
{
	char *v = NULL;

	if (gc_vm_profile_get(&form->profile, gc_vm_field_by_option(option), i, &v) < 0)
		return NULL;
	return v;
}

TEST(rows_follow_the_field_table)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = form_new("box", "dev");
	const char *section = NULL;
	size_t headings = 0, sections = 0;

	/* Every field has its rows, in table order, under the heading of its section. */
	for (size_t k = 0; k < gc_vm_n_fields; k++) {
		const struct gc_vm_field *f = &gc_vm_fields[k];
		bool found = false;

		if (!section || !streq(section, f->section))
			sections++;
		section = f->section;
		for (size_t i = 0; i < form->n_rows; i++) {
			if (form->rows[i].field != f)
				continue;
			found = true;
			ASSERT_STREQ(form->rows[i].section, f->section);
			if (f->kind == GC_VM_FIELD_LIST)
				ASSERT_NE(form->rows[i].kind, GC_TUI_ROW_FIELD);
			else
				ASSERT_EQ(form->rows[i].kind, GC_TUI_ROW_FIELD);
			ASSERT_EQ(gc_tui_form_row_is_focusable(form, i), f->option != NULL);
		}
		if (!found)
			fprintf(stderr, "field %s.%s has no row\n", f->section, f->key);
		ASSERT_TRUE(found);
	}
	for (size_t i = 0; i < form->n_rows; i++) {
		char label[64];

		if (form->rows[i].kind != GC_TUI_ROW_HEADING)
			continue;
		headings++;
		gc_tui_form_row_label(form, i, label, sizeof(label));
		ASSERT_EQ(label[0], '[');
		ASSERT_FALSE(gc_tui_form_row_is_focusable(form, i));
		ASSERT_TRUE(i + 1 < form->n_rows);
		ASSERT_STREQ(form->rows[i + 1].section, form->rows[i].section);
	}
	ASSERT_EQ(headings, sections);
	ASSERT_EQ(form->rows[0].kind, GC_TUI_ROW_HEADING);

	/* A list shows its items, then an add row; the template has one disk. */
	focus_on(form, "disk 1");
	ASSERT_STREQ(form->text, "path=disk0.qcow2,size=64G,bus=virtio,format=qcow2");
	key(form, GC_TUI_KEY_DOWN);
	ASSERT_STREQ(focus_label(form), "add disk");
	ASSERT_STREQ(form->text, "");
	ASSERT_STREQ(gc_tui_form_help(form), gc_vm_field_by_option("disk")->help);
	ASSERT_FALSE(gc_tui_form_is_changed(form));
}

TEST(focus_skips_headings_and_read_only_rows)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = form_new("box", "dev");
	size_t top;

	ASSERT_STREQ(focus_label(form), "description");
	top = form->focus;
	key(form, GC_TUI_KEY_UP);
	ASSERT_EQ(form->focus, top);
	key(form, GC_TUI_KEY_DOWN);
	ASSERT_STREQ(focus_label(form), "machine"); /* not the template, read-only */
	key(form, GC_TUI_KEY_ENTER);
	ASSERT_STREQ(focus_label(form), "cpu"); /* over the [cpu] heading */
	ASSERT_OK(gc_tui_form_move(form, 1000));
	ASSERT_STREQ(focus_label(form), "add usb");
	ASSERT_OK(gc_tui_form_move(form, -1000));
	ASSERT_EQ(form->focus, top);
}

TEST(a_value_is_checked_when_leaving_its_row)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = form_new("box", "dev");
	size_t row;

	focus_on(form, "memory");
	ASSERT_STREQ(form->text, "8G");
	enter_value(form, "16384m");
	ASSERT_STREQ(form->message, "");
	ASSERT_EQ(form->profile.memory, 16ull << 30);
	key(form, GC_TUI_KEY_UP);
	ASSERT_STREQ(form->text, "16G"); /* as the profile writes it */

	/* Refused: the message of gc_vm_profile_set(), and the focus stays. */
	row = form->focus;
	enter_value(form, "12Q");
	ASSERT_EQ(form->focus, row);
	ASSERT_TRUE(form->message_is_error);
	ASSERT_STREQ(form->message, "memory: invalid size '12Q' (16M to 16T, whole MiB)");
	ASSERT_EQ(form->profile.memory, 16ull << 30);
	ASSERT_TRUE(gc_tui_form_is_changed(form));
	key(form, GC_TUI_KEY_ENTER);
	ASSERT_EQ(form->focus, row);
	/* Saving checks the focused row first. */
	ASSERT_EQ(gc_tui_form_key(form, GC_TUI_KEY_SAVE), GC_TUI_ACTION_NONE);
	ASSERT_STREQ(form->message, "memory: invalid size '12Q' (16M to 16T, whole MiB)");

	enter_value(form, "4G");
	ASSERT_STREQ(form->message, "");
	ASSERT_STREQ(focus_label(form), "hugepages");
	ASSERT_EQ(form->profile.memory, 4ull << 30);

	focus_on(form, "cores");
	enter_value(form, "0");
	ASSERT_STREQ(form->message, "cores: invalid count '0' (1 to 512)");
	enter_value(form, "6");
	ASSERT_EQ(form->profile.cores, 6u);

	/* An optional text emptied is unset. */
	focus_on(form, "pin");
	enter_value(form, "2-5");
	ASSERT_STREQ(form->profile.cpu_pin, "2-5");
	focus_on(form, "pin");
	enter_value(form, "");
	ASSERT_NULL(form->profile.cpu_pin);
}

TEST(choices_cycle_and_booleans_toggle)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = form_new("box", "dev");
	char buf[32];

	ASSERT_TRUE(gc_tui_field_choice(gc_vm_field_by_option("display"), 5, buf, sizeof(buf)));
	ASSERT_STREQ(buf, "vnc");
	ASSERT_FALSE(gc_tui_field_choice(gc_vm_field_by_option("display"), 6, buf, sizeof(buf)));
	ASSERT_FALSE(gc_tui_form_row_is_text(form, form->focus + 1));

	focus_on(form, "display");
	ASSERT_NULL(form->text);
	key(form, GC_TUI_KEY_RIGHT);
	ASSERT_EQ(form->profile.display, GC_VM_DISPLAY_NONE);
	key(form, GC_TUI_KEY_LEFT);
	key(form, GC_TUI_KEY_LEFT); /* wraps */
	ASSERT_EQ(form->profile.display, GC_VM_DISPLAY_VNC);
	key(form, ' ');
	ASSERT_EQ(form->profile.display, GC_VM_DISPLAY_AUTO);
	key(form, 'x'); /* no text here */
	ASSERT_EQ(form->profile.display, GC_VM_DISPLAY_AUTO);

	focus_on(form, "machine");
	key(form, ' ');
	ASSERT_STREQ(form->profile.machine, "pc");
	focus_on(form, "hugepages");
	key(form, ' ');
	ASSERT_TRUE(form->profile.hugepages);
	key(form, GC_TUI_KEY_RIGHT);
	ASSERT_FALSE(form->profile.hugepages);
	ASSERT_TRUE(gc_tui_form_is_changed(form)); /* the machine */
}

TEST(list_items_are_added_edited_and_deleted)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = form_new("box", "dev");
	_cleanup_free_ char *v = NULL;
	size_t rows = 0;

	focus_on(form, "add pci");
	rows = form->n_rows;
	type(form, "01:00.0");
	key(form, GC_TUI_KEY_ENTER); /* adds, and stays for the next */
	ASSERT_STREQ(form->message, "");
	ASSERT_STREQ(focus_label(form), "add pci");
	ASSERT_STREQ(form->text, "");
	ASSERT_EQ(form->n_rows, rows + 1);
	type(form, "0000:01:00.1");
	key(form, GC_TUI_KEY_DOWN); /* adds and moves on */
	ASSERT_STREQ(focus_label(form), "add usb");
	ASSERT_EQ(form->profile.n_pci, 2u);
	ASSERT_STREQ(form->profile.pci[1], "0000:01:00.1");

	/* Refused: the item stays in its row with its message; the list is unchanged. */
	focus_on(form, "add pci");
	type(form, "01:00.1");
	key(form, GC_TUI_KEY_ENTER);
	ASSERT_STREQ(form->message, "add pci: PCI device 0000:01:00.1 given twice");
	ASSERT_STREQ(focus_label(form), "add pci");
	ASSERT_EQ(form->profile.n_pci, 2u);
	key(form, GC_TUI_KEY_KILL);

	/* Edited in place: checked like a new item, duplicates included. */
	focus_on(form, "pci 1");
	ASSERT_STREQ(form->text, "0000:01:00.0");
	enter_value(form, "01:00.1");
	ASSERT_STREQ(form->message, "pci 1: PCI device 0000:01:00.1 given twice");
	ASSERT_STREQ(form->profile.pci[0], "0000:01:00.0");
	enter_value(form, "zz");
	ASSERT_STREQ(form->message,
		     "pci 1: invalid PCI address 'zz' (expected 01:00.0 or 0000:01:00.0)");
	enter_value(form, "02:00.0");
	ASSERT_STREQ(form->message, "");
	ASSERT_STREQ(focus_label(form), "pci 2");
	ASSERT_STREQ(form->profile.pci[0], "0000:02:00.0");
	ASSERT_STREQ(form->profile.pci[1], "0000:01:00.1");

	/* Deleted with F8, or by emptying it; the focus goes to the row that followed. */
	key(form, GC_TUI_KEY_DELETE_ITEM);
	ASSERT_EQ(form->profile.n_pci, 1u);
	ASSERT_STREQ(focus_label(form), "add pci");
	focus_on(form, "pci 1");
	key(form, GC_TUI_KEY_KILL);
	key(form, GC_TUI_KEY_DOWN);
	ASSERT_EQ(form->profile.n_pci, 0u);
	ASSERT_STREQ(focus_label(form), "add pci");
	ASSERT_EQ(form->n_rows, rows);

	/* A share; "none" in an add row clears the list, as on the command line. */
	focus_on(form, "add share");
	type(form, "/srv/data");
	key(form, GC_TUI_KEY_ENTER);
	v = get(form, "share", 0);
	ASSERT_STREQ(v, "path=/srv/data,tag=data,type=9p");
	focus_on(form, "add disk");
	type(form, "none");
	key(form, GC_TUI_KEY_ENTER);
	ASSERT_EQ(form->profile.n_disks, 0u);
	ASSERT_STREQ(focus_label(form), "add disk");
}

static bool taken(const char *name, void *userdata)
{
	return streq(name, userdata);
}

TEST(saving_checks_the_name_and_the_whole_profile)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = form_new(NULL, NULL);
	_cleanup_free_ char *ini = NULL;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	form->name_taken = taken;
	form->userdata = (void *)"old";
	ASSERT_STREQ(focus_label(form), "name");
	ASSERT_STREQ(form->text, "");

	ASSERT_EQ(gc_tui_form_key(form, GC_TUI_KEY_SAVE), GC_TUI_ACTION_NONE);
	ASSERT_STREQ(form->message, "name: the new VM needs a name");
	enter_value(form, "../x");
	ASSERT_STREQ(form->message, "name: invalid VM name (1 to 48 of A-Z a-z 0-9 . _ -, "
				    "starting with a letter or digit)");
	enter_value(form, "old");
	ASSERT_STREQ(form->message, "name: VM 'old' exists already");
	enter_value(form, "new");
	ASSERT_STREQ(form->profile.name, "new");

	/* The whole profile is checked: this one has nothing to boot. */
	ASSERT_EQ(gc_tui_form_key(form, GC_TUI_KEY_SAVE), GC_TUI_ACTION_NONE);
	ASSERT_STREQ(form->message,
		     "Not saved: nothing to boot: add a --disk, an --iso or a --kernel");
	focus_on(form, "add disk");
	type(form, "8G");
	ASSERT_EQ(gc_tui_form_key(form, GC_TUI_KEY_SAVE), GC_TUI_ACTION_SAVE);
	ASSERT_STREQ(form->profile.disks[0].path, "disk0.qcow2"); /* named for saving */
	ASSERT_STREQ(focus_label(form), "add disk");

	/* Saved: the name is fixed, and nothing is changed any more. */
	ASSERT_TRUE(gc_tui_form_is_changed(form));
	ASSERT_OK(gc_tui_form_saved(form));
	ASSERT_FALSE(gc_tui_form_is_changed(form));
	ASSERT_FALSE(form->creating);
	ASSERT_STREQ(focus_label(form), "add disk");
	for (size_t i = 0; i < form->n_rows; i++)
		ASSERT_NE(form->rows[i].kind, GC_TUI_ROW_NAME);

	/* What gets saved is the profile, every field set through the form. */
	f = open_memstream(&buf, &size);
	ASSERT_NOT_NULL(f);
	ASSERT_OK(gc_vm_profile_write(&form->profile, f));
	ASSERT_OK(fclose(f));
	ini = buf;
	ASSERT_NOT_NULL(strstr(ini, "# ghostctl VM profile 'new'."));
	ASSERT_NOT_NULL(strstr(ini, "\ndisk = path=disk0.qcow2,size=8G,bus=virtio,format=qcow2\n"));
}

TEST(quitting_asks_only_when_something_changed)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = form_new("box", "server");

	ASSERT_EQ(gc_tui_form_key(form, GC_TUI_KEY_QUIT), GC_TUI_ACTION_QUIT);

	/* Typed but not yet left counts as a change. */
	type(form, "!");
	ASSERT_TRUE(gc_tui_form_is_changed(form));
	ASSERT_EQ(gc_tui_form_key(form, GC_TUI_KEY_QUIT), GC_TUI_ACTION_NONE);
	ASSERT_TRUE(form->confirm_quit);
	ASSERT_NOT_NULL(strstr(form->message, "Quit without saving"));
	ASSERT_EQ(gc_tui_form_key(form, 'n'), GC_TUI_ACTION_NONE); /* the answer, not text */
	ASSERT_STREQ(form->text, "Headless server!");
	ASSERT_STREQ(form->message, "");
	ASSERT_EQ(gc_tui_form_key(form, GC_TUI_KEY_QUIT), GC_TUI_ACTION_NONE);
	ASSERT_EQ(gc_tui_form_key(form, 'y'), GC_TUI_ACTION_QUIT);

	/* Changed back to what was loaded: nothing to lose. */
	key(form, GC_TUI_KEY_BACKSPACE);
	focus_on(form, "display");
	key(form, GC_TUI_KEY_RIGHT);
	ASSERT_TRUE(gc_tui_form_is_changed(form));
	key(form, GC_TUI_KEY_LEFT);
	ASSERT_FALSE(gc_tui_form_is_changed(form));
	ASSERT_EQ(gc_tui_form_key(form, GC_TUI_KEY_QUIT), GC_TUI_ACTION_QUIT);
}

TEST(text_editing_moves_by_characters)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = form_new("box", "dev");

	key(form, GC_TUI_KEY_KILL);
	ASSERT_STREQ(form->text, "");
	key(form, 'h');
	key(form, 0xe9); /* é: two bytes in UTF-8 */
	key(form, 0x1f600);
	key(form, 'x');
	ASSERT_STREQ(form->text, "h\xc3\xa9\xf0\x9f\x98\x80x");
	key(form, GC_TUI_KEY_LEFT);
	key(form, GC_TUI_KEY_LEFT);
	key(form, GC_TUI_KEY_BACKSPACE);
	ASSERT_STREQ(form->text, "h\xf0\x9f\x98\x80x");
	ASSERT_EQ(form->cursor, 1u);
	key(form, GC_TUI_KEY_DELETE);
	ASSERT_STREQ(form->text, "hx");
	key(form, GC_TUI_KEY_HOME);
	key(form, 'a');
	key(form, GC_TUI_KEY_END);
	key(form, 'z');
	key(form, 0x07); /* a control character is not text */
	ASSERT_STREQ(form->text, "ahxz");
	key(form, GC_TUI_KEY_DOWN);
	ASSERT_STREQ(form->profile.description, "ahxz");
}

DEFINE_TEST_MAIN();
