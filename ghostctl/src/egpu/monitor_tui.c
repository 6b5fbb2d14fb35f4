/* SPDX-License-Identifier: MIT */
/*
 * `ghostctl egpu monitor`: samples the links every interval and draws the dashboard of
 * monitor.h with curses.
 *
 * Each link is opened once, without taking its rings (only ANARCHY_IOC_SETUP_RINGS does), so
 * the monitor can watch a link that a program is using. Its file gives the full info and the
 * module's events; a link whose device cannot be opened is read from sysfs, and its state
 * changes are then reported as events of our own. The loop sleeps in poll() on the terminal
 * and the links' files until the next sample is due, so keys and events show at once.
 *
 * The screen, top to bottom: a title, the links (the selected one highlighted), the selected
 * link's speed, far host and GPU, three graphs (TX and RX throughput, round-trip time), its
 * counters, the newest events, and a line of keys.
 */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/string-util.h"
#include "monitor.h"
#include "settings.h"
#include "status.h"
#include "strv.h"

#define MIN_COLS 60
#define MIN_LINES 16
/* Lines that are neither graph nor event rows (monitor.h's layout). */
#define CHROME_LINES 9
#define MIN_EVENT_ROWS 3
#define MAX_GRAPH_ROWS 12
#define MAX_EVENTS_PER_WAKE 64
#define KEY_CTRL(c) ((c)&0x1f)

enum {
	PAIR_TITLE = 1,
	PAIR_TX,
	PAIR_RX,
	PAIR_RTT,
	PAIR_BAD,
	PAIR_GOOD,
	PAIR_DIM,
};

struct mon_link {
	unsigned index;
	struct anarchy_link *link; /* NULL: read from sysfs */
	int open_error;		   /* why link is NULL */
	bool present;		   /* in sysfs at the last scan */
	bool gone;		   /* was in sysfs, is no more */
	bool have;		   /* `last` holds a sample */
	struct gc_egpu_link last;
	struct gc_egpu_history history;
};

struct monitor {
	bool one_link;
	unsigned one_index;
	unsigned interval_ms;
	struct mon_link **links;
	size_t n_links;
	unsigned selected; /* the index (N) of the selected link */
	bool module_loaded;
	bool scanned; /* a first scan was made: later appearances are events */
	struct gc_egpu_event_log events;
	double scratch[GC_EGPU_HISTORY_MAX];
	bool color;
	bool utf8;
};

static volatile sig_atomic_t terminate;

static void on_terminate(int sig)
{
	terminate = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- Links ------------------------------------------------------------------------------- */

static struct mon_link *mon_link_free(struct mon_link *ml)
{
	if (!ml)
		return NULL;
	anarchy_link_close(ml->link);
	free(ml);
	return NULL;
}

static void monitor_done(struct monitor *m)
{
	for (size_t i = 0; i < m->n_links; i++)
		mon_link_free(m->links[i]);
	free(m->links);
	m->links = NULL;
	m->n_links = 0;
}

static struct mon_link *find_link(const struct monitor *m, unsigned index)
{
	for (size_t i = 0; i < m->n_links; i++)
		if (m->links[i]->index == index)
			return m->links[i];
	return NULL;
}

static void open_link(struct mon_link *ml)
{
	int r = gc_egpu_open(ml->index, O_NONBLOCK, &ml->link);

	ml->open_error = r < 0 ? r : 0;
	if (r < 0)
		ml->link = NULL;
}

/* The link's file failed (the module is going, say): read it from sysfs from now on. */
static void drop_device(struct monitor *m, struct mon_link *ml, int error)
{
	ml->link = anarchy_link_close(ml->link);
	ml->open_error = error;
	gc_egpu_event_log_add(&m->events, time(NULL), ml->index,
			      "device closed: %s; reading sysfs from now on", strerror(-error));
}

static int cmp_link(const void *a, const void *b)
{
	const struct mon_link *x = *(struct mon_link *const *)a, *y = *(struct mon_link *const *)b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static int add_link(struct monitor *m, unsigned index)
{
	struct mon_link **l, *ml;

	ml = calloc(1, sizeof(*ml));
	if (!ml)
		return -ENOMEM;
	l = realloc(m->links, (m->n_links + 1) * sizeof(*l));
	if (!l) {
		free(ml);
		return -ENOMEM;
	}
	m->links = l;
	ml->index = index;
	open_link(ml);
	m->links[m->n_links++] = ml;
	qsort(m->links, m->n_links, sizeof(*m->links), cmp_link);
	if (m->n_links == 1)
		m->selected = index;
	return 0;
}

/* Finds the links in sysfs: new ones are opened, vanished ones closed. 0 or -ENOMEM. */
static int scan(struct monitor *m)
{
	_cleanup_free_ unsigned *indexes = NULL;
	size_t n = 0;
	int r;

	if (m->one_link) {
		r = gc_egpu_module_check();
		if (r == 0 && gc_egpu_link_exists(m->one_index)) {
			indexes = malloc(sizeof(*indexes));
			if (!indexes)
				return -ENOMEM;
			indexes[n++] = m->one_index;
		}
	} else {
		r = gc_egpu_list(&indexes, &n);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			n = 0;
	}
	if (r == -ENOENT && m->module_loaded && m->scanned)
		gc_egpu_event_log_add(&m->events, time(NULL), GC_EGPU_EVENT_NO_LINK,
				      "the module was unloaded");
	m->module_loaded = r != -ENOENT;

	for (size_t i = 0; i < m->n_links; i++)
		m->links[i]->present = false;
	for (size_t k = 0; k < n; k++) {
		struct mon_link *ml = find_link(m, indexes[k]);

		if (!ml) {
			r = add_link(m, indexes[k]);
			if (r < 0)
				return r;
			ml = find_link(m, indexes[k]);
			if (m->scanned)
				gc_egpu_event_log_add(&m->events, time(NULL), ml->index,
						      "appeared");
		} else if (ml->gone) {
			/* Back after it was gone: a new device, to open again. */
			ml->gone = false;
			ml->have = false;
			open_link(ml);
			gc_egpu_event_log_add(&m->events, time(NULL), ml->index, "back");
		}
		ml->present = true;
	}
	for (size_t i = 0; i < m->n_links; i++) {
		struct mon_link *ml = m->links[i];

		if (ml->present || ml->gone)
			continue;
		/* Gone from sysfs: its far host left, or the module went. Keep its history. */
		ml->link = anarchy_link_close(ml->link);
		ml->open_error = -ENODEV;
		ml->gone = true;
		gc_egpu_event_log_add(&m->events, time(NULL), ml->index, "gone");
	}
	m->scanned = true;
	return 0;
}

static void sample(struct monitor *m, struct mon_link *ml, uint64_t now)
{
	struct gc_egpu_link l;
	int r;

	if (!ml->present)
		return;
	r = gc_egpu_read(ml->index, ml->link, ml->open_error, &l);
	if (r < 0 && ml->link) {
		drop_device(m, ml, r);
		r = gc_egpu_read(ml->index, NULL, ml->open_error, &l);
	}
	if (r < 0)
		return; /* gone between the scan and now: the next scan says so */
	/* The module reports the state changes of an opened link as events; sysfs does not. */
	if (!ml->link && ml->have && l.info.state != ml->last.info.state)
		gc_egpu_event_log_add(&m->events, time(NULL), ml->index, "state %s -> %s",
				      gc_egpu_state_string(ml->last.info.state),
				      gc_egpu_state_string(l.info.state));
	ml->last = l;
	ml->have = true;
	gc_egpu_history_add(&ml->history, now, &l);
}

static void drain_events(struct monitor *m, struct mon_link *ml)
{
	for (int i = 0; ml->link && i < MAX_EVENTS_PER_WAKE; i++) {
		struct anarchy_event ev;
		char text[GC_EGPU_EVENT_LINE_MAX];
		uint64_t now = now_ns();
		time_t wall = time(NULL);
		int r;

		r = anarchy_link_read_event(ml->link, &ev);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			drop_device(m, ml, r);
			return;
		}
		/* Event times are CLOCK_MONOTONIC: how long ago, on the wall clock. */
		if (ev.time_ns <= now)
			wall -= (time_t)((now - ev.time_ns) / 1000000000u);
		gc_egpu_event_describe(&ev, text, sizeof(text));
		gc_egpu_event_log_add(&m->events, wall, ml->index, "%s", text);
	}
}

/* ---- Drawing ----------------------------------------------------------------------------- */

static attr_t attr(const struct monitor *m, int pair, attr_t plain)
{
	return m->color ? (attr_t)COLOR_PAIR(pair) | (plain & A_BOLD) : plain;
}

/* Draws s at (y, x), at most `width` columns; bytes that do not decode show as '?'. */
static int draw_text(int y, int x, const char *s, int width)
{
	mbstate_t state = { 0 };
	int drawn = 0;

	for (size_t i = 0; s[i] != '\0';) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s + i, MB_CUR_MAX, &state);
		int w = 1;

		if (n == 0 || n == (size_t)-1 || n == (size_t)-2) {
			memset(&state, 0, sizeof(state));
			n = 1;
			wc = L'?';
		} else if (wcwidth(wc) >= 0)
			w = wcwidth(wc);
		if (drawn + w > width)
			break;
		if (wc == L'?' || wc < 0x20)
			mvaddch(y, x + drawn, '?');
		else
			mvaddnstr(y, x + drawn, s + i, (int)n);
		drawn += w;
		i += n;
	}
	return drawn;
}

static void fill_line(int y, attr_t a)
{
	attron(a);
	mvhline(y, 0, ' ', COLS);
	attroff(a);
}

static struct mon_link *selected(const struct monitor *m)
{
	struct mon_link *ml = find_link(m, m->selected);

	return ml ? ml : m->n_links > 0 ? m->links[0] : NULL;
}

static bool is_gone(const struct mon_link *ml)
{
	return ml->gone;
}

static const char *link_state(const struct mon_link *ml)
{
	if (is_gone(ml))
		return "gone";
	if (!ml->have)
		return "?";
	return gc_egpu_state_string(ml->last.info.state);
}

static int state_pair(const struct mon_link *ml)
{
	if (is_gone(ml) || !ml->have)
		return PAIR_BAD;
	switch (ml->last.info.state) {
	case ANARCHY_LINK_UP:
		return PAIR_GOOD;
	case ANARCHY_LINK_NEGOTIATING:
		return PAIR_RTT;
	default:
		return PAIR_BAD;
	}
}

static void draw_title(const struct monitor *m, const struct mon_link *sel)
{
	char right[64];
	int x;
	time_t t = time(NULL);
	struct tm tm;
	attr_t a = attr(m, PAIR_TITLE, A_REVERSE);

	if (!localtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	(void)snprintf(right, sizeof(right), "every %u ms  %02d:%02d:%02d ", m->interval_ms,
		       tm.tm_hour, tm.tm_min, tm.tm_sec);
	fill_line(0, a);
	attron(a | A_BOLD);
	x = draw_text(0, 0, " ghostctl egpu monitor", COLS);
	attroff(A_BOLD);
	if (sel && sel->have && (sel->last.info.flags & ANARCHY_INFO_SIMULATED))
		draw_text(0, x, "  (simulated link)", COLS - x - (int)strlen(right));
	draw_text(0, COLS - (int)strlen(right), right, (int)strlen(right));
	attroff(a);
}

static void draw_tabs(const struct monitor *m, const struct mon_link *sel)
{
	int x = 1;

	if (m->n_links == 0) {
		attron(attr(m, PAIR_BAD, A_BOLD) | A_BOLD);
		draw_text(1, 1,
			  m->module_loaded ? "No anarchy links yet (waiting for a far host)." :
					     "The anarchy module is not loaded: modprobe anarchy.",
			  COLS - 2);
		attroff(attr(m, PAIR_BAD, A_BOLD) | A_BOLD);
		return;
	}
	for (size_t i = 0; i < m->n_links && x < COLS - 1; i++) {
		const struct mon_link *ml = m->links[i];
		char name[GC_EGPU_NAME_MAX + 2];
		attr_t a = ml == sel ? A_REVERSE | A_BOLD : A_NORMAL;

		(void)snprintf(name, sizeof(name), "%sanarchy%u ", ml == sel ? " " : "", ml->index);
		attron(a);
		x += draw_text(1, x, name, COLS - 1 - x);
		attroff(a);
		attron(attr(m, state_pair(ml), A_BOLD) | (ml == sel ? A_REVERSE | A_BOLD : 0));
		x += draw_text(1, x, link_state(ml), COLS - 1 - x);
		if (ml == sel)
			x += draw_text(1, x, " ", COLS - 1 - x);
		attroff(attr(m, state_pair(ml), A_BOLD) | A_REVERSE | A_BOLD);
		x += 2;
	}
}

/* "40G", "2.5G", "800M": a rate in Mb/s, short. */
static void format_mbps_short(uint32_t mbps, char *buf, size_t size)
{
	if (mbps >= 1000 && mbps % 1000 == 0)
		(void)snprintf(buf, size, "%uG", mbps / 1000);
	else if (mbps >= 1000)
		(void)snprintf(buf, size, "%.1fG", mbps / 1000.0);
	else
		(void)snprintf(buf, size, "%uM", mbps);
}

/* One line: the speeds, the far host, its first GPU; short enough for 80 columns. */
static void draw_details(const struct monitor *m, const struct mon_link *ml, int y)
{
	const struct anarchy_link_info *i = &ml->last.info;
	char line[512], a[16], vram[32];
	int k = 0;

	if (!ml->have) {
		draw_text(y, 1, is_gone(ml) ? "This link is gone." : "Reading...", COLS - 2);
		return;
	}
	format_mbps_short(i->link_speed_mbps, a, sizeof(a));
	k += snprintf(line + k, sizeof(line) - (size_t)k, "%s%s",
		      i->link_speed_mbps == 0 ? "no carrier" : a,
		      i->link_speed_mbps == 0 ? "" : " link");
	if (ml->link && i->dma_rate_mbps != 0) {
		format_mbps_short(i->dma_rate_mbps, a, sizeof(a));
		k += snprintf(line + k, sizeof(line) - (size_t)k, ", %s DMA", a);
	}
	format_mbps_short(i->bandwidth_cap_mbps, a, sizeof(a));
	k += snprintf(line + k, sizeof(line) - (size_t)k, ", %s%s",
		      i->bandwidth_cap_mbps == 0 ? "no cap" : "cap ",
		      i->bandwidth_cap_mbps == 0 ? "" : a);
	if (!isempty(i->far_name))
		k += snprintf(line + k, sizeof(line) - (size_t)k, " | far %s", i->far_name);
	if (i->gpu_count > 0) {
		k += snprintf(line + k, sizeof(line) - (size_t)k, " | %s", i->gpus[0].name);
		if (ml->link) {
			gc_egpu_format_bytes(i->gpus[0].vram_bytes, vram, sizeof(vram));
			k += snprintf(line + k, sizeof(line) - (size_t)k, " %s", vram);
		}
		if (i->gpu_count > 1)
			(void)snprintf(line + k, sizeof(line) - (size_t)k, " +%u",
				       i->gpu_count - 1);
	}
	draw_text(y, 1, line, COLS - 2);
}

/* A graph's heading and `rows` rows of bars from line y. */
static void draw_graph(struct monitor *m, const struct mon_link *ml, enum gc_egpu_series s, int y,
		       unsigned rows)
{
	static const char *const names[] = { "TX", "RX", "RTT" };
	static const int pairs[] = { PAIR_TX, PAIR_RX, PAIR_RTT };
	unsigned width = (unsigned)MAX(COLS - 2, 1);
	size_t n = gc_egpu_history_tail(&ml->history, s, width, m->scratch);
	double now = gc_egpu_history_last(&ml->history, s);
	double max = gc_egpu_values_max(m->scratch, n), min = gc_egpu_values_min(m->scratch, n);
	_cleanup_strv_free_ char **bars = NULL;
	char line[256], a[32], b[32], c[32];

	if (s == GC_EGPU_SERIES_RTT) {
		gc_egpu_format_us(now, a, sizeof(a));
		gc_egpu_format_us(min, b, sizeof(b));
		gc_egpu_format_us(max, c, sizeof(c));
		if (!ml->link)
			(void)snprintf(line, sizeof(line),
				       "%-3s n/a: /dev/anarchy%u not opened (%s)", names[s],
				       ml->index,
				       strerror(-(ml->open_error < 0 ? ml->open_error : -ENODEV)));
		else if (isnan(now))
			(void)snprintf(line, sizeof(line), "%-3s -   (not measured while %s)",
				       names[s], link_state(ml));
		else
			(void)snprintf(line, sizeof(line), "%-3s %-10s min %s  max %s", names[s], a,
				       b, c);
		max = isnan(max) ? 100 : MAX(max, 100.0);
	} else {
		gc_egpu_format_bitrate(now, a, sizeof(a));
		gc_egpu_format_bitrate(max, b, sizeof(b));
		(void)snprintf(line, sizeof(line), "%-3s %-10s peak %s", names[s],
			       ml->history.count > 0 ? a : "-", b);
		max = isnan(max) ? 1000 : MAX(max, 1000.0);
	}
	attron(attr(m, pairs[s], A_BOLD) | A_BOLD);
	draw_text(y, 1, line, COLS - 2);
	attroff(attr(m, pairs[s], A_BOLD) | A_BOLD);

	bars = gc_egpu_graph_render(m->scratch, n, max, width, rows, m->utf8);
	if (!bars)
		return;
	attron(attr(m, pairs[s], A_NORMAL));
	for (unsigned r = 0; r < rows; r++)
		mvaddstr(y + 1 + (int)r, 1, bars[r]);
	attroff(attr(m, pairs[s], A_NORMAL));
}

static void draw_counters(const struct mon_link *ml, int y)
{
	const struct anarchy_counters *c = &ml->last.info.counters;
	char line[512], tx[32], rx[32];

	if (!ml->have)
		return;
	gc_egpu_format_bytes(c->tx_bytes, tx, sizeof(tx));
	gc_egpu_format_bytes(c->rx_bytes, rx, sizeof(rx));
	(void)snprintf(line, sizeof(line),
		       "sent %s (%llu rec)  recv %s (%llu rec)  retr %llu  crc %llu  drop %llu  "
		       "err %llu",
		       tx, (unsigned long long)c->tx_records, rx, (unsigned long long)c->rx_records,
		       (unsigned long long)c->retransmits, (unsigned long long)c->crc_errors,
		       (unsigned long long)c->drops, (unsigned long long)c->errors);
	draw_text(y, 1, line, COLS - 2);
}

static void draw_events(const struct monitor *m, int y, int rows)
{
	attron(A_BOLD);
	draw_text(y, 1, "Events", COLS - 2);
	attroff(A_BOLD);
	if (m->events.count == 0) {
		attron(attr(m, PAIR_DIM, A_DIM));
		draw_text(y + 1, 1, "(none yet)", COLS - 2);
		attroff(attr(m, PAIR_DIM, A_DIM));
	}
	for (int i = 0; i < rows; i++) {
		const char *line = gc_egpu_event_log_get(&m->events, (size_t)i);

		if (!line)
			break;
		draw_text(y + 1 + i, 1, line, COLS - 2);
	}
}

static void draw(struct monitor *m)
{
	static const char keys[] = " q Quit  Tab/Left/Right Link  c Clear events";
	struct mon_link *ml = selected(m);
	int rest, event_rows, y;
	unsigned graph_rows;

	erase();
	if (LINES < MIN_LINES || COLS < MIN_COLS) {
		mvaddstr(0, 0, "Terminal too small:");
		mvprintw(1, 0, "need %dx%d.", MIN_COLS, MIN_LINES);
		refresh();
		return;
	}
	/* Graphs take what the events leave, up to MAX_GRAPH_ROWS each; events the rest. */
	rest = LINES - CHROME_LINES;
	event_rows = MAX(MIN_EVENT_ROWS, rest / 4);
	graph_rows = (unsigned)MIN(MAX((rest - event_rows) / 3, 1), MAX_GRAPH_ROWS);
	event_rows = rest - 3 * (int)graph_rows;

	draw_title(m, ml);
	draw_tabs(m, ml);
	y = 2;
	if (ml) {
		draw_details(m, ml, y++);
		for (int s = 0; s < _GC_EGPU_SERIES_MAX; s++) {
			draw_graph(m, ml, (enum gc_egpu_series)s, y, graph_rows);
			y += 1 + (int)graph_rows;
		}
		draw_counters(ml, y++);
	} else
		y += 2 + 3 * (int)graph_rows;
	draw_events(m, y, event_rows);

	fill_line(LINES - 1, attr(m, PAIR_TITLE, A_REVERSE));
	attron(attr(m, PAIR_TITLE, A_REVERSE));
	draw_text(LINES - 1, 0, keys, COLS);
	attroff(attr(m, PAIR_TITLE, A_REVERSE));
	refresh();
}

/* ---- The loop ---------------------------------------------------------------------------- */

static void select_next(struct monitor *m, int step)
{
	struct mon_link *ml = selected(m);
	size_t i = 0;

	if (!ml || m->n_links == 0)
		return;
	while (i < m->n_links && m->links[i] != ml)
		i++;
	i = (i + m->n_links + (size_t)(step > 0 ? 1 : m->n_links - 1)) % m->n_links;
	m->selected = m->links[i]->index;
}

/* Reads every key waiting. Returns 1 to quit, 0 to go on. */
static int handle_keys(struct monitor *m)
{
	for (;;) {
		wint_t ch = 0;
		int kind = get_wch(&ch);

		if (kind == ERR)
			return 0;
		if (kind == KEY_CODE_YES) {
			if (ch == KEY_RIGHT || ch == KEY_DOWN)
				select_next(m, 1);
			else if (ch == KEY_LEFT || ch == KEY_UP || ch == KEY_BTAB)
				select_next(m, -1);
			continue; /* KEY_RESIZE included: the caller redraws */
		}
		switch (ch) {
		case 'q':
		case 'Q':
		case 0x1b: /* Esc */
		case KEY_CTRL('C'):
		case KEY_CTRL('D'):
			return 1;
		case '\t':
		case 'n':
			select_next(m, 1);
			break;
		case 'p':
			select_next(m, -1);
			break;
		case 'c':
			m->events.count = 0;
			m->events.head = 0;
			break;
		default:
			break;
		}
	}
}

static void screen_freep(SCREEN **screen)
{
	if (!*screen)
		return;
	endwin();
	delscreen(*screen);
	*screen = NULL;
}

static void start_color_if(struct monitor *m, const struct gc_settings *settings)
{
	const char *setting = gc_settings_get(settings, GC_SETTING_COLOR);
	short bg;

	if (streq(setting, "never") || (!streq(setting, "always") && getenv("NO_COLOR")) ||
	    !has_colors() || start_color() == ERR)
		return;
	bg = use_default_colors() == OK ? -1 : COLOR_BLACK;
	init_pair(PAIR_TITLE, COLOR_BLACK, COLOR_CYAN);
	init_pair(PAIR_TX, COLOR_GREEN, bg);
	init_pair(PAIR_RX, COLOR_CYAN, bg);
	init_pair(PAIR_RTT, COLOR_YELLOW, bg);
	init_pair(PAIR_BAD, COLOR_RED, bg);
	init_pair(PAIR_GOOD, COLOR_GREEN, bg);
	init_pair(PAIR_DIM, COLOR_CYAN, bg);
	m->color = true;
}

static int run_screen(struct monitor *m, const struct gc_settings *settings)
{
	_cleanup_(screen_freep) SCREEN *screen = NULL;
	uint64_t next = 0;
	int r;

	(void)setlocale(LC_CTYPE, "");
	m->utf8 = streq(nl_langinfo(CODESET), "UTF-8");
	screen = newterm(NULL, stdout, stdin);
	if (!screen)
		return -ENOTTY;
	raw(); /* ^C comes as a key: q, Esc and ^C all quit the same way */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25);
	start_color_if(m, settings);

	while (!terminate) {
		struct pollfd pfds[1 + 64];
		struct mon_link *polled[64];
		size_t n = 1;
		uint64_t now = now_ns();
		int timeout;

		if (now >= next) {
			r = scan(m);
			if (r < 0)
				return r;
			for (size_t i = 0; i < m->n_links; i++)
				sample(m, m->links[i], now);
			next = next + (uint64_t)m->interval_ms * 1000000u;
			if (next <= now)
				next = now + (uint64_t)m->interval_ms * 1000000u;
			draw(m);
		}
		pfds[0] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		for (size_t i = 0; i < m->n_links && n < ELEMENTSOF(pfds); i++)
			if (m->links[i]->link) {
				polled[n - 1] = m->links[i];
				pfds[n++] = (struct pollfd){
					.fd = anarchy_link_fd(m->links[i]->link),
					.events = POLLPRI,
				};
			}
		timeout = (int)DIV_ROUND_UP(next - now_ns(), (uint64_t)1000000);
		if (next <= now_ns())
			timeout = 0;
		r = poll(pfds, n, timeout);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r < 0 || (pfds[0].revents & POLLIN)) {
			/* EINTR: SIGWINCH, and curses has a KEY_RESIZE for us. */
			if (handle_keys(m) > 0)
				return 0;
			draw(m);
		} else if (pfds[0].revents & (POLLHUP | POLLERR))
			return -EIO; /* the terminal went away: nobody is there to quit */
		for (size_t i = 1; r > 0 && i < n; i++) {
			if (pfds[i].revents & (POLLHUP | POLLERR | POLLNVAL))
				drop_device(m, polled[i - 1], -ENODEV);
			else if (pfds[i].revents & POLLPRI)
				drain_events(m, polled[i - 1]);
			else
				continue;
			draw(m);
		}
	}
	return 0;
}

int gc_egpu_monitor(struct gc_cmd *cmd, bool one_link, unsigned index, unsigned interval_ms)
{
	struct sigaction sa = { .sa_handler = on_terminate }, old_term, old_hup;
	struct monitor *m;
	int level, r;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return log_error_errno(ENOTTY,
				       "%s: needs a terminal; use 'ghostctl egpu status --json' in "
				       "scripts",
				       cmd->path);
	if (gc_egpu_module_check() < 0)
		return gc_egpu_log_no_module();
	if (one_link && !gc_egpu_link_exists(index))
		return log_error_errno(ENOENT, "No link anarchy%u (see 'ghostctl egpu status').",
				       index);
	m = calloc(1, sizeof(*m));
	if (!m)
		return log_oom();
	*m = (struct monitor){
		.one_link = one_link,
		.one_index = index,
		.interval_ms = interval_ms,
		.module_loaded = true,
	};

	/* SIGTERM and SIGHUP end the loop so that curses can restore the terminal. */
	terminate = 0;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, &old_term);
	(void)sigaction(SIGHUP, &sa, &old_hup);
	/* Curses owns the terminal until run_screen() returns: nothing may log meanwhile. */
	level = log_get_max_level();
	log_set_max_level(LOG_EMERG);
	r = run_screen(m, cmd->settings);
	log_set_max_level(level);
	(void)sigaction(SIGTERM, &old_term, NULL);
	(void)sigaction(SIGHUP, &old_hup, NULL);
	monitor_done(m);
	free(m);
	if (r == -ENOMEM)
		return log_oom();
	if (r == -ENOTTY) {
		const char *term = getenv("TERM");

		return log_error_errno(r, "%s: cannot use the terminal '%s'", cmd->path,
				       term ? term : "");
	}
	if (r < 0)
		return log_error_errno(r, "%s: the terminal went away: %m", cmd->path);
	return 0;
}
