/*-------------------------------------------------------------------------
 *
 * load_main.c
 *	  carbonmkt-load: set-up queries, the dry run, the report, main().
 *
 * Before the load, on the first connection: the participants to trade for
 * (--participants all), each product's price centre (its previous close,
 * else a fallback) and the fills counter.  After it: CALL process_queue if
 * asked, the fills counter again, and the report, whose last line is a
 * machine-readable summary.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * src/cli/load_main.c
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load.h"

#define SETUP_SECONDS		10.0	/* to finish the set-up despite lost connections */

typedef struct Fills
{
	bool		ok;
	int64_t		count;
	int64_t		tonnes;
	char	   *why;			/* when not ok */
} Fills;

static void
on_signal(int signo)
{
	static const char msg[] = "\n" LOAD_NAME ": interrupted: no new orders, waiting for "
		"the answers in flight (interrupt again to quit at once)\n";

	if (++interrupt_count >= 2)
		_exit(130);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		interrupt_count++;		/* nothing more to do about it */
	(void) signo;
}

static char *
first_line(const char *s)
{
	char	   *c = xstrdup(s ? s : "");

	c[strcspn(c, "\n")] = '\0';
	return c;
}

/* ----------
 * Set-up
 * ----------
 */
/*
 * The set-up steps return false when the connection was lost (main then
 * starts the set-up again on a new one); a query that fails on a live
 * connection is an answer: fatal, or the documented fallback.
 */
static bool
connection_lost(PGconn *conn, PGresult *res)
{
	if (PQstatus(conn) != CONNECTION_BAD)
		return false;
	PQclear(res);
	return true;
}

static bool
load_participants(const Options *opt, PGconn *conn, Market *mkt)
{
	PGresult   *res;

	if (opt->participant_source == PARTICIPANTS_SELF)
		return true;
	if (opt->participant_source == PARTICIPANTS_LIST)
	{
		mkt->nparticipants = opt->nparticipant_ids;
		mkt->participants = xmalloc(mkt->nparticipants * sizeof(int64_t));
		memcpy(mkt->participants, opt->participant_ids, mkt->nparticipants * sizeof(int64_t));
		return true;
	}
	res = PQexec(conn, opt->participants_sql);
	if (connection_lost(conn, res))
		return false;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 1)
	{
		char	   *m = first_line(PQerrorMessage(conn));

		PQclear(res);
		PQfinish(conn);
		fatal(EXIT_FATAL, "could not read the participants: %s%s", m,
			  *m ? "" : "the query must answer one bigint column");
	}
	mkt->nparticipants = PQntuples(res);
	if (mkt->nparticipants == 0)
	{
		PQclear(res);
		PQfinish(conn);
		fatal(EXIT_FATAL, "no participants to trade for: no key emitter has an open holding "
			  "and an open cash account (or give --participants)");
	}
	mkt->participants = xmalloc(mkt->nparticipants * sizeof(int64_t));
	for (long i = 0; i < mkt->nparticipants; i++)
		mkt->participants[i] = strtoll(PQgetvalue(res, (int) i, 0), NULL, 10);
	PQclear(res);
	return true;
}

/* previous close of each product, else the fallback */
static bool
load_centers(const Options *opt, PGconn *conn, Market *mkt, char **why)
{
	mkt->center_fen = xcalloc(opt->nproducts, sizeof(int64_t));
	mkt->center_source = xcalloc(opt->nproducts, sizeof(char *));
	for (int i = 0; i < opt->nproducts; i++)
	{
		const char *param[1] = {opt->products[i]};
		PGresult   *res;
		int64_t		fen;

		if (opt->price_center_given)
		{
			mkt->center_fen[i] = opt->price_center_fen;
			mkt->center_source[i] = "given";
			continue;
		}
		mkt->center_fen[i] = opt->price_fallback_fen;
		mkt->center_source[i] = "fallback";
		if (conn == NULL)
			continue;
		res = PQexecParams(conn, opt->price_sql, 1, NULL, param, NULL, NULL, 0);
		if (connection_lost(conn, res))
			return false;
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
			PQnfields(res) >= 1 && !PQgetisnull(res, 0, 0) &&
			parse_fixed(PQgetvalue(res, 0, 0), 2, true, &fen) && fen > 0)
		{
			mkt->center_fen[i] = fen;
			mkt->center_source[i] = "previous close";
		}
		else if (*why == NULL)
		{
			if (PQresultStatus(res) != PGRES_TUPLES_OK)
				*why = first_line(PQerrorMessage(conn));
			else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
				*why = xstrdup("no previous close");
			else
				*why = xstrdup("the previous close is not a positive number");
		}
		PQclear(res);
	}
	/* the centre sits on the price grid */
	for (int i = 0; i < opt->nproducts; i++)
	{
		int64_t		t = opt->tick_fen;

		mkt->center_fen[i] = (mkt->center_fen[i] + t / 2) / t * t;
		if (mkt->center_fen[i] < t)
			mkt->center_fen[i] = t;
	}
	return true;
}

static bool
read_fills(const Options *opt, PGconn *conn, Fills *f)
{
	PGresult   *res;

	f->ok = false;
	if (conn == NULL)
	{
		f->why = xstrdup("no connection left");
		return false;
	}
	res = PQexec(conn, opt->fills_sql);
	if (connection_lost(conn, res))
	{
		f->why = xstrdup("connection lost");
		return false;
	}
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) >= 2 &&
		!PQgetisnull(res, 0, 0) && !PQgetisnull(res, 0, 1))
	{
		f->ok = true;
		f->count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		f->tonnes = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		f->why = first_line(PQerrorMessage(conn));
	else
		f->why = xstrdup("the fills query must answer one row of two bigint columns");
	PQclear(res);
	return true;
}

static void
free_market(Market *mkt)
{
	free(mkt->center_fen);
	free(mkt->center_source);
	free(mkt->participants);
	memset(mkt, 0, sizeof(*mkt));
}

/* ----------
 * Dry run
 * ----------
 */
static int
dry_run(const Options *opt)
{
	Market		mkt = {0};
	char	   *why = NULL;
	long		buys = 0;
	long		invalid = 0;
	long		cancels = 0;
	long		takes = 0;
	int64_t		tonnes = 0;

	(void) load_centers(opt, NULL, &mkt, &why);
	if (opt->participant_source == PARTICIPANTS_LIST)
	{
		mkt.participants = opt->participant_ids;
		mkt.nparticipants = opt->nparticipant_ids;
	}
	printf("-- " LOAD_NAME " --dry-run: %s mode, seed %" PRIu64 ", %ld orders\n",
		   opt->mode == MODE_SUBMIT ? "submit" : "queue", opt->seed, opt->orders);
	for (int i = 0; i < opt->nproducts; i++)
		printf("-- product %s: centre %" PRId64 ".%02" PRId64 " CNY/t (%s%s), band +-%" PRId64
			   ".%02" PRId64 "%%\n", opt->products[i], mkt.center_fen[i] / 100,
			   mkt.center_fen[i] % 100, mkt.center_source[i],
			   opt->price_center_given ? "" : "; --dry-run does not query the previous close",
			   opt->spread_bp / 100, opt->spread_bp % 100);
	if (opt->participant_source == PARTICIPANTS_LIST)
		printf("-- participants: %ld from --participants\n", mkt.nparticipants);
	else
		printf("-- participants: NULL (%s)\n", opt->participant_source == PARTICIPANTS_SELF
			   ? "--participants self"
			   : "--dry-run does not query them; give --participants FROM-TO");
	for (long i = 0; i < opt->orders; i++)
	{
		Order		o;
		char		ref[160];

		generate_order(opt, &mkt, i, &o);
		print_order_sql(stdout, opt, &o);
		putchar('\n');
		buys += o.buy;
		tonnes += o.quantity;
		invalid += o.invalid != INVALID_NONE;
		if (o.take)
		{
			takes++;
			printf("--   order %ld names a resting listing to take, chosen at run time\n", i);
		}
		if (o.cancel)
		{
			cancels++;
			format_reference(opt, i, true, ref, sizeof(ref));
			printf("--   if accepted, cancelled %d orders later: "
				   "SELECT carbonmkt.cancel_order(<its order id>, ", o.cancel_delay);
			if (opt->references)
				print_sql_literal(stdout, ref);
			else
				printf("NULL");
			printf(");\n");
		}
	}
	if (opt->process_queue == PROCESS_EACH)
		for (int i = 0; i < opt->nproducts; i++)
		{
			printf("CALL carbonmkt.process_queue(");
			print_sql_literal(stdout, opt->products[i]);
			printf(");\n");
		}
	else if (opt->process_queue == PROCESS_ALL)
		printf("CALL carbonmkt.process_queue();\n");
	printf("-- " LOAD_NAME " summary dry_run=1 mode=%s seed=%" PRIu64 " orders=%ld buy=%ld "
		   "sell=%ld tonnes=%" PRId64 " invalid=%ld takes=%ld cancels=%ld\n",
		   opt->mode == MODE_SUBMIT ? "submit" : "queue", opt->seed, opt->orders, buys,
		   opt->orders - buys, tonnes, invalid, takes, cancels);
	if (opt->participant_source == PARTICIPANTS_LIST)
		mkt.participants = NULL;	/* owned by opt */
	free_market(&mkt);
	free(why);
	return EXIT_DONE;
}

/* ----------
 * Report
 * ----------
 */
static void
print_codes(const char *indent, const Tally *t)
{
	for (int i = 0; i < t->ncodes; i++)
		printf("%s%-6s %8ld  %s\n", indent, t->codes[i].code, t->codes[i].count,
			   t->codes[i].example);
}

static void
print_summary_codes(const char *prefix, const Tally *t)
{
	for (int i = 0; i < t->ncodes; i++)
		printf(" %ssqlstate_%s=%ld", prefix, t->codes[i].code, t->codes[i].count);
}

static void
report(const Options *opt, const Market *mkt, const RunStats *st, const Fills *before,
	   const Fills *after, const char *center_why)
{
	long		answered = st->orders.accepted + st->orders.rejected + st->orders.errors;
	double		rate = st->elapsed > 0 ? answered / st->elapsed : 0;
	bool		fills_ok = before->ok && after->ok;
	const char *mode = opt->mode == MODE_SUBMIT ? "submit" : "queue";

	if (!opt->quiet)
	{
		printf(LOAD_NAME ": %s mode, %d connection%s, ", mode, opt->clients,
			   opt->clients == 1 ? "" : "s");
		if (opt->pipeline)
			printf("pipeline depth %d (sync every %d)", opt->depth, opt->sync_every);
		else
			printf("no pipeline");
		printf(", seed %" PRIu64 "%s\n", opt->seed, opt->references ? ", client references" : "");
		for (int i = 0; i < opt->nproducts; i++)
			printf("  %-10s centre %" PRId64 ".%02" PRId64 " CNY/t (%s%s%s), band +-%" PRId64
				   ".%02" PRId64 "%%, tick %" PRId64 ".%02" PRId64 "\n",
				   opt->products[i], mkt->center_fen[i] / 100, mkt->center_fen[i] % 100,
				   mkt->center_source[i],
				   strcmp(mkt->center_source[i], "fallback") == 0 && center_why ? ": " : "",
				   strcmp(mkt->center_source[i], "fallback") == 0 && center_why ? center_why : "",
				   opt->spread_bp / 100, opt->spread_bp % 100,
				   opt->tick_fen / 100, opt->tick_fen % 100);
		if (opt->participant_source == PARTICIPANTS_SELF)
			printf("  participants: self (participant_id NULL)\n");
		else
			printf("  participants: %ld%s\n", mkt->nparticipants,
				   opt->participant_source != PARTICIPANTS_QUERY ? " (--participants)"
				   : opt->participants_sql_given ? " (--participants-sql)"
				   : " (key emitters with holding and cash accounts)");
		printf("orders    %8ld sent, %ld accepted, %ld rejected, %ld errors, %ld unknown",
			   st->orders.sent, st->orders.accepted, st->orders.rejected, st->orders.errors,
			   st->orders.unknown);
		if (st->unsent)
			printf(", %ld never sent", st->unsent);
		printf("\n");
		print_codes("  ", &st->orders);
		if (opt->take_ppm > 0)
			printf("takes     %8ld orders named a listing to take\n", st->takes);
		if (opt->cancel_ppm > 0)
		{
			printf("cancels   %8ld sent, %ld accepted, %ld rejected, %ld errors, %ld unknown\n",
				   st->cancels.sent, st->cancels.accepted, st->cancels.rejected,
				   st->cancels.errors, st->cancels.unknown);
			print_codes("  ", &st->cancels);
		}
		if (fills_ok)
			printf("fills     %8" PRId64 " (%" PRId64 " t)\n", after->count - before->count,
				   after->tonnes - before->tonnes);
		else
			printf("fills           NA (%s)\n", before->ok ? after->why : before->why);
		printf("resent    %8ld (retried %ld after 40001/40P01), %ld reconnects, %ld notices\n",
			   st->resent, st->retried, st->reconnects, st->notices);
		printf("elapsed   %8.3f s, %.1f orders/s, latency p50 %.2f ms, p99 %.2f ms\n",
			   st->elapsed, rate, latency_percentile(st, 0.50), latency_percentile(st, 0.99));
		if (opt->process_queue != PROCESS_NONE)
		{
			printf("process   %8ld CALL%s in %.3f s (%.1f queued orders/s), %ld failed\n",
				   st->process_calls, st->process_calls == 1 ? "" : "s", st->process_elapsed,
				   st->process_elapsed > 0 ? st->orders.accepted / st->process_elapsed : 0.0,
				   st->process.rejected + st->process.errors);
			print_codes("  ", &st->process);
		}
		if (st->interrupted)
			printf("interrupted: orders stopped early\n");
		if (st->all_lost)
			printf("every connection was lost\n");
	}

	printf(LOAD_NAME " summary mode=%s clients=%d pipeline=%d sync_every=%d seed=%" PRIu64
		   " references=%d orders=%ld generated=%ld sent=%ld accepted=%ld rejected=%ld"
		   " errors=%ld unknown=%ld unsent=%ld resent=%ld retried=%ld reconnects=%ld takes=%ld"
		   " cancels_sent=%ld cancels_accepted=%ld cancels_rejected=%ld cancels_errors=%ld"
		   " cancels_unknown=%ld",
		   mode, opt->clients, opt->pipeline ? opt->depth : 0, opt->sync_every, opt->seed,
		   opt->references ? 1 : 0, opt->orders, st->generated, st->orders.sent,
		   st->orders.accepted, st->orders.rejected, st->orders.errors, st->orders.unknown,
		   st->unsent, st->resent, st->retried, st->reconnects, st->takes, st->cancels.sent,
		   st->cancels.accepted, st->cancels.rejected, st->cancels.errors, st->cancels.unknown);
	if (fills_ok)
		printf(" fills=%" PRId64 " fill_tonnes=%" PRId64, after->count - before->count,
			   after->tonnes - before->tonnes);
	else
		printf(" fills=NA fill_tonnes=NA");
	printf(" elapsed_s=%.3f orders_per_s=%.1f latency_p50_ms=%.3f latency_p99_ms=%.3f",
		   st->elapsed, rate, latency_percentile(st, 0.50), latency_percentile(st, 0.99));
	if (opt->process_queue != PROCESS_NONE)
		printf(" process_calls=%ld process_failed=%ld process_s=%.3f",
			   st->process_calls, st->process.rejected + st->process.errors,
			   st->process_elapsed);
	printf(" notices=%ld interrupted=%d all_lost=%d", st->notices, st->interrupted ? 1 : 0,
		   st->all_lost ? 1 : 0);
	print_summary_codes("", &st->orders);
	print_summary_codes("cancel_", &st->cancels);
	print_summary_codes("process_", &st->process);
	printf("\n");
}

int
main(int argc, char **argv)
{
	Options		opt;
	Market		mkt = {0};
	RunStats	st;
	Fills		before = {0};
	Fills		after = {0};
	char	   *center_why = NULL;
	PGconn	   *first;
	struct sigaction sa;
	double		deadline;
	bool		lost_once = false;
	int			rc;

	parse_options(argc, argv, &opt);
	if (opt.dry_run)
	{
		rc = dry_run(&opt);
		free_options(&opt);
		return rc;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	/* set-up, again on a new connection if the connection is lost meanwhile */
	deadline = now_seconds() + SETUP_SECONDS;
	for (;;)
	{
		first = connect_one(&opt, false);
		if (first == NULL && (!lost_once || now_seconds() > deadline))
		{
			free_options(&opt);
			return EXIT_FATAL;
		}
		if (first && load_participants(&opt, first, &mkt) &&
			load_centers(&opt, first, &mkt, &center_why) &&
			read_fills(&opt, first, &before))
			break;
		if (now_seconds() > deadline)
			fatal(EXIT_FATAL, "the connection was lost during set-up, again and again");
		if (!opt.quiet && first)
			fprintf(stderr, LOAD_NAME ": connection lost during set-up, starting again\n");
		if (first)
			PQfinish(first);
		free_market(&mkt);
		free(center_why);
		free(before.why);
		center_why = NULL;
		memset(&before, 0, sizeof(before));
		lost_once = true;
		usleep(100 * 1000);
	}

	memset(&st, 0, sizeof(st));
	run_load(&opt, &mkt, first, &st);
	if (opt.process_queue != PROCESS_NONE && !st.all_lost && !st.interrupted)
		run_process_queue(&opt, &st);
	if (before.ok)
		(void) read_fills(&opt, idle_connection(), &after);
	fflush(stderr);
	report(&opt, &mkt, &st, &before, &after, center_why);

	if (st.all_lost)
		rc = EXIT_FATAL;
	else if (st.orders.errors || st.orders.unknown || st.cancels.errors ||
			 st.cancels.unknown || (st.unsent && !st.interrupted) ||
			 st.process.errors || st.process.rejected)
		rc = EXIT_TROUBLE;
	else
		rc = EXIT_DONE;

	finish_connections();
	free_stats(&st);
	free_market(&mkt);
	free(center_why);
	free(before.why);
	free(after.why);
	free_options(&opt);
	return rc;
}
