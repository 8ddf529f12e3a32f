/*-------------------------------------------------------------------------
 *
 * load_run.c
 *	  carbonmkt-load: the connections and the event loop.
 *
 * One thread drives every connection: each is non-blocking (PQsetnonblocking)
 * and the loop waits on all their sockets with poll().  A connection keeps
 * one order in flight, or --pipeline DEPTH of them in libpq pipeline mode.
 * Orders come from the stream (load_gen.c) in index order, whichever
 * connection is free takes the next one, so the set of orders sent does not
 * depend on the number of connections or on timing.
 *
 * Transactions.  Without --pipeline each order is its own transaction.  In
 * pipeline mode the orders between two syncs form one implicit transaction
 * on the server, so a sync follows every order by default; with
 * --sync-every N a sync follows every N orders (fewer commits), and an error
 * in one order rolls back the whole group: the failing order gets its
 * answer, the others are sent again; an order retried after a serialization
 * failure or deadlock goes alone.  An order's outcome is decided only
 * when its transaction's end is known: at the sync (pipeline) or at the end
 * of its result (no pipeline).
 *
 * Outcomes.  Accepted; rejected: an error of SQLSTATE class CM, the market's
 * own rules (counted per SQLSTATE, never fatal); error: any other SQLSTATE,
 * after --retries resends for a serialization failure (40001) or a deadlock
 * (40P01); unknown: the connection was lost while the order was in flight
 * and it carried no client reference, so whether it committed cannot be
 * known.  With --references the order is sent again on a new connection,
 * and the market's idempotency returns the original answer if it had
 * committed.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/cli/load_run.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "load.h"

#define ORDER_STMT			"carbonmkt_load_order"
#define CANCEL_STMT			"carbonmkt_load_cancel"
#define POOL_SIZE			4096	/* recently accepted listings, for takers */
#define LAT_BUCKETS			1216
#define RECONNECT_SECONDS	10.0
#define MAX_MESSAGE			300

/* parameter types: text, text, int8, numeric, int8, text, int8 */
static const Oid order_types[7] = {25, 25, 20, 1700, 20, 25, 20};
static const Oid cancel_types[2] = {20, 25};

typedef enum JobKind
{
	JOB_ORDER,
	JOB_CANCEL
} JobKind;

typedef enum ResultKind
{
	RES_NONE,					/* no result yet */
	RES_OK,
	RES_ERROR,
	RES_ABORTED					/* skipped: an earlier error in its pipeline group */
} ResultKind;

typedef struct Job
{
	struct Job *next;
	JobKind		kind;
	Order		order;			/* for a cancel: the cancelled order */
	int64_t		cancel_id;		/* JOB_CANCEL: the order id to cancel */
	long		due;			/* JOB_CANCEL: send after this many orders */
	bool		resolved;		/* a taker's listing has been chosen */
	bool		ever_sent;
	bool		maybe_applied;	/* requeued after a lost connection */
	int			attempts;		/* resends after failures counted by --retries */
	bool		group_end;		/* a pipeline sync follows it */
	bool		solo;			/* in a transaction of its own (after 40001/40P01) */
	double		sent_at;
	ResultKind	result;			/* of the latest send */
	int64_t		value;			/* order id returned */
	char		code[6];
	char	   *message;
} Job;

typedef struct JobList
{
	Job		   *head;
	Job		   *tail;
	long		n;
} JobList;

typedef struct Client
{
	int			id;
	PGconn	   *conn;
	bool		alive;
	JobList		inflight;		/* sent, outcome not decided, in send order */
	Job		   *cursor;			/* first in-flight job whose result is not complete */
	bool		await_sync;		/* the next result must be a pipeline sync */
	int			since_sync;
	bool		want_write;
	/* process_queue phase */
	int			ncalls;
	char	  **calls;
	int			next_call;
	bool		call_busy;
	double		call_started;
} Client;

typedef struct Listing
{
	int64_t		order_id;
	int64_t		price_li;
	int64_t		quantity;
	int64_t		participant;
	int			product;
	bool		buy;
	bool		live;
} Listing;

volatile int interrupt_count = 0;

static const Options *opt;
static const Market *mkt;
static RunStats *st;
static Client *clients;
static int	nclients;
static JobList retry_queue;		/* to send before anything new */
static JobList cancel_queue;	/* sorted by due */
static Job *free_jobs;
static long next_index;
static bool generation_done;
static Listing *pool;
static long pool_next;
static long notices;

/* ----------
 * Jobs and lists
 * ----------
 */
static Job *
job_alloc(void)
{
	Job		   *j = free_jobs;

	if (j)
		free_jobs = j->next;
	else
		j = xmalloc(sizeof(Job));
	memset(j, 0, sizeof(Job));
	return j;
}

static void
job_release(Job *j)
{
	free(j->message);
	j->message = NULL;
	j->next = free_jobs;
	free_jobs = j;
}

static void
list_push(JobList *l, Job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->n++;
}

static void
list_push_front(JobList *l, Job *j)
{
	j->next = l->head;
	l->head = j;
	if (l->tail == NULL)
		l->tail = j;
	l->n++;
}

static Job *
list_pop(JobList *l)
{
	Job		   *j = l->head;

	if (j)
	{
		l->head = j->next;
		if (l->head == NULL)
			l->tail = NULL;
		l->n--;
		j->next = NULL;
	}
	return j;
}

/* cancels in order of (due, order index): the same order on every run */
static void
cancel_insert(Job *j)
{
	Job		  **p = &cancel_queue.head;

	while (*p && ((*p)->due < j->due ||
				  ((*p)->due == j->due && (*p)->order.index <= j->order.index)))
		p = &(*p)->next;
	j->next = *p;
	*p = j;
	if (j->next == NULL)
		cancel_queue.tail = j;
	cancel_queue.n++;
}

/* back into the retry queue, to be sent again with the same content */
static void
requeue(Job *j)
{
	j->result = RES_NONE;
	j->group_end = false;
	list_push(&retry_queue, j);
}

/* ----------
 * Tallies
 * ----------
 */
void
tally_code(Tally *t, const char *code, const char *message)
{
	int			i;

	for (i = 0; i < t->ncodes; i++)
		if (strcmp(t->codes[i].code, code) == 0)
			break;
	if (i == t->ncodes)
	{
		CodeCount  *n = realloc(t->codes, (t->ncodes + 1) * sizeof(CodeCount));

		if (n == NULL)
			fatal(EXIT_FATAL, "out of memory");
		t->codes = n;
		memset(&n[i], 0, sizeof(CodeCount));
		snprintf(n[i].code, sizeof(n[i].code), "%s", code);
		n[i].example = xstrdup(message ? message : "");
		t->ncodes++;
	}
	t->codes[i].count++;
}

static bool
is_market_code(const char *code)
{
	return code[0] == 'C' && code[1] == 'M';
}

static bool
is_retryable_code(const char *code)
{
	return strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0;
}

/* the connection is gone, or going: class 08, or the server shutting it */
static bool
is_connection_code(const char *code)
{
	return (code[0] == '0' && code[1] == '8') ||
		strcmp(code, "57P01") == 0 || strcmp(code, "57P02") == 0 ||
		strcmp(code, "57P03") == 0;
}

static int
lat_bucket(int64_t us)
{
	int			e;
	int			b;

	if (us < 64)
		return us < 0 ? 0 : (int) us;
	e = 63 - __builtin_clzll((unsigned long long) us);
	b = 64 + (e - 6) * 32 + (int) ((us >> (e - 5)) & 31);
	return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

/* the middle of a bucket, microseconds */
static double
lat_value(int b)
{
	int			e;
	int64_t		lo;

	if (b < 64)
		return b + 0.5;
	e = 6 + (b - 64) / 32;
	lo = (int64_t) (32 + (b - 64) % 32) << (e - 5);
	return lo + (double) ((int64_t) 1 << (e - 5)) / 2;
}

double
latency_percentile(const RunStats *s, double p)
{
	long		want;
	long		seen = 0;

	if (s->lat_count == 0 || s->lat_buckets == NULL)
		return 0;
	want = (long) (p * s->lat_count);
	if (want >= s->lat_count)
		want = s->lat_count - 1;
	for (int b = 0; b < LAT_BUCKETS; b++)
	{
		seen += s->lat_buckets[b];
		if (seen > want)
			return lat_value(b) / 1000.0;
	}
	return 0;
}

static void
describe(const Job *j, char *buf, size_t len)
{
	char		price[32];
	char		who[48];
	char		take[48] = "";

	if (j->kind == JOB_CANCEL)
	{
		snprintf(buf, len, "cancel of order %ld (id %" PRId64 ")", j->order.index, j->cancel_id);
		return;
	}
	format_price(j->order.price_li, price, sizeof(price));
	if (j->order.participant)
		snprintf(who, sizeof(who), "participant %" PRId64, j->order.participant);
	else
		snprintf(who, sizeof(who), "self");
	if (j->order.take_order_id)
		snprintf(take, sizeof(take), ", taking %" PRId64, j->order.take_order_id);
	snprintf(buf, len, "order %ld: %s %s %" PRId64 " t at %s for %s%s",
			 j->order.index, opt->products[j->order.product], j->order.buy ? "buy" : "sell",
			 j->order.quantity, price, who, take);
}

/* ----------
 * Outcomes
 * ----------
 */
static void
record_latency(const Job *j)
{
	int64_t		us = (int64_t) ((now_seconds() - j->sent_at) * 1e6);

	st->lat_buckets[lat_bucket(us)]++;
	st->lat_count++;
}

static void
pool_add(const Job *j)
{
	Listing    *l = &pool[pool_next++ % POOL_SIZE];

	l->order_id = j->value;
	l->price_li = j->order.price_li;
	l->quantity = j->order.quantity;
	l->participant = j->order.participant;
	l->product = j->order.product;
	l->buy = j->order.buy;
	l->live = true;
}

static void
accepted(Job *j)
{
	char		what[256];

	record_latency(j);
	if (opt->verbose)
	{
		describe(j, what, sizeof(what));
		if (j->kind == JOB_ORDER)
			fprintf(stderr, "%s: accepted, order id %" PRId64 "\n", what, j->value);
		else
			fprintf(stderr, "%s: accepted\n", what);
	}
	if (j->kind == JOB_CANCEL)
	{
		st->cancels.accepted++;
		job_release(j);
		return;
	}
	st->orders.accepted++;
	if (opt->take_ppm > 0 && j->order.take_order_id == 0 && j->value > 0)
		pool_add(j);
	if (j->order.cancel && j->value > 0 && interrupt_count == 0)
	{
		/* the same job becomes the order's cancel */
		j->kind = JOB_CANCEL;
		j->cancel_id = j->value;
		j->due = next_index + j->order.cancel_delay;
		j->ever_sent = false;
		j->maybe_applied = false;
		j->attempts = 0;
		j->result = RES_NONE;
		j->group_end = false;
		cancel_insert(j);
		return;
	}
	job_release(j);
}

/* a final error answer: a market rejection or another error */
static void
failed(Job *j)
{
	Tally	   *t = j->kind == JOB_ORDER ? &st->orders : &st->cancels;
	char		what[256];

	record_latency(j);
	if (is_market_code(j->code))
		t->rejected++;
	else
		t->errors++;
	tally_code(t, j->code[0] ? j->code : "-----", j->message);
	if (opt->verbose)
	{
		describe(j, what, sizeof(what));
		fprintf(stderr, "%s: %s %s: %s\n", what,
				is_market_code(j->code) ? "rejected" : "ERROR",
				j->code[0] ? j->code : "(no SQLSTATE)", j->message ? j->message : "");
	}
	job_release(j);
}

/* the connection was lost and the job cannot be sent again */
static void
outcome_unknown(Job *j, bool known_not_applied)
{
	Tally	   *t = j->kind == JOB_ORDER ? &st->orders : &st->cancels;
	char		what[256];

	if (known_not_applied)
	{
		t->errors++;
		tally_code(t, "08006", "connection lost; rolled back, not sent again (--retries exhausted)");
	}
	else
		t->unknown++;
	if (opt->verbose)
	{
		describe(j, what, sizeof(what));
		fprintf(stderr, "%s: %s\n", what,
				known_not_applied ? "connection lost, rolled back, not sent again"
				: "connection lost, outcome unknown");
	}
	job_release(j);
}

/*
 * The transaction of a group of in-flight jobs has ended: the client's
 * oldest jobs up to the first with group_end.  Decide each job.
 */
static void
finalize_group(Client *c)
{
	Job		   *group = NULL;
	Job		  **tail = &group;
	Job		   *err = NULL;
	Job		   *j;
	bool		end = false;

	while (!end && (j = list_pop(&c->inflight)) != NULL)
	{
		end = j->group_end;
		*tail = j;
		tail = &j->next;
		if (err == NULL && j->result != RES_OK)
			err = j;
	}
	if (c->inflight.head == NULL)
		c->cursor = NULL;

	for (j = group; j; j = group)
	{
		group = j->next;
		j->next = NULL;
		if (err == NULL)
			accepted(j);
		else if (j != err || err->result != RES_ERROR)
			requeue(j);			/* rolled back with its group: send again */
		else if (is_retryable_code(j->code) && j->attempts < opt->retries)
		{
			/*
			 * Alone next time: two orders that keep failing in turn in one
			 * group would otherwise roll each other back for ever.
			 */
			j->attempts++;
			j->solo = true;
			st->retried++;
			requeue(j);
		}
		else
			failed(j);
	}
}

/* ----------
 * Connections
 * ----------
 */
static void
notice_processor(void *arg, const char *message)
{
	(void) arg;
	notices++;
	if (opt && !opt->quiet && (opt->verbose || notices <= 5))
		fprintf(stderr, "%s", message);
	if (opt && !opt->quiet && !opt->verbose && notices == 5)
		fprintf(stderr, LOAD_NAME ": further notices are counted, not shown\n");
}

PGconn *
connect_one(const Options *o, bool quiet_failure)
{
	const char *keys[3];
	const char *values[3];
	int			n = 0;
	PGconn	   *conn;

	if (o->conninfo)
	{
		keys[n] = "dbname";
		values[n++] = o->conninfo;
	}
	keys[n] = "fallback_application_name";
	values[n++] = LOAD_NAME;
	keys[n] = NULL;
	values[n] = NULL;

	/*
	 * A connection lost while the --set values are applied (e.g. a backend
	 * terminated by an administrator) is opened again, a few times; a value
	 * the server refuses ends the attempt.
	 */
	for (int attempt = 0;; attempt++)
	{
		bool		lost = false;

		conn = PQconnectdbParams(keys, values, 1);
		if (conn == NULL)
			fatal(EXIT_FATAL, "out of memory");
		if (PQstatus(conn) != CONNECTION_OK)
		{
			if (!quiet_failure)
				fprintf(stderr, LOAD_NAME ": could not connect: %s", PQerrorMessage(conn));
			PQfinish(conn);
			return NULL;
		}
		if (opt == NULL)
			opt = o;
		PQsetNoticeProcessor(conn, notice_processor, NULL);
		for (int i = 0; i < o->nsets && !lost; i++)
		{
			const char *params[2] = {o->set_names[i], o->set_values[i]};
			PGresult   *res = PQexecParams(conn, "SELECT pg_catalog.set_config($1, $2, false)",
											2, NULL, params, NULL, NULL, 0);

			if (PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				lost = PQstatus(conn) != CONNECTION_OK;
				if (!lost || attempt >= 10)
				{
					fprintf(stderr, LOAD_NAME ": could not set %s: %s", o->set_names[i],
							PQerrorMessage(conn));
					PQclear(res);
					PQfinish(conn);
					return NULL;
				}
			}
			PQclear(res);
		}
		if (!lost)
			return conn;
		PQfinish(conn);
	}
}

/* false, with the message on stderr, if the market's functions are missing */
static bool
prepare_one(PGconn *conn, const char *name, const char *sql, int n, const Oid *types)
{
	PGresult   *res = PQprepare(conn, name, sql, n, types);
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, LOAD_NAME ": could not prepare \"%s\": %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

static bool
setup_connection(PGconn *conn)
{
	const char *order_sql = opt->mode == MODE_SUBMIT
		? "SELECT carbonmkt.submit_order($1, $2, $3, $4, $5, $6, $7)"
		: "SELECT carbonmkt.queue_order($1, $2, $3, $4, $5, $6, $7)";

	if (!prepare_one(conn, ORDER_STMT, order_sql, 7, order_types))
		return false;
	if (opt->cancel_ppm > 0 &&
		!prepare_one(conn, CANCEL_STMT, "SELECT carbonmkt.cancel_order($1, $2)", 2, cancel_types))
		return false;
	if (PQsetnonblocking(conn, 1) != 0)
	{
		fprintf(stderr, LOAD_NAME ": could not make the connection non-blocking: %s",
				PQerrorMessage(conn));
		return false;
	}
	if (opt->pipeline && PQenterPipelineMode(conn) != 1)
	{
		fprintf(stderr, LOAD_NAME ": could not enter pipeline mode: %s", PQerrorMessage(conn));
		return false;
	}
	return true;
}

static void
sleep_seconds(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t) s;
	ts.tv_nsec = (long) ((s - ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && interrupt_count == 0)
		;
}

/* a new connection for a client whose connection was lost */
static void
reconnect(Client *c)
{
	double		deadline = now_seconds() + RECONNECT_SECONDS;
	double		pause = 0.05;

	if (c->conn)
		PQfinish(c->conn);
	c->conn = NULL;
	c->cursor = NULL;
	c->await_sync = false;
	c->since_sync = 0;
	c->want_write = false;
	while (interrupt_count < 2)
	{
		PGconn	   *conn = connect_one(opt, true);

		if (conn && setup_connection(conn))
		{
			c->conn = conn;
			st->reconnects++;
			return;
		}
		if (conn)
			PQfinish(conn);
		if (now_seconds() + pause > deadline)
			break;
		sleep_seconds(pause);
		pause = pause * 2 > 1.0 ? 1.0 : pause * 2;
	}
	if (!opt->quiet)
		fprintf(stderr, LOAD_NAME ": connection %d lost and could not reconnect\n", c->id);
	c->alive = false;
}

/*
 * The connection broke.  Every in-flight job is decided or sent again:
 * rolled back for certain (its group had already failed) or carrying a
 * client reference -> sent again, up to --retries times; otherwise its
 * outcome is unknown.
 */
static void
connection_lost(Client *c, const char *why)
{
	Job		   *j;
	Job		   *group_start = c->inflight.head;
	bool		group_failed = false;

	if (!opt->quiet)
		fprintf(stderr, LOAD_NAME ": connection %d lost (%s), %ld request%s in flight\n",
				c->id, why, c->inflight.n, c->inflight.n == 1 ? "" : "s");
	/* which groups had already failed: their jobs were certainly rolled back */
	for (j = group_start; j; j = j->next)
	{
		if (j->result == RES_ERROR || j->result == RES_ABORTED)
			group_failed = true;
		if (j->group_end || j->next == NULL)
		{
			for (Job *k = group_start; k != j->next; k = k->next)
				k->maybe_applied = !group_failed;
			group_start = j->next;
			group_failed = false;
		}
	}
	while ((j = list_pop(&c->inflight)) != NULL)
	{
		bool		resend = !j->maybe_applied || opt->references;

		if (resend && j->attempts < opt->retries)
		{
			j->attempts++;
			requeue(j);
		}
		else
			outcome_unknown(j, !j->maybe_applied);
	}
	reconnect(c);
}

/* ----------
 * Sending
 * ----------
 */

/* a taker names a recent listing of the other side of its product */
static void
resolve_take(Job *j)
{
	long		n = pool_next < POOL_SIZE ? pool_next : POOL_SIZE;

	j->resolved = true;
	if (!j->order.take)
		return;
	for (long i = 1; i <= n; i++)
	{
		Listing    *l = &pool[(pool_next - i) % POOL_SIZE];

		if (l->live && l->product == j->order.product && l->buy != j->order.buy &&
			l->participant != j->order.participant)
		{
			l->live = false;
			j->order.take_order_id = l->order_id;
			j->order.price_li = l->price_li;
			if (j->order.quantity > l->quantity)
				j->order.quantity = l->quantity;
			st->takes++;
			return;
		}
	}
}

static Job *
next_job(void)
{
	Job		   *j = list_pop(&retry_queue);

	if (j)
		return j;
	if (cancel_queue.head && (generation_done || cancel_queue.head->due <= next_index))
		return list_pop(&cancel_queue);
	if (!generation_done && opt->orders >= 0 && next_index >= opt->orders)
		generation_done = true;
	if (generation_done)
		return NULL;
	j = job_alloc();
	j->kind = JOB_ORDER;
	generate_order(opt, mkt, next_index++, &j->order);
	st->generated++;
	return j;
}

static bool
send_job(Client *c, Job *j)
{
	char		qty[32];
	char		price[32];
	char		take[32];
	char		participant[32];
	char		ref[160];
	char		id[32];
	const char *values[7];
	int			ok;

	if (j->kind == JOB_ORDER)
	{
		if (!j->resolved)
			resolve_take(j);
		snprintf(qty, sizeof(qty), "%" PRId64, j->order.quantity);
		format_price(j->order.price_li, price, sizeof(price));
		snprintf(take, sizeof(take), "%" PRId64, j->order.take_order_id);
		snprintf(participant, sizeof(participant), "%" PRId64, j->order.participant);
		format_reference(opt, j->order.index, false, ref, sizeof(ref));
		values[0] = opt->products[j->order.product];
		values[1] = j->order.buy ? "buy" : "sell";
		values[2] = qty;
		values[3] = price;
		values[4] = j->order.take_order_id ? take : NULL;
		values[5] = opt->references ? ref : NULL;
		values[6] = j->order.participant ? participant : NULL;
		ok = PQsendQueryPrepared(c->conn, ORDER_STMT, 7, values, NULL, NULL, 0);
	}
	else
	{
		snprintf(id, sizeof(id), "%" PRId64, j->cancel_id);
		format_reference(opt, j->order.index, true, ref, sizeof(ref));
		values[0] = id;
		values[1] = opt->references ? ref : NULL;
		ok = PQsendQueryPrepared(c->conn, CANCEL_STMT, 2, values, NULL, NULL, 0);
	}
	if (!ok)
		return false;
	if (j->ever_sent)
		st->resent++;
	else
	{
		j->ever_sent = true;
		if (j->kind == JOB_ORDER)
			st->orders.sent++;
		else
			st->cancels.sent++;
	}
	j->sent_at = now_seconds();
	j->result = RES_NONE;
	j->group_end = false;
	free(j->message);
	j->message = NULL;
	j->code[0] = '\0';
	return true;
}

static void
flush(Client *c)
{
	int			r = PQflush(c->conn);

	if (r < 0)
		connection_lost(c, "could not send");
	else
		c->want_write = (r == 1);
}

/* keep the client's window full */
static void
fill(Client *c)
{
	int			window = opt->pipeline ? opt->depth : 1;

	while (c->alive && c->inflight.n < window)
	{
		Job		   *j = next_job();

		if (j == NULL)
			break;
		if (opt->pipeline && j->solo && c->since_sync > 0)
		{
			/* close the group before it */
			if (PQpipelineSync(c->conn) != 1)
			{
				list_push_front(&retry_queue, j);
				connection_lost(c, "could not send a pipeline sync");
				return;
			}
			c->inflight.tail->group_end = true;
			c->since_sync = 0;
		}
		if (!send_job(c, j))
		{
			char		why[MAX_MESSAGE];

			snprintf(why, sizeof(why), "%s", PQerrorMessage(c->conn));
			why[strcspn(why, "\n")] = '\0';
			list_push_front(&retry_queue, j);	/* not sent: first in line */
			connection_lost(c, why);
			return;
		}
		list_push(&c->inflight, j);
		if (c->cursor == NULL)
			c->cursor = j;
		if (!opt->pipeline)
			j->group_end = true;
		else if (++c->since_sync >= opt->sync_every || j->solo)
		{
			if (PQpipelineSync(c->conn) != 1)
			{
				connection_lost(c, "could not send a pipeline sync");
				return;
			}
			j->group_end = true;
			c->since_sync = 0;
		}
	}
	/* never leave a group open: its transaction would wait for more */
	if (c->alive && opt->pipeline && c->since_sync > 0)
	{
		if (PQpipelineSync(c->conn) != 1)
		{
			connection_lost(c, "could not send a pipeline sync");
			return;
		}
		c->inflight.tail->group_end = true;
		c->since_sync = 0;
	}
	if (c->alive && c->inflight.n > 0)
		flush(c);
}

/* ----------
 * Receiving
 * ----------
 */
static void
record_result(Job *j, PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);

	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)
	{
		j->result = RES_OK;
		j->value = 0;
		if (PQntuples(res) == 1 && PQnfields(res) >= 1 && !PQgetisnull(res, 0, 0))
			j->value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	else if (s == PGRES_PIPELINE_ABORTED)
		j->result = RES_ABORTED;
	else
	{
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		size_t		n;

		j->result = RES_ERROR;
		snprintf(j->code, sizeof(j->code), "%s", code ? code : "");
		if (msg == NULL)
			msg = PQresultErrorMessage(res);
		if (msg == NULL || *msg == '\0')
			msg = PQresStatus(s);
		free(j->message);
		j->message = xstrdup(msg);
		n = strlen(j->message);
		if (n > MAX_MESSAGE)
			j->message[MAX_MESSAGE] = '\0';
		while (n > 0 && j->message[n - 1] == '\n')
			j->message[--n] = '\0';
	}
}

static void
read_results(Client *c)
{
	char		why[MAX_MESSAGE + 64];

	if (!PQconsumeInput(c->conn))
	{
		snprintf(why, sizeof(why), "%s", PQerrorMessage(c->conn));
		why[strcspn(why, "\n")] = '\0';
		connection_lost(c, why);
		return;
	}
	while (c->cursor || c->await_sync)
	{
		PGresult   *res;

		if (PQisBusy(c->conn))
			break;
		res = PQgetResult(c->conn);
		if (PQstatus(c->conn) == CONNECTION_BAD)
		{
			snprintf(why, sizeof(why), "%s", PQerrorMessage(c->conn));
			why[strcspn(why, "\n")] = '\0';
			PQclear(res);
			connection_lost(c, why);
			return;
		}
		if (res == NULL)
		{
			Job		   *j = c->cursor;

			if (j == NULL || j->result == RES_NONE)
			{
				connection_lost(c, "protocol confusion: a result is missing");
				return;
			}
			c->cursor = j->next;
			if (!opt->pipeline)
				finalize_group(c);
			else if (j->group_end)
				c->await_sync = true;
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			if (!c->await_sync)
			{
				connection_lost(c, "protocol confusion: an unexpected pipeline sync");
				return;
			}
			c->await_sync = false;
			finalize_group(c);
			continue;
		}
		if (c->cursor == NULL || c->cursor->result != RES_NONE)
		{
			PQclear(res);
			connection_lost(c, "protocol confusion: an unexpected result");
			return;
		}
		record_result(c->cursor, res);
		PQclear(res);
		if (c->cursor->result == RES_ERROR && is_connection_code(c->cursor->code))
		{
			snprintf(why, sizeof(why), "%s %s", c->cursor->code, c->cursor->message);
			connection_lost(c, why);
			return;
		}
	}
}

/* ----------
 * The load phase
 * ----------
 */
static void
progress_line(double t, double *last_t, long *last_done)
{
	long		done = st->orders.accepted + st->orders.rejected + st->orders.errors;
	double		dt = t - *last_t;

	fprintf(stderr, "progress: %.1f s, %ld orders sent, %ld accepted, %ld rejected, %ld errors, "
			"%.0f orders/s\n", t, st->orders.sent, st->orders.accepted, st->orders.rejected,
			st->orders.errors, dt > 0 ? (done - *last_done) / dt : 0.0);
	*last_t = t;
	*last_done = done;
}

static bool
work_left(void)
{
	if (retry_queue.head || cancel_queue.head || !generation_done)
		return true;
	for (int i = 0; i < nclients; i++)
		if (clients[i].alive && clients[i].inflight.n > 0)
			return true;
	return false;
}

/* every connection is gone: account for what is left */
static void
abandon_queues(void)
{
	Job		   *j;

	while ((j = list_pop(&retry_queue)) != NULL)
	{
		Tally	   *t = j->kind == JOB_ORDER ? &st->orders : &st->cancels;

		if (j->maybe_applied)
			t->unknown++;
		else
			st->unsent++;
		job_release(j);
	}
	while ((j = list_pop(&cancel_queue)) != NULL)
	{
		st->unsent++;
		job_release(j);
	}
}

void
run_load(const Options *o, const Market *m, PGconn *first, RunStats *s)
{
	struct pollfd *fds;
	int		   *fd_client;
	double		t0;
	double		last_progress;
	long		last_done = 0;

	opt = o;
	mkt = m;
	st = s;
	st->lat_buckets = xcalloc(LAT_BUCKETS, sizeof(long));
	pool = xcalloc(POOL_SIZE, sizeof(Listing));
	nclients = opt->clients;
	clients = xcalloc(nclients, sizeof(Client));
	fds = xcalloc(nclients, sizeof(struct pollfd));
	fd_client = xcalloc(nclients, sizeof(int));

	for (int i = 0; i < nclients; i++)
	{
		Client	   *c = &clients[i];

		c->id = i;
		c->alive = true;
		c->conn = i == 0 ? first : connect_one(opt, false);
		if (c->conn == NULL)
			fatal(EXIT_FATAL, "could not open connection %d of %d", i + 1, nclients);
		if (!setup_connection(c->conn))
		{
			/* a real error ends the run; a lost connection is replaced */
			if (PQstatus(c->conn) == CONNECTION_OK)
				fatal(EXIT_FATAL, "could not set up connection %d of %d", i + 1, nclients);
			reconnect(c);
			if (!c->alive)
				fatal(EXIT_FATAL, "could not set up connection %d of %d", i + 1, nclients);
		}
	}

	t0 = now_seconds();
	last_progress = 0;
	for (;;)
	{
		int			nfds = 0;
		int			alive = 0;
		int			timeout = 100;
		double		t = now_seconds() - t0;

		if (interrupt_count > 0 && !st->interrupted)
		{
			Job		   *j;

			st->interrupted = true;
			generation_done = true;
			while ((j = list_pop(&cancel_queue)) != NULL)
			{
				st->unsent++;
				job_release(j);
			}
		}
		if (opt->duration > 0 && t >= opt->duration)
			generation_done = true;
		if (opt->progress > 0 && t - last_progress >= opt->progress)
			progress_line(t, &last_progress, &last_done);

		for (int i = 0; i < nclients; i++)
			fill(&clients[i]);
		if (!work_left())
			break;

		for (int i = 0; i < nclients; i++)
		{
			Client	   *c = &clients[i];

			if (!c->alive)
				continue;
			alive++;
			if (c->inflight.n == 0 && !c->want_write)
				continue;
			fds[nfds].fd = PQsocket(c->conn);
			fds[nfds].events = POLLIN | (c->want_write ? POLLOUT : 0);
			fds[nfds].revents = 0;
			fd_client[nfds++] = i;
		}
		if (alive == 0)
		{
			st->all_lost = true;
			abandon_queues();
			break;
		}
		if (opt->duration > 0 && !generation_done)
		{
			int			left = (int) ((opt->duration - t) * 1000) + 1;

			if (left < timeout)
				timeout = left;
		}
		if (nfds == 0)
		{
			/* nothing to wait for (should not happen): do not spin */
			(void) poll(NULL, 0, 10);
			continue;
		}
		if (poll(fds, nfds, timeout) < 0)
		{
			if (errno == EINTR)
				continue;
			fatal(EXIT_FATAL, "poll failed: %s", strerror(errno));
		}
		for (int k = 0; k < nfds; k++)
		{
			Client	   *c = &clients[fd_client[k]];

			PGconn	   *polled = c->conn;

			if (!c->alive || fds[k].revents == 0)
				continue;
			if (c->want_write)
				flush(c);
			/* flush() may have lost the connection and made a new one */
			if (c->alive && c->conn == polled &&
				(fds[k].revents & (POLLIN | POLLERR | POLLHUP)))
				read_results(c);
		}
	}
	st->elapsed = now_seconds() - t0;
	st->notices = notices;
	if (opt->progress > 0 && !opt->quiet)
		progress_line(st->elapsed, &last_progress, &last_done);
	free(fds);
	free(fd_client);
}

/* ----------
 * The process_queue phase: CALLs in parallel over the connections
 * ----------
 */
static void
call_lost(Client *c)
{
	/* this CALL and the ones still waiting for this connection */
	long		lost = c->ncalls - c->next_call + (c->call_busy ? 1 : 0);

	for (long i = 0; i < lost; i++)
	{
		st->process.errors++;
		tally_code(&st->process, "08006", PQerrorMessage(c->conn));
	}
	c->call_busy = false;
	c->next_call = c->ncalls;
	c->alive = false;
}

static void
call_flush(Client *c)
{
	int			r = PQflush(c->conn);

	if (r < 0)
		call_lost(c);
	else
		c->want_write = (r == 1);
}

static bool
call_send(Client *c)
{
	if (PQsendQuery(c->conn, c->calls[c->next_call]) != 1)
	{
		call_lost(c);
		return false;
	}
	c->call_busy = true;
	c->next_call++;
	st->process.sent++;
	call_flush(c);
	return c->alive;
}

static void
call_results(Client *c)
{
	if (!PQconsumeInput(c->conn))
	{
		call_lost(c);
		return;
	}
	while (!PQisBusy(c->conn))
	{
		PGresult   *res = PQgetResult(c->conn);

		if (res == NULL)
		{
			c->call_busy = false;
			if (c->alive && c->next_call < c->ncalls)
				call_send(c);
			return;
		}
		if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
			st->process.accepted++;
		else
		{
			const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

			if (code && is_market_code(code))
				st->process.rejected++;
			else
				st->process.errors++;
			tally_code(&st->process, code ? code : "-----", msg ? msg : PQerrorMessage(c->conn));
			if (!opt->quiet)
				fprintf(stderr, LOAD_NAME ": %s: %s", c->calls[c->next_call - 1],
						PQerrorMessage(c->conn));
		}
		PQclear(res);
		if (PQstatus(c->conn) == CONNECTION_BAD)
		{
			c->call_busy = false;
			call_lost(c);
			return;
		}
	}
}

void
run_process_queue(const Options *o, RunStats *s)
{
	int			ncalls = o->process_queue == PROCESS_EACH ? o->nproducts : 1;
	int			alive = 0;
	int			k = 0;
	struct pollfd *fds = xcalloc(nclients, sizeof(struct pollfd));
	int		   *fd_client = xcalloc(nclients, sizeof(int));
	double		t0;

	for (int i = 0; i < nclients; i++)
	{
		Client	   *c = &clients[i];

		if (c->alive && opt->pipeline && PQexitPipelineMode(c->conn) != 1)
			c->alive = false;
		if (c->alive)
		{
			c->calls = xcalloc(ncalls, sizeof(char *));
			alive++;
		}
	}
	if (alive == 0)
	{
		s->process.errors++;
		tally_code(&s->process, "08006", "no connection left for CALL carbonmkt.process_queue");
		free(fds);
		free(fd_client);
		return;
	}
	/* products round-robin over the live connections */
	for (int i = 0; k < ncalls; i = (i + 1) % nclients)
	{
		Client	   *c = &clients[i];
		char	   *lit;
		char	   *sql;

		if (!c->alive)
			continue;
		if (o->process_queue == PROCESS_ALL)
		{
			c->calls[c->ncalls++] = xstrdup("CALL carbonmkt.process_queue()");
			k++;
			continue;
		}
		lit = PQescapeLiteral(c->conn, o->products[k], strlen(o->products[k]));
		if (lit == NULL)
			fatal(EXIT_FATAL, "could not quote product %s: %s", o->products[k],
				  PQerrorMessage(c->conn));
		sql = xmalloc(strlen(lit) + 64);
		sprintf(sql, "CALL carbonmkt.process_queue(%s)", lit);
		PQfreemem(lit);
		c->calls[c->ncalls++] = sql;
		k++;
	}

	t0 = now_seconds();
	for (int i = 0; i < nclients; i++)
		if (clients[i].alive && clients[i].ncalls > 0)
			call_send(&clients[i]);
	for (;;)
	{
		int			nfds = 0;

		for (int i = 0; i < nclients; i++)
		{
			Client	   *c = &clients[i];

			if (!c->alive || !c->call_busy)
				continue;
			fds[nfds].fd = PQsocket(c->conn);
			fds[nfds].events = POLLIN | (c->want_write ? POLLOUT : 0);
			fds[nfds].revents = 0;
			fd_client[nfds++] = i;
		}
		if (nfds == 0)
			break;
		if (poll(fds, nfds, 1000) < 0)
		{
			if (errno == EINTR)
				continue;
			fatal(EXIT_FATAL, "poll failed: %s", strerror(errno));
		}
		for (int i = 0; i < nfds; i++)
		{
			Client	   *c = &clients[fd_client[i]];

			if (fds[i].revents == 0)
				continue;
			if (c->want_write)
				call_flush(c);
			if (c->alive && (fds[i].revents & (POLLIN | POLLERR | POLLHUP)))
				call_results(c);
		}
	}
	s->process_elapsed = now_seconds() - t0;
	s->process_calls = ncalls;
	free(fds);
	free(fd_client);
}

/*
 * A live connection for a last query (the fills after the run), out of
 * pipeline mode; NULL if none is left.
 */
PGconn *
idle_connection(void)
{
	for (int i = 0; i < nclients; i++)
	{
		Client	   *c = &clients[i];

		if (!c->alive || c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK)
			continue;
		if (PQpipelineStatus(c->conn) != PQ_PIPELINE_OFF && PQexitPipelineMode(c->conn) != 1)
			continue;
		if (PQsetnonblocking(c->conn, 0) != 0)
			continue;
		return c->conn;
	}
	return NULL;
}

void
finish_connections(void)
{
	Job		   *j;

	for (int i = 0; i < nclients; i++)
	{
		Client	   *c = &clients[i];

		while ((j = list_pop(&c->inflight)) != NULL)
			job_release(j);
		if (c->conn)
			PQfinish(c->conn);
		for (int k = 0; k < c->ncalls; k++)
			free(c->calls[k]);
		free(c->calls);
	}
	while ((j = list_pop(&retry_queue)) != NULL)
		job_release(j);
	while ((j = list_pop(&cancel_queue)) != NULL)
		job_release(j);
	while ((j = free_jobs) != NULL)
	{
		free_jobs = j->next;
		free(j);
	}
	free(clients);
	free(pool);
	clients = NULL;
	pool = NULL;
	nclients = 0;
}

static void
free_tally(Tally *t)
{
	for (int i = 0; i < t->ncodes; i++)
		free(t->codes[i].example);
	free(t->codes);
	t->codes = NULL;
	t->ncodes = 0;
}

void
free_stats(RunStats *s)
{
	free_tally(&s->orders);
	free_tally(&s->cancels);
	free_tally(&s->process);
	free(s->lat_buckets);
	s->lat_buckets = NULL;
}
