/* SPDX-License-Identifier: MIT */
/*
 * `ghostctl vm tui`: draws the form of tui_form.c with curses and feeds it keys.
 *
 * The screen: a title line, the rows of the form (scrolled to keep the focus in view), the
 * focused field's help, a status line for messages and errors, and a line of keys. Only this
 * file knows about curses; what a key does is decided by the form.
 */
#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "profile.h"
#include "settings.h"
#include "store.h"
#include "tui.h"
#include "tui_form.h"

#define LABEL_COL 2
#define LABEL_WIDTH 16
#define VALUE_COL (LABEL_COL + LABEL_WIDTH + 1)
#define MIN_LINES 8
#define MIN_COLS 40
/* Lines that are not rows: title, help, status, keys. */
#define CHROME_LINES 4

#define KEY_CTRL(c) ((c)&0x1f)

enum {
	PAIR_TITLE = 1,
	PAIR_HEADING,
	PAIR_ERROR,
	PAIR_FOCUS,
	PAIR_DIM,
};

struct view {
	struct gc_tui_form *form;
	const struct gc_settings *settings;
	size_t top; /* the first row on screen */
	bool color;
};

static attr_t attr(const struct view *v, int pair, attr_t plain)
{
	return v->color ? (attr_t)COLOR_PAIR(pair) | (plain & A_BOLD) : plain;
}

/* The width on screen of one character at s (n bytes long, set in *ret_len); 1 if invalid. */
static int char_width(const char *s, size_t *ret_len)
{
	mbstate_t state = { 0 };
	wchar_t wc;
	size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &state);
	int w;

	if (n == 0 || n == (size_t)-1 || n == (size_t)-2) {
		*ret_len = 1;
		return 1;
	}
	*ret_len = n;
	w = wcwidth(wc);
	return w < 0 ? 1 : w;
}

/* Columns of the first `bytes` bytes of s. */
static int text_width(const char *s, size_t bytes)
{
	int cols = 0;

	for (size_t i = 0; i < bytes && s[i] != '\0';) {
		size_t len;

		cols += char_width(s + i, &len);
		i += len;
	}
	return cols;
}

/*
 * Draws s at (y, x), skipping its first `skip` columns and drawing at most `width`. Bytes
 * that do not decode in the locale show as '?'. Returns the columns drawn.
 */
static int draw_text(int y, int x, const char *s, int skip, int width)
{
	int col = 0, drawn = 0;

	for (size_t i = 0; s[i] != '\0';) {
		size_t len;
		int w = char_width(s + i, &len);

		if (col >= skip) {
			if (drawn + w > width)
				break;
			if ((unsigned char)s[i] < 0x20 || (len == 1 && (unsigned char)s[i] >= 0x80))
				mvaddch(y, x + drawn, '?');
			else
				mvaddnstr(y, x + drawn, s + i, (int)len);
			drawn += w;
		}
		col += w;
		i += len;
	}
	return drawn;
}

static void fill_line(int y, attr_t a)
{
	attron(a);
	mvhline(y, 0, ' ', COLS);
	attroff(a);
}

static void draw_title(const struct view *v)
{
	const struct gc_tui_form *form = v->form;
	const char *name = isempty(form->profile.name) ? "(new VM)" : form->profile.name;
	char title[256], right[64];
	attr_t a = attr(v, PAIR_TITLE, A_REVERSE);

	(void)snprintf(title, sizeof(title), " ghostctl vm tui: %s%s", name,
		       form->creating ? " (new)" : "");
	(void)snprintf(right, sizeof(right), "%s ",
		       gc_tui_form_is_changed(form) ? "[modified]" : "");
	fill_line(0, a);
	attron(a | A_BOLD);
	draw_text(0, 0, title, 0, COLS);
	if ((int)(strlen(title) + strlen(right)) < COLS)
		draw_text(0, COLS - (int)strlen(right), right, 0, (int)strlen(right));
	attroff(a | A_BOLD);
}

/* Every choice, the current one bracketed; only "< current >" when they do not all fit. */
static void draw_choices(const struct view *v, int y, const struct gc_vm_field *f,
			 const char *current, bool focused, int width)
{
	attr_t on = focused ? attr(v, PAIR_FOCUS, A_REVERSE) : A_BOLD;
	char choice[64], item[80];
	int x = VALUE_COL, total = 0;
	size_t n = 0;

	for (; gc_tui_field_choice(f, n, choice, sizeof(choice)); n++)
		total += (int)strlen(choice) + 3;
	if (total > width) {
		(void)snprintf(item, sizeof(item), "< %s >", current);
		attron(on);
		draw_text(y, x, item, 0, width);
		attroff(on);
		return;
	}
	for (size_t i = 0; i < n && gc_tui_field_choice(f, i, choice, sizeof(choice)); i++) {
		bool is = streq(choice, current);

		(void)snprintf(item, sizeof(item), "%s%s%s", is ? "[" : " ", choice,
			       is ? "]" : " ");
		attron(is ? on : A_NORMAL);
		x += draw_text(y, x, item, 0, width - (x - VALUE_COL)) + 1;
		attroff(is ? on : A_NORMAL);
	}
}

/*
 * Draws row i on screen line y. For the focused text row, returns in *ret_cursor_x the
 * column where the cursor goes; -1 otherwise.
 */
static int draw_row(const struct view *v, size_t i, int y, int *ret_cursor_x)
{
	const struct gc_tui_form *form = v->form;
	const struct gc_tui_row *row = &form->rows[i];
	_cleanup_free_ char *value = NULL;
	bool focused = i == form->focus;
	int width = COLS - VALUE_COL - 1;
	char label[64];
	int r;

	*ret_cursor_x = -1;
	gc_tui_form_row_label(form, i, label, sizeof(label));
	if (row->kind == GC_TUI_ROW_HEADING) {
		attr_t a = attr(v, PAIR_HEADING, A_BOLD) | A_BOLD;

		attron(a);
		draw_text(y, 0, label, 0, COLS);
		attroff(a);
		return 0;
	}
	r = gc_tui_form_row_value(form, i, &value);
	if (r < 0)
		return r;
	if (focused)
		mvaddch(y, 0, '>');
	attron(focused ? A_BOLD : A_NORMAL);
	draw_text(y, LABEL_COL, label, 0, LABEL_WIDTH);
	attroff(focused ? A_BOLD : A_NORMAL);
	if (width < 4)
		return 0;

	if (!gc_tui_form_row_is_focusable(form, i)) {
		attr_t a = attr(v, PAIR_DIM, A_DIM);

		attron(a);
		draw_text(y, VALUE_COL, isempty(value) ? "-" : value, 0, width);
		attroff(a);
	} else if (gc_tui_form_row_is_text(form, i)) {
		int cursor = focused ? text_width(form->text, form->cursor) : 0;
		int skip = cursor >= width ? cursor - width + 1 : 0;

		if (focused) {
			attr_t a = attr(v, PAIR_FOCUS, A_REVERSE);

			attron(a);
			mvhline(y, VALUE_COL, ' ', width);
			draw_text(y, VALUE_COL, value, skip, width);
			attroff(a);
			*ret_cursor_x = VALUE_COL + cursor - skip;
		} else if (row->kind == GC_TUI_ROW_ADD) {
			attr_t a = attr(v, PAIR_DIM, A_DIM);

			attron(a);
			draw_text(y, VALUE_COL, "(type a new item here; Enter adds it)", 0, width);
			attroff(a);
		} else if (text_width(value, strlen(value)) > width) {
			draw_text(y, VALUE_COL, value, 0, width - 1);
			mvaddch(y, VALUE_COL + width - 1, '>');
		} else
			draw_text(y, VALUE_COL, value, 0, width);
	} else if (row->field->kind == GC_VM_FIELD_BOOL) {
		attr_t a = focused ? attr(v, PAIR_FOCUS, A_REVERSE) : A_NORMAL;

		attron(a);
		draw_text(y, VALUE_COL, streq(value, "yes") ? "[x] yes" : "[ ] no", 0, width);
		attroff(a);
	} else
		draw_choices(v, y, row->field, value, focused, width);
	return 0;
}

/* Keeps the focus in view, with its section's heading when it is the section's first row. */
static void scroll_to_focus(struct view *v, size_t body)
{
	const struct gc_tui_form *form = v->form;
	size_t want = form->focus;

	if (want >= form->n_rows)
		want = 0;
	if (want > 0 && form->rows[want - 1].kind == GC_TUI_ROW_HEADING)
		want--;
	if (want < v->top)
		v->top = want;
	if (form->focus < form->n_rows && form->focus >= v->top + body)
		v->top = form->focus - body + 1;
	if (form->n_rows <= body)
		v->top = 0;
	else if (v->top > form->n_rows - body)
		v->top = form->n_rows - body;
}

static int draw(struct view *v)
{
	const struct gc_tui_form *form = v->form;
	static const char keys[] = " F2 Save  F10 Quit  Up/Down Move  Left/Right/Space Change  "
				   "F8 Del item  ^U Clear";
	size_t body;
	int cursor_x = -1, cursor_y = 0;

	erase();
	if (LINES < MIN_LINES || COLS < MIN_COLS) {
		mvaddstr(0, 0, "Terminal too small:");
		mvprintw(1, 0, "need %dx%d.", MIN_COLS, MIN_LINES);
		curs_set(0);
		refresh();
		return 0;
	}
	body = (size_t)(LINES - CHROME_LINES);
	scroll_to_focus(v, body);
	draw_title(v);
	for (size_t k = 0; k < body && v->top + k < form->n_rows; k++) {
		int x, r;

		r = draw_row(v, v->top + k, 1 + (int)k, &x);
		if (r < 0)
			return r;
		if (x >= 0) {
			cursor_x = x;
			cursor_y = 1 + (int)k;
		}
	}
	if (v->top > 0)
		mvaddch(1, COLS - 1, '^');
	if (v->top + body < form->n_rows)
		mvaddch((int)body, COLS - 1, 'v');

	attron(attr(v, PAIR_DIM, A_DIM));
	draw_text(LINES - 3, 1, gc_tui_form_help(form), 0, COLS - 2);
	attroff(attr(v, PAIR_DIM, A_DIM));
	if (form->message_is_error)
		attron(attr(v, PAIR_ERROR, A_BOLD) | A_BOLD);
	draw_text(LINES - 2, 1, form->message, 0, COLS - 2);
	attroff(attr(v, PAIR_ERROR, A_BOLD) | A_BOLD);
	fill_line(LINES - 1, attr(v, PAIR_TITLE, A_REVERSE));
	attron(attr(v, PAIR_TITLE, A_REVERSE));
	draw_text(LINES - 1, 0, keys, 0, COLS);
	attroff(attr(v, PAIR_TITLE, A_REVERSE));

	if (cursor_x >= 0 && !form->confirm_quit) {
		move(cursor_y, cursor_x);
		curs_set(1);
	} else
		curs_set(0);
	refresh();
	return 0;
}

/* A key from curses as the form knows it; 0 for none. */
static int map_key(int kind, wint_t ch)
{
	if (kind == KEY_CODE_YES)
		switch (ch) {
		case KEY_UP:
			return GC_TUI_KEY_UP;
		case KEY_DOWN:
			return GC_TUI_KEY_DOWN;
		case KEY_BTAB:
			return GC_TUI_KEY_UP;
		case KEY_ENTER:
			return GC_TUI_KEY_ENTER;
		case KEY_LEFT:
			return GC_TUI_KEY_LEFT;
		case KEY_RIGHT:
			return GC_TUI_KEY_RIGHT;
		case KEY_HOME:
			return GC_TUI_KEY_HOME;
		case KEY_END:
			return GC_TUI_KEY_END;
		case KEY_BACKSPACE:
			return GC_TUI_KEY_BACKSPACE;
		case KEY_DC:
			return GC_TUI_KEY_DELETE;
		case KEY_F(2):
			return GC_TUI_KEY_SAVE;
		case KEY_F(8):
			return GC_TUI_KEY_DELETE_ITEM;
		case KEY_F(10):
			return GC_TUI_KEY_QUIT;
		default:
			return 0;
		}
	switch (ch) {
	case '\t':
	case KEY_CTRL('N'):
		return GC_TUI_KEY_DOWN;
	case KEY_CTRL('P'):
		return GC_TUI_KEY_UP;
	case '\r':
	case '\n':
		return GC_TUI_KEY_ENTER;
	case KEY_CTRL('A'):
		return GC_TUI_KEY_HOME;
	case KEY_CTRL('E'):
		return GC_TUI_KEY_END;
	case KEY_CTRL('H'):
	case 0x7f:
		return GC_TUI_KEY_BACKSPACE;
	case KEY_CTRL('U'):
		return GC_TUI_KEY_KILL;
	case KEY_CTRL('D'):
		return GC_TUI_KEY_DELETE_ITEM;
	case KEY_CTRL('S'):
		return GC_TUI_KEY_SAVE;
	case KEY_CTRL('C'):
	case 0x1b: /* Esc */
		return GC_TUI_KEY_QUIT;
	default:
		return ch >= 0x20 ? (int)ch : 0;
	}
}

static bool name_taken(const char *name, void *userdata)
{
	return gc_vm_exists(userdata, name);
}

/* Saves the form's profile; a failure to write goes to the status line. 0 or -ENOMEM. */
static int save(struct view *v)
{
	struct gc_tui_form *form = v->form;
	_cleanup_free_ char *dir = gc_vm_dir(v->settings, form->profile.name);
	int r;

	/* gc_vm_save() logs to stderr, which curses owns now: its error goes to the status. */
	r = gc_vm_save(v->settings, &form->profile);
	if (r < 0) {
		gc_tui_form_set_message(form, true, "Failed to save '%s/vm.ini': %s",
					dir ? dir : form->profile.name, strerror(-r));
		return 0;
	}
	r = gc_tui_form_saved(form);
	if (r < 0)
		return r;
	gc_tui_form_set_message(form, false, "Saved %s/vm.ini", dir ? dir : form->profile.name);
	return 0;
}

static void screen_freep(SCREEN **screen)
{
	if (!*screen)
		return;
	endwin();
	delscreen(*screen);
	*screen = NULL;
}

static void start_color_if(struct view *v)
{
	const char *setting = gc_settings_get(v->settings, GC_SETTING_COLOR);
	short bg;

	if (streq(setting, "never") || (!streq(setting, "always") && getenv("NO_COLOR")) ||
	    !has_colors() || start_color() == ERR)
		return;
	/* -1 is the terminal's own background, where it can keep it. */
	bg = use_default_colors() == OK ? -1 : COLOR_BLACK;
	init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
	init_pair(PAIR_HEADING, COLOR_YELLOW, bg);
	init_pair(PAIR_ERROR, COLOR_RED, bg);
	init_pair(PAIR_FOCUS, COLOR_BLACK, COLOR_YELLOW);
	init_pair(PAIR_DIM, COLOR_CYAN, bg);
	v->color = true;
}

/* The loop: draw, read a key, let the form act. Returns 0 on quit, or -errno. */
static int run_screen(struct view *v)
{
	_cleanup_(screen_freep) SCREEN *screen = NULL;
	int errors = 0;

	(void)setlocale(LC_CTYPE, "");
	screen = newterm(NULL, stdout, stdin);
	if (!screen)
		return -ENOTTY;
	raw(); /* ^S, ^C and ^Q come as keys, not as flow control and signals */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	start_color_if(v);

	for (;;) {
		wint_t ch = 0;
		int kind, key, r;

		r = draw(v);
		if (r < 0)
			return r;
		kind = get_wch(&ch);
		if (kind == ERR) {
			/* EOF on the terminal: nobody is there to quit. */
			if (++errors > 100)
				return -EIO;
			continue;
		}
		errors = 0;
		if (kind == KEY_CODE_YES &&
		    (ch == KEY_RESIZE || ch == KEY_PPAGE || ch == KEY_NPAGE)) {
			int page = MAX(LINES - CHROME_LINES - 1, 1);

			if (ch == KEY_PPAGE || ch == KEY_NPAGE) {
				v->form->message[0] = '\0';
				r = gc_tui_form_move(v->form, ch == KEY_PPAGE ? -page : page);
				if (r == -ENOMEM)
					return r;
			}
			continue;
		}
		key = map_key(kind, ch);
		if (key == 0)
			continue;
		r = gc_tui_form_key(v->form, key);
		if (r < 0)
			return r;
		if (r == GC_TUI_ACTION_QUIT)
			return 0;
		if (r == GC_TUI_ACTION_SAVE) {
			r = save(v);
			if (r < 0)
				return r;
		}
	}
}

int gc_vm_tui(struct gc_settings *settings, const char *path, const char *name,
	      const char *template)
{
	_cleanup_(gc_tui_form_freep) struct gc_tui_form *form = NULL;
	struct gc_vm_profile p;
	bool creating = !name || !gc_vm_exists(settings, name);
	int level, r;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return log_error_errno(
			ENOTTY,
			"%s: needs a terminal; use 'ghostctl vm create' or 'vm edit' "
			"in scripts",
			path);
	if (!creating) {
		r = gc_vm_load(settings, name, &p);
		if (r < 0)
			return r; /* logged */
	} else {
		r = gc_vm_profile_init(&p, name ? name : "");
		if (r < 0)
			return log_oom();
		if (template) {
			r = gc_vm_profile_apply_template(
				&p, template, gc_settings_get(settings, GC_SETTING_TESTBED_DIR));
			if (r < 0) {
				gc_vm_profile_done(&p);
				return log_error_errno(r, "Failed to apply template '%s': %m",
						       template);
			}
		}
	}
	r = gc_tui_form_new(&p, !name, creating, &form);
	if (r < 0) {
		gc_vm_profile_done(&p);
		return log_oom();
	}
	form->name_taken = name_taken;
	form->userdata = settings;

	struct view v = { .form = form, .settings = settings };

	/* Curses owns the terminal until run_screen() returns: nothing may log meanwhile. */
	level = log_get_max_level();
	log_set_max_level(LOG_EMERG);
	r = run_screen(&v);
	log_set_max_level(level);
	if (r == -ENOMEM)
		return log_oom();
	if (r == -ENOTTY) {
		const char *term = getenv("TERM");

		return log_error_errno(r, "%s: cannot use the terminal '%s'", path,
				       term ? term : "");
	}
	if (r < 0)
		return log_error_errno(r, "%s: the terminal went away: %m", path);
	return 0;
}
