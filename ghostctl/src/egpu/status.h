/* SPDX-License-Identifier: MIT */
/*
 * `ghostctl egpu status`: a link as text and as JSON (the schema is in docs/egpu.md), and the
 * number formats the monitor shares. Pure: nothing here reads a file.
 */
#ifndef GC_EGPU_STATUS_H
#define GC_EGPU_STATUS_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "link.h"

/* The "schema" member of `egpu status --json`: bumped only by an incompatible change. */
#define GC_EGPU_JSON_SCHEMA 1

/* "up", "down", ..., or "unknown" for GC_EGPU_STATE_UNKNOWN and values not defined. */
const char *gc_egpu_state_string(uint32_t state);

/* "1.5 KiB", "23.9 GiB", "512 B": binary units, one decimal from KiB on. */
void gc_egpu_format_bytes(uint64_t bytes, char *buf, size_t size);

/* "812 kb/s", "9.41 Gb/s", "0 b/s": a bit rate in decimal units, three digits. */
void gc_egpu_format_bitrate(double bits_per_second, char *buf, size_t size);

/* "850 us", "1.25 ms", "2.50 s": a duration given in microseconds. */
void gc_egpu_format_us(double us, char *buf, size_t size);

/* "H.264 HEVC AV1" (or "-" when none) and "h264", "hevc", "av1" for JSON. */
void gc_egpu_format_encoders(uint32_t encoders, char *buf, size_t size);

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lowercase; buf has at least 37 bytes. */
void gc_egpu_format_uuid(const uint8_t uuid[16], char *buf, size_t size);

/* Whether a UUID is all zero (no far host). */
bool gc_egpu_uuid_is_null(const uint8_t uuid[16]);

/* Prints one link, several lines, to f. 0, or -EIO when f failed. */
int gc_egpu_link_write(FILE *f, const struct gc_egpu_link *l);

/* One link as a JSON object; NULL when out of memory. */
json_t *gc_egpu_link_json(const struct gc_egpu_link *l);

/* {"schema": 1, "links": [...]} of n links; NULL when out of memory. */
json_t *gc_egpu_status_json(const struct gc_egpu_link *links, size_t n);

#endif
