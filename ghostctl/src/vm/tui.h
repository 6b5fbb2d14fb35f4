/* SPDX-License-Identifier: MIT */
/* `ghostctl vm tui`: the profile form on a terminal, drawn with curses (tui_form.h is the form). */
#ifndef GC_VM_TUI_H
#define GC_VM_TUI_H

struct gc_settings;

/*
 * Runs the form until the user quits. With an existing NAME it edits that profile; with a
 * new NAME, or NULL (the form then asks for one), it creates a profile, from `template` when
 * not NULL. `path` names the verb in messages ("vm tui"). Needs a terminal on stdin and
 * stdout: without one it logs that 'vm create' and 'vm edit' are for scripts and returns
 * -ENOTTY. Returns 0 when the user quit (saved or not), or a negative errno, logged.
 */
int gc_vm_tui(struct gc_settings *settings, const char *path, const char *name,
	      const char *template);

#endif
