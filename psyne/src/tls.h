/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 for the stream engine (net*.c), with OpenSSL: one context per handle, one
 * connection object per socket. Authentication by certificates (optionally both ways) or
 * by a pre-shared key. All calls are non-blocking: -EAGAIN means "poll and call again",
 * with *ret_want saying for which event.
 */
#ifndef PSYNE_TLS_H
#define PSYNE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct psyne_tls_ctx;
struct psyne_tls;

/* The TLS options of a tls:// URI, as the option table parsed them (net_options.c). */
struct psyne_tls_options {
	const char *cert, *key, *ca; /* PEM files; NULL when not given */
	const char *psk;	     /* hex; NULL when not given */
	const char *psk_identity;    /* NULL: "psyne" */
	bool verify;		     /* a dialer checks the listener's certificate */
	bool verify_given;
};

/*
 * Builds the context of a handle from its TLS options. `host` is what a dialer checks the
 * listener's certificate against. Errors are logged: -EINVAL for options that do not go
 * together or do not load, -EPROTO otherwise.
 */
int psyne__tls_ctx_new(const struct psyne_tls_options *o, bool listener, const char *host,
		       struct psyne_tls_ctx **ret);
void psyne__tls_ctx_free(struct psyne_tls_ctx *ctx);

/* Whether a listener's handshakes authenticate the dialer (a client certificate a CA of
 * ca= signed, or the pre-shared key); false for NULL and for a dialer's context. */
bool psyne__tls_ctx_authenticates_peer(const struct psyne_tls_ctx *ctx);

/* A connection object for socket `fd`, in the role the context was made for. */
int psyne__tls_new(struct psyne_tls_ctx *ctx, int fd, struct psyne_tls **ret);
void psyne__tls_free(struct psyne_tls *t);

/*
 * Drives the handshake: 0 when done, -EAGAIN with *ret_want (POLLIN/POLLOUT) when it must
 * wait, -EACCES when authentication failed, another negative errno when the connection
 * failed. `reason` receives a line saying why, for the log.
 */
int psyne__tls_handshake(struct psyne_tls *t, short *ret_want, char *reason, size_t size);

/* Like recv(): bytes, 0 at the peer's close, -EAGAIN, or a negative errno. */
ssize_t psyne__tls_read(struct psyne_tls *t, void *buf, size_t len);

/* Like writev(): bytes written (maybe fewer than asked), -EAGAIN, or a negative errno. */
ssize_t psyne__tls_writev(struct psyne_tls *t, const struct iovec *iov, int n);

/* Whether decrypted bytes wait inside the library, which poll() cannot see. */
bool psyne__tls_pending(struct psyne_tls *t);

#endif
