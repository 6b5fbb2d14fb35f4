/* SPDX-License-Identifier: MIT */
/*
 * The form of `ghostctl vm tui`, without the terminal: rows, focus, the text being typed,
 * the status message, and the profile the form edits. It draws nothing and reads no input;
 * tui.c draws it with curses and feeds it keys, and the unit test feeds it keys directly.
 *
 * The rows come from gc_vm_fields[]: a heading per section, then a row per scalar field, and
 * for a list field a row per item and an "add" row, so a field added to the table appears in
 * the form with no change here. Fields without a command-line option (vm.template) are shown
 * read-only and never take the focus.
 *
 * Text rows (TEXT, NUMBER and SIZE fields, list items, the add row, the VM's name) are edited
 * in place. Leaving a row, or saving, commits it through gc_vm_profile_set(); a value it
 * refuses keeps the focus and puts "LABEL: MESSAGE" in the status message. BOOL and CHOICE
 * rows change the profile at once. The profile therefore only ever holds accepted values,
 * and the focused row is the only one whose text can differ from it.
 *
 * Not thread-safe; one form per thread.
 */
#ifndef GC_VM_TUI_FORM_H
#define GC_VM_TUI_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"
#include "profile.h"

enum gc_tui_row_kind {
	GC_TUI_ROW_HEADING, /* a section's "[name]"; never focused */
	GC_TUI_ROW_NAME,    /* the VM's name, only while a new VM has none */
	GC_TUI_ROW_FIELD,   /* a scalar field */
	GC_TUI_ROW_ITEM,    /* item `item` of a list field */
	GC_TUI_ROW_ADD,	    /* the input that adds an item to a list field */
};

struct gc_tui_row {
	enum gc_tui_row_kind kind;
	const char *section;		 /* every kind: the section it sits in */
	const struct gc_vm_field *field; /* FIELD, ITEM, ADD; NULL otherwise */
	size_t item;			 /* ITEM: the index in the list */
};

/*
 * Keys the form understands: a printable Unicode code point (inserted into a text row), or
 * one of these, above the Unicode range. tui.c maps curses keys onto them.
 */
enum {
	GC_TUI_KEY_UP = 0x200000,
	GC_TUI_KEY_DOWN,	/* and Tab */
	GC_TUI_KEY_ENTER,	/* commit and go down; on an add row: add and stay */
	GC_TUI_KEY_LEFT,	/* cursor, or the previous choice */
	GC_TUI_KEY_RIGHT,	/* cursor, or the next choice */
	GC_TUI_KEY_HOME,	/* cursor to the start */
	GC_TUI_KEY_END,		/* cursor to the end */
	GC_TUI_KEY_BACKSPACE,	/* delete before the cursor */
	GC_TUI_KEY_DELETE,	/* delete under the cursor */
	GC_TUI_KEY_KILL,	/* clear the text */
	GC_TUI_KEY_DELETE_ITEM, /* remove the focused list item */
	GC_TUI_KEY_SAVE,
	GC_TUI_KEY_QUIT,
};

/* What gc_tui_form_key() asks of its caller. */
enum gc_tui_action {
	GC_TUI_ACTION_NONE,
	GC_TUI_ACTION_SAVE, /* the profile is committed, valid and ready for gc_vm_save() */
	GC_TUI_ACTION_QUIT, /* nothing unsaved, or the user agreed to lose it */
};

struct gc_tui_form {
	struct gc_vm_profile profile; /* the accepted values; owned */
	bool ask_name;		      /* the name is a row of the form */
	bool creating;		      /* not saved yet: the name must not be taken */
	/* Whether a new VM may not take this name (it exists); NULL: any name will do. */
	bool (*name_taken)(const char *name, void *userdata);
	void *userdata;

	struct gc_tui_row *rows;
	size_t n_rows;
	size_t focus; /* a focusable row, or n_rows when there is none */

	char *text;    /* the focused text row's text, as typed; NULL for other rows */
	size_t cursor; /* byte offset into text, on a UTF-8 boundary */

	char message[640]; /* the status line; "" for none */
	bool message_is_error;
	bool confirm_quit; /* the next key answers "discard the changes?" */

	char *saved; /* the profile as INI when loaded or last saved, to tell changes */
};

/*
 * Makes a form over `profile`, which it takes over on success (the caller's struct is then
 * zeroed and needs no gc_vm_profile_done()); on failure the caller still owns it. With
 * ask_name the form starts on a name row; `creating` says the profile is not saved yet.
 * Returns 0 or -ENOMEM.
 */
int gc_tui_form_new(struct gc_vm_profile *profile, bool ask_name, bool creating,
		    struct gc_tui_form **ret_form);
/* Frees the form and its profile. Accepts NULL; returns NULL. */
struct gc_tui_form *gc_tui_form_free(struct gc_tui_form *form);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct gc_tui_form *, gc_tui_form_free);

/* Whether row i can take the focus: not a heading, not a read-only field. */
bool gc_tui_form_row_is_focusable(const struct gc_tui_form *form, size_t i);
/* Whether row i is edited as text (so the view shows a cursor there). */
bool gc_tui_form_row_is_text(const struct gc_tui_form *form, size_t i);

/* The label of row i: the option ("memory"), "disk 2", "add disk", "name", or "[cpu]". */
void gc_tui_form_row_label(const struct gc_tui_form *form, size_t i, char *buf, size_t size);

/*
 * The text of row i, in a buffer the caller frees: what is being typed for the focused row,
 * the profile's value otherwise, "" for an unset field or an add row. -ENOMEM.
 */
int gc_tui_form_row_value(const struct gc_tui_form *form, size_t i, char **ret);

/* Choice i of a CHOICE field ("q35|pc": 0 is "q35") into buf; false when there is none. */
bool gc_tui_field_choice(const struct gc_vm_field *field, size_t i, char *buf, size_t size);

/* The focused field's help text; "" when none. Valid until the focus moves. */
const char *gc_tui_form_help(const struct gc_tui_form *form);

/*
 * Handles one key (a code point or GC_TUI_KEY_*). Returns an enum gc_tui_action, or
 * -ENOMEM. Refused values and other news land in form->message.
 */
int gc_tui_form_key(struct gc_tui_form *form, int key);

/*
 * Commits the focused row, then moves the focus `delta` focusable rows down (up when
 * negative), stopping at the ends. Returns 0; -EINVAL when the value was refused (the
 * focus stays and form->message says why); -ENOMEM.
 */
int gc_tui_form_move(struct gc_tui_form *form, int delta);

/*
 * Commits the focused row and checks the whole profile (its name too, when creating), then
 * names the disks that have no path. Returns 0 when the profile can be saved; -EINVAL with
 * the reason in form->message; -ENOMEM.
 */
int gc_tui_form_prepare_save(struct gc_tui_form *form);

/* Records that the profile was saved: no more changes, and the name is now fixed. */
int gc_tui_form_saved(struct gc_tui_form *form);

/* Whether anything differs from what was loaded or last saved, typed text included. */
bool gc_tui_form_is_changed(const struct gc_tui_form *form);

/* Sets the status message. */
void gc_tui_form_set_message(struct gc_tui_form *form, bool is_error, const char *format, ...)
	_printf_(3, 4);

#endif
