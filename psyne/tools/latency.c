/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "latency.h"

int latency_init(struct latency *l, size_t cap, uint64_t seed)
{
	uint64_t *samples;

	if (cap == 0)
		return -EINVAL;
	samples = calloc(cap, sizeof(*samples));
	if (!samples)
		return -ENOMEM;
	*l = (struct latency){
		.samples = samples,
		.cap = cap,
		.rng = seed != 0 ? seed : UINT64_C(0x9e3779b97f4a7c15),
	};
	return 0;
}

void latency_done(struct latency *l)
{
	free(l->samples);
	*l = (struct latency){ .samples = NULL };
}

void latency_reset(struct latency *l)
{
	l->n = 0;
	l->count = 0;
	l->max = 0;
	l->next = 0;
}

static uint64_t next_random(struct latency *l)
{
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * UINT64_C(0x2545f4914f6cdd1d);
}

/* Uniform in (0, 1), never either end: the logarithms below need that. */
static double next_uniform(struct latency *l)
{
	return ((double)(next_random(l) >> 11) + 0.5) / (double)(UINT64_C(1) << 53);
}

/* Algorithm L: how far the next kept sample is, given the weight w. */
static void draw_next(struct latency *l)
{
	double skip;

	l->w *= exp(log(next_uniform(l)) / (double)l->cap);
	skip = floor(log(next_uniform(l)) / log1p(-l->w));
	/* A skip past 2^62 samples is as good as never (and a cast past 2^64 undefined). */
	l->next = skip < 0x1p62 ? l->count + (uint64_t)skip + 1 : UINT64_MAX;
}

void latency__keep(struct latency *l, uint64_t v)
{
	if (l->n < l->cap) {
		l->samples[l->n++] = v;
		if (l->n == l->cap) {
			l->w = 1.0;
			draw_next(l);
		}
		return;
	}
	/* Each sample past `cap` ends up kept with probability cap/count, as with a draw for
	 * every one (algorithm R), but with draws only for those kept. */
	l->samples[next_random(l) % l->cap] = v;
	draw_next(l);
}

static void swap(uint64_t *a, uint64_t *b)
{
	uint64_t t = *a;

	*a = *b;
	*b = t;
}

/*
 * Puts the k-th smallest of v[0..n) at v[k], smaller or equal ones before it and larger or
 * equal ones after (quickselect: Hoare's partition around a median of three).
 */
static uint64_t select_kth(uint64_t *v, size_t n, size_t k)
{
	ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, want = (ptrdiff_t)k;

	while (lo < hi) {
		ptrdiff_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
		uint64_t pivot;

		/* v[lo] <= v[mid] <= v[hi]: both scans below stop inside [lo, hi]. */
		if (v[mid] < v[lo])
			swap(&v[mid], &v[lo]);
		if (v[hi] < v[lo])
			swap(&v[hi], &v[lo]);
		if (v[hi] < v[mid])
			swap(&v[hi], &v[mid]);
		pivot = v[mid];
		/* Ends with v[lo..j] <= pivot <= v[i..hi], and v[j+1..i-1] == pivot. The first
		 * pass always swaps, so both sides are smaller than [lo, hi]. */
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				swap(&v[i], &v[j]);
				i++;
				j--;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			break;
	}
	return v[want];
}

uint64_t latency_percentile(struct latency *l, unsigned pct)
{
	size_t rank;

	if (l->n == 0)
		return 0;
	if (pct > 100)
		pct = 100;
	/* Nearest rank: ceil(pct/100 * n), counted from 1. */
	rank = (size_t)(((uint64_t)l->n * pct + 99) / 100);
	return select_kth(l->samples, l->n, rank > 0 ? rank - 1 : 0);
}
