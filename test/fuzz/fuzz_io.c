/*-------------------------------------------------------------------------
 *
 * fuzz_io.c
 *	  Fuzzer for the text input and binary receive functions of carbonmkt's
 *	  data types (allowance_in, allowance_recv, ccer_in, ccer_recv).
 *
 * A libpq client.  It connects with the libpq environment (PGHOST, PGPORT,
 * PGUSER, PGDATABASE) to a database in which the carbonmkt extension is
 * installed, generates inputs from a deterministic PRNG (random strings and
 * bytes, mutations and splices of a seed corpus, boundary numbers, mutated
 * valid binary encodings) and sends each one to the server, pipelined.
 *
 * Every input must end in one of two ways:
 *	- accepted: then the value's canonical text must re-parse to an equal
 *	  value whose canonical text and send() bytes are identical, and the
 *	  canonical text must have the documented shape;
 *	- rejected with an ERROR whose SQLSTATE is in the target's allowed set.
 * Anything else (another SQLSTATE, in particular XX000, a FATAL or PANIC, a
 * round-trip mismatch, a lost connection) is a failure: the input is printed
 * hex-escaped and saved under the crash directory, and the exit status is 1.
 *
 * See test/fuzz/README.md.
 *
 * Copyright (c) 2026, carbonmkt developers
 *
 * test/fuzz/fuzz_io.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define MAX_INPUT			(256 * 1024)	/* longest generated input */
#define DEFAULT_WINDOW		128 /* queries in flight in pipeline mode */
#define MAX_WINDOW			4096
#define MAX_SAVED			50	/* failing inputs saved per target */
#define MAX_PRINTED			20	/* failing inputs printed per target */
#define MAX_CODES			16	/* distinct SQLSTATEs counted per target */
#define RECONNECT_SECONDS	60

/* ----------
 * Growable byte buffer.  data is always NUL-terminated at data[len], so a
 * text input can be passed to libpq as a C string.
 * ----------
 */
typedef struct Buf
{
	unsigned char *data;
	size_t		len;
	size_t		cap;
} Buf;

typedef enum TypeKind
{
	KIND_ALLOWANCE,
	KIND_CCER
} TypeKind;

/* Layout of the project id in ccer's binary format, detected at start-up. */
typedef enum CcerLayout
{
	LAYOUT_UNKNOWN,
	LAYOUT_COUNTED_FIRST,		/* int32 length, bytes, then the numbers */
	LAYOUT_CSTRING_FIRST,		/* NUL-terminated string, then the numbers */
	LAYOUT_TEXT_LAST			/* the numbers, then the rest is the text */
} CcerLayout;

typedef struct Target
{
	const char *name;			/* allowance_in, ... */
	TypeKind	kind;
	bool		binary;			/* receive function (binary parameter) */
	const char *allowed[8];		/* allowed SQLSTATEs, NULL-terminated */
} Target;

static const Target targets[] = {
	{"allowance_in", KIND_ALLOWANCE, false, {"22P02", "22003", "22023", NULL}},
	{"allowance_recv", KIND_ALLOWANCE, true,
	{"22P03", "08P01", "22P02", "22003", "22023", "22021", NULL}},
	{"ccer_in", KIND_CCER, false, {"22P02", "22003", "22023", NULL}},
	{"ccer_recv", KIND_CCER, true,
	{"22P03", "08P01", "22P02", "22003", "22023", "22021", NULL}},
};
#define NTARGETS ((int) (sizeof(targets) / sizeof(targets[0])))

static const char *const type_names[] = {"allowance", "ccer"};

typedef struct CodeCount
{
	char		code[6];
	long		count;
} CodeCount;

typedef struct Stats
{
	long		inputs;
	long		accepted;
	long		rejected;
	long		failures;
	long		saved;
	long		reconnects;
	int			ncodes;
	CodeCount	codes[MAX_CODES];
} Stats;

typedef struct Corpus
{
	Buf		   *lines;
	int			nlines;
} Corpus;

/* An input in flight. */
typedef struct Slot
{
	Buf			in;
	long		index;			/* 0-based input number within the target */
} Slot;

typedef enum Outcome
{
	OUT_ACCEPTED,
	OUT_REJECTED,
	OUT_FAILED,
	OUT_LOST					/* connection lost; caller replays */
} Outcome;

/* Options and global state */
static uint64_t opt_seed = 20261121;
static long opt_iterations = 10000;
static int	opt_window = DEFAULT_WINDOW;
static bool opt_verbose = false;
static const char *opt_target = "all";
static const char *opt_replay = NULL;
static char *corpus_dir = NULL;
static char *crash_dir = NULL;

static PGconn *conn = NULL;
static unsigned int type_oid[2];
static Corpus corpus[2];		/* text seeds per type */
static Corpus encodings[2];		/* valid send() encodings per type */
static CcerLayout ccer_layout = LAYOUT_UNKNOWN;
static uint64_t rng_state;

/* ----------
 * Small utilities
 * ----------
 */
static void
die(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "fuzz_io: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
	void	   *q = realloc(p, n);

	if (q == NULL)
		die("out of memory");
	return q;
}

static char *
xstrdup(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *p = xrealloc(NULL, n);

	memcpy(p, s, n);
	return p;
}

/* strip trailing newlines (libpq messages end in one) */
static void
trim_newline(char *s)
{
	size_t		n = strlen(s);

	while (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
buf_reserve(Buf *b, size_t need)
{
	if (need + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 64;

		while (cap < need + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
}

static void
buf_set(Buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	if (n > 0)
		memmove(b->data, p, n);
	b->len = n;
	b->data[n] = '\0';
}

static void
buf_insert(Buf *b, size_t pos, const void *p, size_t n)
{
	if (pos > b->len)
		pos = b->len;
	buf_reserve(b, b->len + n);
	memmove(b->data + pos + n, b->data + pos, b->len - pos);
	if (n > 0)
		memcpy(b->data + pos, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_append(Buf *b, const void *p, size_t n)
{
	buf_insert(b, b->len, p, n);
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static void
buf_delete(Buf *b, size_t pos, size_t n)
{
	if (pos >= b->len)
		return;
	if (n > b->len - pos)
		n = b->len - pos;
	memmove(b->data + pos, b->data + pos + n, b->len - pos - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

static void
buf_truncate(Buf *b, size_t n)
{
	if (n < b->len)
	{
		b->len = n;
		b->data[n] = '\0';
	}
}

/* ----------
 * Deterministic PRNG: splitmix64.  All generation goes through rnd(), and
 * nothing else consumes it, so the inputs depend only on seed and target.
 * ----------
 */
static uint64_t
rnd(void)
{
	uint64_t	z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* uniform in [0, n); n > 0 */
static size_t
rnd_below(size_t n)
{
	return (size_t) (rnd() % n);
}

/* true with probability 1/n */
static bool
one_in(size_t n)
{
	return rnd_below(n) == 0;
}

/* A length: mostly short, sometimes medium, rarely long. */
static size_t
rnd_length(void)
{
	size_t		r = rnd_below(100);

	if (r < 70)
		return rnd_below(33);
	if (r < 95)
		return rnd_below(301);
	return rnd_below(5001);
}

static void
seed_target(const char *name)
{
	uint64_t	h = UINT64_C(1469598103934665603);	/* FNV-1a */

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char) *p) * UINT64_C(1099511628211);
	rng_state = opt_seed ^ h;
	(void) rnd();
}

/* ----------
 * Dictionaries
 * ----------
 */
static const char *const interesting_numbers[] = {
	"0", "-0", "+0", "1", "-1", "+1", "00", "007", "2",
	"2004", "2005", "2006", "2024", "2099", "2100", "2101", "02024", "-2024",
	"9999", "99999", "32767", "32768", "65535", "65536",
	"2147483647", "2147483648", "-2147483648", "-2147483649",
	"4294967295", "4294967296",
	"9223372036854775807", "9223372036854775808",
	"-9223372036854775808", "-9223372036854775809",
	"9223372036854775806", "-9223372036854775807",
	"18446744073709551615", "18446744073709551616",
	"99999999999999999999", "922337203685477580", "92233720368547758070",
	"999999999999999999", "1000000000000000000", "-999999999999999999",
	"999999999999999998", "1000000000000000001",
	"1,000", "1_000", "1,000,000", "1,00", "1__000", ",1", "1,", "_1", "1_",
	"1,_000", "1_,000", "1,0000", "12,34,567",
	"9,223,372,036,854,775,807", "9,223,372,036,854,775,808",
	"9_223_372_036_854_775_807", "-9,223,372,036,854,775,808",
	"1.5", "1.0", "1.", ".5", "1e3", "1E18", "0x10", "0X7FFFFFFF", "1 000",
	"Infinity", "NaN", "\xd9\xa1\xd9\xa2", "\xef\xbc\x91\xef\xbc\x92",
};
#define N_NUMBERS (sizeof(interesting_numbers) / sizeof(interesting_numbers[0]))

static const char *const interesting_tokens[] = {
	":", "::", " ", "  ", "\t", "\n", "\r", "\f", "\v", ",", "_", "+", "-",
	"--", ".", "..", "...", "t", "T", "tCO2e", "TCO2E", "tco2e", "tCO2",
	"CEA", "cea", "CCER", "ccer", "CCER:", "e", "x", "0", "'", "\"", "\\",
	"%", "%s", "%n", "(", ")", "\x7f", "\x01", "\x1b",
	"\xc2\xa0",					/* no-break space */
	"\xe3\x80\x80",				/* ideographic space */
	"\xef\xbc\x9a",				/* fullwidth colon */
	"\xe5\x90\xa8",				/* 吨 */
	"\xe2\x88\x92",				/* minus sign */
	"\xe2\x80\x92",				/* figure dash */
	"\xef\xbb\xbf",				/* byte order mark */
	"\xc5\xbf",					/* long s, upper-cases to S */
	"\xc4\xb1",					/* dotless i */
	"\xf0\x9f\x98\x80",			/* emoji */
};
#define N_TOKENS (sizeof(interesting_tokens) / sizeof(interesting_tokens[0]))

static const char project_chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

static const int32_t interesting_int32[] = {
	0, 1, -1, 2, 7, 16, 20, 63, 64, 65, 127, 128, 255, 256,
	2004, 2005, 2024, 2100, 2101, -2024, 65535, 65536,
	0x3fffffff, 0x40000000, INT32_MAX, INT32_MAX - 1, INT32_MIN, INT32_MIN + 1,
};
#define N_INT32 (sizeof(interesting_int32) / sizeof(interesting_int32[0]))

static const int64_t interesting_int64[] = {
	0, 1, -1, 2, 1500, 50000, INT64_C(999999999999999999),
	INT64_C(1000000000000000000), INT64_C(999999999999999998),
	INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1,
	INT64_C(4294967295), INT64_C(4294967296), INT64_C(2147483648),
	-INT64_C(999999999999999999), -INT64_C(1000000000000000000),
};
#define N_INT64 (sizeof(interesting_int64) / sizeof(interesting_int64[0]))

/* ----------
 * UTF-8 sanitising.  Text parameters go through the server's encoding
 * check before the input function sees them, so text inputs are made valid
 * UTF-8 without NUL (PostgreSQL's rules: no overlong forms, no surrogates,
 * nothing above U+10FFFF).  Invalid bytes are replaced, deterministically,
 * by an ASCII character or an interesting multibyte one.
 * ----------
 */
static int
utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	int			n;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if ((size_t) n > avail)
		return 0;
	for (int i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && s[1] < 0xa0)
		return 0;
	if (c == 0xed && s[1] > 0x9f)
		return 0;
	if (c == 0xf0 && s[1] < 0x90)
		return 0;
	if (c == 0xf4 && s[1] > 0x8f)
		return 0;
	return n;
}

static void
sanitize_utf8(Buf *b)
{
	Buf			out = {0};
	size_t		i = 0;

	buf_reserve(&out, b->len + 16);
	out.data[0] = '\0';
	while (i < b->len)
	{
		int			n = utf8_seq_len(b->data + i, b->len - i);

		if (n > 0)
		{
			buf_append(&out, b->data + i, n);
			i += n;
			continue;
		}
		if (one_in(4))
			buf_puts(&out, interesting_tokens[rnd_below(N_TOKENS)]);
		else
		{
			unsigned char c = (unsigned char) (0x20 + rnd_below(0x5f));

			buf_append(&out, &c, 1);
		}
		i++;
	}
	free(b->data);
	*b = out;
}

/* append one random code point, UTF-8 encoded */
static void
append_random_codepoint(Buf *b)
{
	static const uint32_t bases[] = {0x20, 0xa0, 0x370, 0x660, 0x2000, 0x3000,
	0x4e00, 0xff00, 0xfe00, 0x10000, 0x1f600};
	uint32_t	cp;
	unsigned char u[4];
	int			n;

	if (one_in(2))
		cp = 0x20 + (uint32_t) rnd_below(0x5f);
	else if (one_in(8))
		cp = 1 + (uint32_t) rnd_below(0x10ffff);
	else
		cp = bases[rnd_below(sizeof(bases) / sizeof(bases[0]))] +
			(uint32_t) rnd_below(256);
	if (cp >= 0xd800 && cp <= 0xdfff)
		cp = 0xfffd;
	if (cp < 0x80)
	{
		u[0] = (unsigned char) cp;
		n = 1;
	}
	else if (cp < 0x800)
	{
		u[0] = 0xc0 | (cp >> 6);
		u[1] = 0x80 | (cp & 0x3f);
		n = 2;
	}
	else if (cp < 0x10000)
	{
		u[0] = 0xe0 | (cp >> 12);
		u[1] = 0x80 | ((cp >> 6) & 0x3f);
		u[2] = 0x80 | (cp & 0x3f);
		n = 3;
	}
	else
	{
		u[0] = 0xf0 | (cp >> 18);
		u[1] = 0x80 | ((cp >> 12) & 0x3f);
		u[2] = 0x80 | ((cp >> 6) & 0x3f);
		u[3] = 0x80 | (cp & 0x3f);
		n = 4;
	}
	buf_append(b, u, n);
}

/* ----------
 * Generators of pieces
 * ----------
 */
static void
append_digits(Buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		char		c = (char) ('0' + rnd_below(10));

		buf_append(b, &c, 1);
	}
}

static void
append_whitespace(Buf *b, size_t n)
{
	static const char ws[] = " \t\n\r\f\v";

	for (size_t i = 0; i < n; i++)
	{
		/* mostly plain spaces, so long runs stay realistic */
		char		c = one_in(3) ? ws[rnd_below(6)] : ' ';

		buf_append(b, &c, 1);
	}
}

static size_t
rnd_ws_len(void)
{
	if (one_in(40))
		return 1000 + rnd_below(100000);
	return 1 + rnd_below(16);
}

/* A number in some textual shape: boundary, random, grouped, long. */
static void
append_number(Buf *b)
{
	size_t		r = rnd_below(10);
	char		tmp[64];

	if (r < 4)
		buf_puts(b, interesting_numbers[rnd_below(N_NUMBERS)]);
	else if (r < 6)
	{
		/* random magnitude */
		uint64_t	v = rnd() >> rnd_below(64);

		snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
		buf_puts(b, tmp);
	}
	else if (r < 8)
	{
		/* grouped with ',' or '_', correct or not */
		uint64_t	v = rnd() >> rnd_below(64);
		char		sep = one_in(2) ? ',' : '_';
		size_t		group = one_in(4) ? 1 + rnd_below(4) : 3;
		size_t		n;

		snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
		n = strlen(tmp);
		for (size_t i = 0; i < n; i++)
		{
			buf_append(b, tmp + i, 1);
			if (i + 1 < n && (n - i - 1) % group == 0)
				buf_append(b, &sep, 1);
		}
	}
	else if (r < 9)
	{
		/* long digit strings, sometimes with leading zeros */
		if (one_in(2))
		{
			size_t		z = 1 + rnd_below(40);

			for (size_t i = 0; i < z; i++)
				buf_puts(b, "0");
		}
		append_digits(b, 15 + rnd_below(one_in(4) ? 2000 : 30));
	}
	else
	{
		if (one_in(2))
			buf_puts(b, one_in(2) ? "-" : "+");
		snprintf(tmp, sizeof(tmp), "%d", (int) (1990 + rnd_below(130)));
		buf_puts(b, tmp);
	}
}

static void
append_vintage(Buf *b)
{
	char		tmp[16];

	if (one_in(3))
		buf_puts(b, interesting_numbers[rnd_below(N_NUMBERS)]);
	else
	{
		snprintf(tmp, sizeof(tmp), "%d", (int) (2003 + rnd_below(100)));
		buf_puts(b, tmp);
	}
}

/* A project id: valid characters of boundary lengths, or not. */
static void
append_project(Buf *b, bool binary)
{
	static const size_t lens[] = {0, 1, 2, 10, 63, 64, 65, 100, 1000};
	size_t		n;

	if (one_in(3))
		n = lens[rnd_below(sizeof(lens) / sizeof(lens[0]))];
	else
		n = 1 + rnd_below(20);
	for (size_t i = 0; i < n; i++)
	{
		if (one_in(30))
		{
			if (binary && one_in(3))
			{
				/* arbitrary byte, including NUL and invalid UTF-8 */
				unsigned char c = (unsigned char) rnd_below(256);

				buf_append(b, &c, 1);
			}
			else
				buf_puts(b, interesting_tokens[rnd_below(N_TOKENS)]);
		}
		else
			buf_append(b, &project_chars[rnd_below(sizeof(project_chars) - 1)], 1);
	}
}

static void
append_choice(Buf *b, const char *const *choices, size_t n)
{
	buf_puts(b, choices[rnd_below(n)]);
}
#define APPEND_CHOICE(b, arr) append_choice((b), (arr), sizeof(arr) / sizeof((arr)[0]))

static void
maybe_ws(Buf *b)
{
	if (one_in(5))
		append_whitespace(b, rnd_ws_len());
}

/* A candidate built from the grammar, with random choices at every step. */
static void
gen_structured_text(TypeKind kind, Buf *b)
{
	buf_set(b, "", 0);
	maybe_ws(b);
	if (kind == KIND_ALLOWANCE)
	{
		static const char *const prefix[] = {"CEA", "CEA", "CEA", "cea", "Cea",
		"", "CEA ", "CCER", "CE", "CEAA", "C E A"};
		static const char *const sep[] = {":", ":", ":", " : ", " ", "", "::",
		"\xef\xbc\x9a", "-", "/", ": "};
		static const char *const sign[] = {"", "", "", "+", "-", "++", "+-", "- "};
		static const char *const suffix[] = {"t", "t", "t", "T", " t", "tCO2e",
		" tCO2e", "", "tonnes", "tt", "tCO2", "TCO2E", "\xe5\x90\xa8", "t CO2e"};

		APPEND_CHOICE(b, prefix);
		maybe_ws(b);
		append_vintage(b);
		maybe_ws(b);
		APPEND_CHOICE(b, sep);
		maybe_ws(b);
		APPEND_CHOICE(b, sign);
		append_number(b);
		maybe_ws(b);
		APPEND_CHOICE(b, suffix);
	}
	else
	{
		static const char *const prefix[] = {"CCER:", "CCER:", "CCER:", "ccer:",
		"", "", "CCER", "CCER::", "CEA:", "CCER :"};
		static const char *const sep[] = {":", ":", ":", " ", " ", "  ", ": ",
		"\t", "", "::", "-"};
		static const char *const range[] = {"-", "-", "..", "..", "", "...",
		" - ", "--", "\xe2\x80\x92", ":", ".. "};

		APPEND_CHOICE(b, prefix);
		maybe_ws(b);
		append_project(b, false);
		APPEND_CHOICE(b, sep);
		append_vintage(b);
		APPEND_CHOICE(b, sep);
		if (!one_in(10))
		{
			append_number(b);
			if (!one_in(4))
			{
				APPEND_CHOICE(b, range);
				append_number(b);
			}
		}
	}
	maybe_ws(b);
}

static void
gen_random_text(Buf *b)
{
	size_t		n = rnd_length();
	size_t		r = rnd_below(3);

	buf_set(b, "", 0);
	for (size_t i = 0; i < n; i++)
	{
		if (r == 0)
		{
			/* printable ASCII */
			char		c = (char) (0x20 + rnd_below(0x5f));

			buf_append(b, &c, 1);
		}
		else if (r == 1)
		{
			/* arbitrary bytes (sanitised below) */
			unsigned char c = (unsigned char) rnd_below(256);

			buf_append(b, &c, 1);
		}
		else
			append_random_codepoint(b);
	}
}

/* ----------
 * Token handling for splicing: tokens are maximal runs of one character
 * class (digits, letters, whitespace, other single characters).
 * ----------
 */
static int
char_class(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return 1;
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c >= 0x80)
		return 2;
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return 3;
	return 4;
}

/* Token boundaries of b: positions where the class changes (0 and len included). */
static size_t
token_bounds(const Buf *b, size_t *bounds, size_t maxb)
{
	size_t		n = 0;

	bounds[n++] = 0;
	for (size_t i = 1; i < b->len && n < maxb - 1; i++)
	{
		int			c = char_class(b->data[i]);

		if (c != char_class(b->data[i - 1]) || c == 4)
			bounds[n++] = i;
	}
	if (b->len > 0)
		bounds[n++] = b->len;
	return n;
}

static const Buf *
random_line(const Corpus *c)
{
	return &c->lines[rnd_below(c->nlines)];
}

/* Replace b by a prefix of tokens of one line and a suffix of another. */
static void
splice_lines(const Corpus *c, Buf *b)
{
	const Buf  *x = random_line(c);
	const Buf  *y = random_line(c);
	size_t		bx[512],
				by[512];
	size_t		nx = token_bounds(x, bx, 512);
	size_t		ny = token_bounds(y, by, 512);
	size_t		cx = bx[rnd_below(nx)];
	size_t		cy = by[rnd_below(ny)];

	buf_set(b, x->data, cx);
	buf_append(b, y->data + cy, y->len - cy);
}

/* ----------
 * Text mutations
 * ----------
 */
static void
mutate_text(TypeKind kind, const Corpus *c, Buf *b)
{
	size_t		pos = b->len ? rnd_below(b->len + 1) : 0;
	size_t		bounds[512];
	size_t		nb;
	Buf			tmp = {0};

	switch (rnd_below(14))
	{
		case 0:					/* bit flip */
			if (b->len)
				b->data[rnd_below(b->len)] ^= (unsigned char) (1 << rnd_below(8));
			break;
		case 1:					/* insert a token */
			{
				const char *tok = interesting_tokens[rnd_below(N_TOKENS)];

				buf_insert(b, pos, tok, strlen(tok));
			}
			break;
		case 2:					/* delete a range */
			if (b->len)
				buf_delete(b, rnd_below(b->len), 1 + rnd_below(one_in(4) ? b->len : 3));
			break;
		case 3:					/* duplicate a range */
			if (b->len)
			{
				size_t		start = rnd_below(b->len);
				size_t		n = 1 + rnd_below(b->len - start);

				buf_set(&tmp, b->data + start, n);
				buf_insert(b, start, tmp.data, tmp.len);
			}
			break;
		case 4:					/* replace a number token */
		case 5:
			{
				size_t		starts[256];
				size_t		ns = 0;

				for (size_t i = 0; i < b->len && ns < 256; i++)
					if (b->data[i] >= '0' && b->data[i] <= '9' &&
						(i == 0 || b->data[i - 1] < '0' || b->data[i - 1] > '9'))
						starts[ns++] = i;
				if (ns)
				{
					size_t		s = starts[rnd_below(ns)];
					size_t		e = s;

					while (e < b->len && b->data[e] >= '0' && b->data[e] <= '9')
						e++;
					buf_delete(b, s, e - s);
					append_number(&tmp);
					buf_insert(b, s, tmp.data, tmp.len);
				}
				else
				{
					append_number(&tmp);
					buf_insert(b, pos, tmp.data, tmp.len);
				}
			}
			break;
		case 6:					/* whitespace run */
			append_whitespace(&tmp, rnd_ws_len());
			buf_insert(b, pos, tmp.data, tmp.len);
			break;
		case 7:					/* change case of a range */
			if (b->len)
			{
				size_t		start = rnd_below(b->len);
				size_t		n = 1 + rnd_below(b->len - start);
				bool		up = one_in(2);

				for (size_t i = start; i < start + n; i++)
				{
					unsigned char ch = b->data[i];

					if (up && ch >= 'a' && ch <= 'z')
						b->data[i] = ch - 32;
					else if (!up && ch >= 'A' && ch <= 'Z')
						b->data[i] = ch + 32;
				}
			}
			break;
		case 8:					/* insert a token of another corpus line */
			{
				const Buf  *o = random_line(c);

				nb = token_bounds(o, bounds, 512);
				if (nb >= 2)
				{
					size_t		t = rnd_below(nb - 1);

					buf_insert(b, pos, o->data + bounds[t], bounds[t + 1] - bounds[t]);
				}
			}
			break;
		case 9:					/* truncate */
			buf_truncate(b, pos);
			break;
		case 10:				/* replace a byte */
			if (b->len)
				b->data[rnd_below(b->len)] = (unsigned char) (0x20 + rnd_below(0x5f));
			break;
		case 11:				/* swap two adjacent tokens */
			nb = token_bounds(b, bounds, 512);
			if (nb >= 3)
			{
				size_t		t = rnd_below(nb - 2);
				size_t		a0 = bounds[t],
							a1 = bounds[t + 1],
							a2 = bounds[t + 2];

				buf_set(&tmp, b->data + a1, a2 - a1);
				buf_append(&tmp, b->data + a0, a1 - a0);
				memcpy(b->data + a0, tmp.data, tmp.len);
			}
			break;
		case 12:				/* a project id (ccer) or a vintage */
			if (kind == KIND_CCER)
				append_project(&tmp, false);
			else
				append_vintage(&tmp);
			buf_insert(b, pos, tmp.data, tmp.len);
			break;
		default:				/* splice with another line */
			{
				const Buf  *o = random_line(c);
				size_t		cut = o->len ? rnd_below(o->len + 1) : 0;

				buf_truncate(b, pos);
				buf_append(b, o->data + cut, o->len - cut);
			}
			break;
	}
	free(tmp.data);
	if (b->len > MAX_INPUT)
		buf_truncate(b, MAX_INPUT);
}

static void
gen_text_input(TypeKind kind, Buf *b)
{
	const Corpus *c = &corpus[kind];
	size_t		r = rnd_below(100);

	if (r < 5)
	{
		const Buf  *l = random_line(c);

		buf_set(b, l->data, l->len);
	}
	else if (r < 55)
	{
		const Buf  *l = random_line(c);
		size_t		n = 1 + rnd_below(one_in(5) ? 16 : 4);

		buf_set(b, l->data, l->len);
		for (size_t i = 0; i < n; i++)
			mutate_text(kind, c, b);
	}
	else if (r < 65)
		splice_lines(c, b);
	else if (r < 85)
	{
		gen_structured_text(kind, b);
		if (one_in(3))
			mutate_text(kind, c, b);
	}
	else
		gen_random_text(b);
	sanitize_utf8(b);
}

/* ----------
 * Binary inputs
 * ----------
 */
static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) (v >> 24);
	p[1] = (unsigned char) (v >> 16);
	p[2] = (unsigned char) (v >> 8);
	p[3] = (unsigned char) v;
}

static void
append_be32(Buf *b, int32_t v)
{
	unsigned char p[4];

	put_be32(p, (uint32_t) v);
	buf_append(b, p, 4);
}

static void
append_be64(Buf *b, int64_t v)
{
	unsigned char p[8];

	put_be32(p, (uint32_t) ((uint64_t) v >> 32));
	put_be32(p + 4, (uint32_t) v);
	buf_append(b, p, 8);
}

static int32_t
rnd_int32(void)
{
	size_t		r = rnd_below(4);

	if (r == 0)
		return interesting_int32[rnd_below(N_INT32)];
	if (r == 1)
		return (int32_t) rnd();
	return 2005 + (int32_t) rnd_below(96);
}

static int64_t
rnd_int64(void)
{
	size_t		r = rnd_below(4);

	if (r == 0)
		return interesting_int64[rnd_below(N_INT64)];
	if (r == 1)
		return (int64_t) rnd();
	if (r == 2)
		return (int64_t) (rnd() >> (1 + rnd_below(63)));
	return (int64_t) rnd_below(1000000);
}

static void
gen_structured_binary(TypeKind kind, Buf *b)
{
	buf_set(b, "", 0);
	if (kind == KIND_ALLOWANCE)
	{
		append_be32(b, rnd_int32());
		append_be64(b, rnd_int64());
		return;
	}
	else
	{
		Buf			proj = {0};
		int64_t		first = rnd_int64();
		int64_t		last = one_in(3) ? first + (int64_t) rnd_below(3) - 1 : rnd_int64();
		CcerLayout	layout = ccer_layout;

		buf_set(&proj, "", 0);
		append_project(&proj, true);
		if (layout == LAYOUT_UNKNOWN || one_in(10))
			layout = (CcerLayout) (1 + rnd_below(3));
		if (layout == LAYOUT_COUNTED_FIRST)
		{
			append_be32(b, one_in(10) ? rnd_int32() : (int32_t) proj.len);
			buf_append(b, proj.data, proj.len);
		}
		else if (layout == LAYOUT_CSTRING_FIRST)
			buf_append(b, proj.data, proj.len + 1);	/* with its NUL */
		append_be32(b, rnd_int32());
		append_be64(b, first);
		append_be64(b, last);
		if (layout == LAYOUT_TEXT_LAST)
			buf_append(b, proj.data, proj.len);
		free(proj.data);
	}
}

static void
mutate_binary(TypeKind kind, Buf *b)
{
	const Corpus *enc = &encodings[kind];
	size_t		pos = b->len ? rnd_below(b->len + 1) : 0;
	unsigned char tmp[8];

	switch (rnd_below(10))
	{
		case 0:					/* truncate */
			buf_truncate(b, b->len ? rnd_below(b->len) : 0);
			break;
		case 1:					/* extend */
			{
				size_t		n = one_in(20) ? 1 + rnd_below(1000) : 1 + rnd_below(16);

				for (size_t i = 0; i < n; i++)
				{
					unsigned char c = (unsigned char) rnd_below(256);

					buf_append(b, &c, 1);
				}
			}
			break;
		case 2:					/* bit flips */
			if (b->len)
				b->data[rnd_below(b->len)] ^= (unsigned char) (1 << rnd_below(8));
			break;
		case 3:					/* an int32 somewhere */
			if (b->len >= 4)
			{
				put_be32(tmp, (uint32_t) rnd_int32());
				memcpy(b->data + rnd_below(b->len - 3), tmp, 4);
			}
			break;
		case 4:					/* an int64 somewhere */
			if (b->len >= 8)
			{
				uint64_t	v = (uint64_t) rnd_int64();

				put_be32(tmp, (uint32_t) (v >> 32));
				put_be32(tmp + 4, (uint32_t) v);
				memcpy(b->data + rnd_below(b->len - 7), tmp, 8);
			}
			break;
		case 5:					/* the length word of the text part */
			if (b->len >= 4)
			{
				static const int32_t deltas[] = {-2, -1, 1, 2, 4, 8, 20, 21};
				uint32_t	cur = ((uint32_t) b->data[0] << 24) | ((uint32_t) b->data[1] << 16) |
					((uint32_t) b->data[2] << 8) | b->data[3];
				int32_t		v;

				if (one_in(2))
					v = (int32_t) cur + deltas[rnd_below(sizeof(deltas) / sizeof(deltas[0]))];
				else if (one_in(2))
					v = (int32_t) b->len - (int32_t) rnd_below(24);
				else
					v = interesting_int32[rnd_below(N_INT32)];
				put_be32(b->data, (uint32_t) v);
			}
			break;
		case 6:					/* insert or delete a byte */
			if (one_in(2) && b->len)
				buf_delete(b, rnd_below(b->len), 1);
			else
			{
				unsigned char c = (unsigned char) rnd_below(256);

				buf_insert(b, pos, &c, 1);
			}
			break;
		case 7:					/* interesting byte */
			if (b->len)
			{
				static const unsigned char bytes[] = {0, 0xff, 0x80, 0x7f, ':', 'a',
				'-', ' ', 0xc3, 0xe5};

				b->data[rnd_below(b->len)] = bytes[rnd_below(sizeof(bytes))];
			}
			break;
		case 8:					/* splice with another encoding */
			if (enc->nlines)
			{
				const Buf  *o = random_line(enc);
				size_t		cut = o->len ? rnd_below(o->len + 1) : 0;

				buf_truncate(b, pos);
				buf_append(b, o->data + cut, o->len - cut);
			}
			break;
		default:				/* lower-case the project (ccer) or flip sign */
			for (size_t i = 0; i < b->len; i++)
				if (b->data[i] >= 'A' && b->data[i] <= 'Z' && one_in(2))
					b->data[i] += 32;
			if (kind == KIND_ALLOWANCE && b->len > 4)
				b->data[4] ^= 0x80;
			break;
	}
	if (b->len > MAX_INPUT)
		buf_truncate(b, MAX_INPUT);
}

static void
gen_binary_input(TypeKind kind, Buf *b)
{
	const Corpus *enc = &encodings[kind];
	size_t		r = rnd_below(100);

	if (enc->nlines == 0)
		r = 60 + rnd_below(40);	/* nothing to mutate */
	if (r < 5)
	{
		const Buf  *e = random_line(enc);

		buf_set(b, e->data, e->len);
	}
	else if (r < 60)
	{
		const Buf  *e = random_line(enc);
		size_t		n = 1 + rnd_below(one_in(5) ? 8 : 3);

		buf_set(b, e->data, e->len);
		for (size_t i = 0; i < n; i++)
			mutate_binary(kind, b);
	}
	else if (r < 90)
	{
		gen_structured_binary(kind, b);
		if (one_in(4))
			mutate_binary(kind, b);
	}
	else
	{
		size_t		n = one_in(10) ? rnd_length() : rnd_below(64);

		buf_set(b, "", 0);
		for (size_t i = 0; i < n; i++)
		{
			unsigned char c = (unsigned char) rnd_below(256);

			buf_append(b, &c, 1);
		}
	}
}

/* ----------
 * Oracles on the canonical text
 * ----------
 */

/* Parse an unsigned decimal without leading zeros; advance *p. */
static bool
parse_canonical_uint(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t	acc = 0;

	if (*s < '0' || *s > '9')
		return false;
	if (*s == '0' && s[1] >= '0' && s[1] <= '9')
		return false;
	while (*s >= '0' && *s <= '9')
	{
		if (acc > (UINT64_MAX - 9) / 10)
			return false;
		acc = acc * 10 + (uint64_t) (*s - '0');
		s++;
	}
	*p = s;
	*v = acc;
	return true;
}

static bool
parse_vintage(const char **p)
{
	uint64_t	v;

	if (!parse_canonical_uint(p, &v))
		return false;
	return v >= 2005 && v <= 2100;
}

/* Does t have the documented canonical shape?  Sets *why when not. */
static bool
canonical_shape_ok(TypeKind kind, const char *t, const char **why)
{
	const char *p = t;
	uint64_t	v,
				w;

	if (kind == KIND_ALLOWANCE)
	{
		bool		neg = false;

		/* CEA<vintage>:<tonnes>t, tonnes an int64 without '+' or "-0" */
		if (strncmp(p, "CEA", 3) != 0)
			return (*why = "does not start with CEA", false);
		p += 3;
		if (!parse_vintage(&p))
			return (*why = "vintage not 2005..2100 or not canonical", false);
		if (*p++ != ':')
			return (*why = "no ':' after the vintage", false);
		if (*p == '-')
		{
			neg = true;
			p++;
		}
		if (!parse_canonical_uint(&p, &v))
			return (*why = "tonnes not a canonical integer", false);
		if ((neg && (v == 0 || v > (uint64_t) INT64_MAX + 1)) || (!neg && v > INT64_MAX))
			return (*why = "tonnes out of int64 range or -0", false);
		if (strcmp(p, "t") != 0)
			return (*why = "tonnes not followed by exactly 't'", false);
		return true;
	}

	/* CCER:<PROJECT>:<vintage>:<first>-<last> (a single serial also allowed) */
	if (strncmp(p, "CCER:", 5) != 0)
		return (*why = "does not start with CCER:", false);
	p += 5;
	{
		size_t		n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

		if (n < 1 || n > 64)
			return (*why = "project not 1..64 of [A-Z0-9._-]", false);
		p += n;
	}
	if (*p++ != ':')
		return (*why = "no ':' after the project", false);
	if (!parse_vintage(&p))
		return (*why = "vintage not 2005..2100 or not canonical", false);
	if (*p++ != ':')
		return (*why = "no ':' after the vintage", false);
	if (!parse_canonical_uint(&p, &v))
		return (*why = "first serial not a canonical integer", false);
	w = v;
	if (*p == '-')
	{
		p++;
		if (!parse_canonical_uint(&p, &w))
			return (*why = "last serial not a canonical integer", false);
	}
	if (*p != '\0')
		return (*why = "trailing characters", false);
	if (v > w || w > UINT64_C(999999999999999999))
		return (*why = "serials out of order or beyond 10^18-1", false);
	return true;
}

/* ----------
 * Server side
 * ----------
 */
static void
quiet_notices(void *arg, const PGresult *res)
{
	(void) arg;
	(void) res;
}

/* Run a set-up query; NULL (and a message) if it fails. */
static PGresult *
exec_ok(const char *sql, ExecStatusType want)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != want)
	{
		fprintf(stderr, "fuzz_io: query failed: %s\n%s", sql, PQerrorMessage(conn));
		PQclear(res);
		return NULL;
	}
	return res;
}

/*
 * The round-trip check runs in the server, in a temporary PL/pgSQL function
 * per type, so that an error while re-parsing the canonical text cannot be
 * mistaken for the input being rejected.  It returns 'ok <canonical text>'
 * or 'E <what went wrong>'.
 */
static bool
create_check_function(TypeKind kind)
{
	const char *t = type_names[kind];
	char		sql[4096];
	PGresult   *res;

	snprintf(sql, sizeof(sql),
			 "CREATE FUNCTION pg_temp.fuzz_check_%s(v carbonmkt.%s) RETURNS text\n"
			 "LANGUAGE plpgsql AS $fuzz$\n"
			 "DECLARE\n"
			 "	stage text := 'output function';\n"
			 "	t text;\n"
			 "	t2 text;\n"
			 "	w carbonmkt.%s;\n"
			 "BEGIN\n"
			 "	BEGIN\n"
			 "		t := v::text;\n"
			 "		stage := 're-parse of the canonical text ' || quote_literal(t);\n"
			 "		w := t::carbonmkt.%s;\n"
			 "		stage := 'output of the re-parsed value';\n"
			 "		t2 := w::text;\n"
			 "		IF t2 IS DISTINCT FROM t THEN\n"
			 "			RETURN 'E canonical text is not stable: ' || t || ' re-parses and prints as ' || coalesce(t2, 'NULL');\n"
			 "		END IF;\n"
			 "		stage := 'operator =';\n"
			 "		IF (w OPERATOR(carbonmkt.=) v) IS NOT TRUE THEN\n"
			 "			RETURN 'E canonical text ' || t || ' re-parses to a value that is not = the input';\n"
			 "		END IF;\n"
			 "		stage := 'send function';\n"
			 "		IF carbonmkt.%s_send(w) IS DISTINCT FROM carbonmkt.%s_send(v) THEN\n"
			 "			RETURN 'E canonical text ' || t || ' re-parses to a value with different send() bytes';\n"
			 "		END IF;\n"
			 "	EXCEPTION WHEN others THEN\n"
			 "		RETURN 'E ' || stage || ' raised ' || SQLSTATE || ': ' || SQLERRM;\n"
			 "	END;\n"
			 "	RETURN 'ok ' || t;\n"
			 "END\n"
			 "$fuzz$",
			 t, t, t, t, t, t);
	res = exec_ok(sql, PGRES_COMMAND_OK);
	PQclear(res);
	return res != NULL;
}

static bool
prepare_statements(void)
{
	for (int i = 0; i < NTARGETS; i++)
	{
		const Target *tg = &targets[i];
		char		sql[256];
		unsigned int ptype = tg->binary ? type_oid[tg->kind] : 25;	/* text */
		PGresult   *res;

		if (type_oid[tg->kind] == 0)
			continue;
		if (tg->binary)
			snprintf(sql, sizeof(sql), "SELECT pg_temp.fuzz_check_%s($1)",
					 type_names[tg->kind]);
		else
			snprintf(sql, sizeof(sql),
					 "SELECT pg_temp.fuzz_check_%s($1::carbonmkt.%s)",
					 type_names[tg->kind], type_names[tg->kind]);
		res = PQprepare(conn, tg->name, sql, 1, &ptype);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			fprintf(stderr, "fuzz_io: could not prepare %s: %s", tg->name,
					PQerrorMessage(conn));
			PQclear(res);
			return false;
		}
		PQclear(res);
	}
	return true;
}

/* Look up the types, create the check functions, prepare the statements. */
static bool
setup_session(void)
{
	PGresult   *res;

	PQsetNoticeReceiver(conn, quiet_notices, NULL);

	/* 0 when the type is not installed (yet): its targets are skipped */
	res = exec_ok("SELECT coalesce(to_regtype('carbonmkt.allowance')::oid, 0), "
				  "coalesce(to_regtype('carbonmkt.ccer')::oid, 0)", PGRES_TUPLES_OK);
	if (res == NULL)
		return false;
	type_oid[KIND_ALLOWANCE] = (unsigned int) strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	type_oid[KIND_CCER] = (unsigned int) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	for (int k = KIND_ALLOWANCE; k <= KIND_CCER; k++)
		if (type_oid[k] != 0 && !create_check_function((TypeKind) k))
			return false;
	return prepare_statements();
}

/*
 * Connect and set up the session.  With retry, keep trying for a while: after
 * a backend crash the server refuses connections during crash recovery, and a
 * connection made just before the postmaster noticed the crash is killed too.
 */
static bool
connect_db(bool retry)
{
	double		deadline = now_seconds() + (retry ? RECONNECT_SECONDS : 0);

	for (;;)
	{
		conn = PQconnectdb("");
		if (PQstatus(conn) == CONNECTION_OK && setup_session())
			return true;
		if (now_seconds() >= deadline)
		{
			fprintf(stderr, "fuzz_io: could not connect and set up: %s", PQerrorMessage(conn));
			PQfinish(conn);
			conn = NULL;
			return false;
		}
		PQfinish(conn);
		usleep(200 * 1000);
	}
}

static int
backend_pid(void)
{
	PGresult   *res = PQexec(conn, "SELECT pg_backend_pid()");
	int			pid = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		pid = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return pid;
}

/* ----------
 * Corpus loading and valid encodings
 * ----------
 */
static void
load_corpus(TypeKind kind)
{
	char		path[4096];
	FILE	   *f;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		n;
	Corpus	   *c = &corpus[kind];

	snprintf(path, sizeof(path), "%s/%s.txt", corpus_dir, type_names[kind]);
	f = fopen(path, "r");
	if (f == NULL)
		die("could not open %s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0)
	{
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		c->lines = xrealloc(c->lines, sizeof(Buf) * (c->nlines + 1));
		memset(&c->lines[c->nlines], 0, sizeof(Buf));
		buf_set(&c->lines[c->nlines], line, (size_t) n);
		c->nlines++;
	}
	free(line);
	fclose(f);
	if (c->nlines == 0)
		die("%s is empty", path);
}

/* send() every corpus line that parses; the results seed the recv targets. */
static void
load_encodings(TypeKind kind)
{
	const char *t = type_names[kind];
	char		sql[256];
	Corpus	   *e = &encodings[kind];

	snprintf(sql, sizeof(sql),
			 "SELECT carbonmkt.%s_send(v), v::text FROM (SELECT $1::carbonmkt.%s AS v) s",
			 t, t);
	for (int i = 0; i < corpus[kind].nlines; i++)
	{
		const char *val = (const char *) corpus[kind].lines[i].data;
		PGresult   *res = PQexecParams(conn, sql, 1, NULL, &val, NULL, NULL, 1);

		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		{
			Buf		   *b;

			e->lines = xrealloc(e->lines, sizeof(Buf) * (e->nlines + 1));
			b = &e->lines[e->nlines++];
			memset(b, 0, sizeof(Buf));
			buf_set(b, PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));

			/* Which layout does the project id have in the binary format? */
			if (kind == KIND_CCER && ccer_layout == LAYOUT_UNKNOWN)
			{
				const char *txt = PQgetvalue(res, 0, 1);
				const char *p0 = strchr(txt, ':');
				const char *p1 = p0 ? strchr(p0 + 1, ':') : NULL;

				if (p1)
				{
					size_t		plen = (size_t) (p1 - p0 - 1);
					const unsigned char *d = b->data;

					if (b->len == 4 + plen + 20 &&
						(((uint32_t) d[0] << 24) | ((uint32_t) d[1] << 16) |
						 ((uint32_t) d[2] << 8) | d[3]) == plen)
						ccer_layout = LAYOUT_COUNTED_FIRST;
					else if (b->len == plen + 1 + 20 && d[plen] == '\0')
						ccer_layout = LAYOUT_CSTRING_FIRST;
					else if (b->len == plen + 20 &&
							 memcmp(d + 20, p0 + 1, plen) == 0)
						ccer_layout = LAYOUT_TEXT_LAST;
				}
			}
		}
		PQclear(res);
	}
	if (opt_verbose)
		fprintf(stderr, "fuzz_io: %d of %d %s corpus lines parse%s\n",
				e->nlines, corpus[kind].nlines, t,
				kind == KIND_CCER ?
				(ccer_layout == LAYOUT_COUNTED_FIRST ? "; binary project is counted text first" :
				 ccer_layout == LAYOUT_CSTRING_FIRST ? "; binary project is a C string first" :
				 ccer_layout == LAYOUT_TEXT_LAST ? "; binary project is the trailing text" :
				 "; binary project layout not recognised") : "");
}

/* ----------
 * Reporting
 * ----------
 */
static void
fprint_escaped(FILE *f, const Buf *b)
{
	size_t		n = b->len > 600 ? 600 : b->len;

	fputc('"', f);
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = b->data[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	fputc('"', f);
	if (n < b->len)
		fprintf(f, "... (%zu bytes in all)", b->len);
}

static void
record_failure(const Target *tg, Stats *st, const Buf *in, long index,
			   const char *why)
{
	char		path[4200];

	st->failures++;
	if (st->failures <= MAX_PRINTED)
	{
		printf("FAIL %s #%ld: %s\n  input (%zu bytes): ", tg->name, index, why, in->len);
		fprint_escaped(stdout, in);
		putchar('\n');
	}
	if (st->saved < MAX_SAVED)
	{
		FILE	   *f;

		mkdir(crash_dir, 0777);
		snprintf(path, sizeof(path), "%s/%s-%" PRIu64 "-%ld.bin",
				 crash_dir, tg->name, opt_seed, index);
		f = fopen(path, "wb");
		if (f != NULL)
		{
			if (fwrite(in->data, 1, in->len, f) != in->len)
				fprintf(stderr, "fuzz_io: could not write %s\n", path);
			fclose(f);
			st->saved++;
			if (st->failures <= MAX_PRINTED)
				printf("  saved as %s\n", path);
		}
		else
			fprintf(stderr, "fuzz_io: could not create %s: %s\n", path, strerror(errno));
	}
	fflush(stdout);
}

static void
count_code(Stats *st, const char *code)
{
	for (int i = 0; i < st->ncodes; i++)
		if (strcmp(st->codes[i].code, code) == 0)
		{
			st->codes[i].count++;
			return;
		}
	if (st->ncodes < MAX_CODES)
	{
		snprintf(st->codes[st->ncodes].code, sizeof(st->codes[0].code), "%s", code);
		st->codes[st->ncodes++].count = 1;
	}
}

static int
cmp_codes(const void *a, const void *b)
{
	const CodeCount *x = a;
	const CodeCount *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->code, y->code);
}

static void
print_summary(const Target *tg, Stats *st)
{
	qsort(st->codes, st->ncodes, sizeof(CodeCount), cmp_codes);
	printf("fuzz %s: %ld inputs, %ld accepted, %ld rejected (",
		   tg->name, st->inputs, st->accepted, st->rejected);
	for (int i = 0; i < st->ncodes; i++)
		printf("%s%s %ld", i ? ", " : "", st->codes[i].code, st->codes[i].count);
	printf("), %ld failures\n", st->failures);
	fflush(stdout);
}

/* ----------
 * Running inputs
 * ----------
 */
#ifdef LIBPQ_HAS_PIPELINING
static bool
send_input(const Target *tg, const Buf *in)
{
	const char *values[1] = {(const char *) in->data};
	int			lengths[1] = {(int) in->len};
	int			formats[1] = {tg->binary ? 1 : 0};

	return PQsendQueryPrepared(conn, tg->name, 1, values, lengths, formats, 0) == 1;
}
#endif

static bool
allowed_code(const Target *tg, const char *code)
{
	for (int i = 0; tg->allowed[i]; i++)
		if (strcmp(tg->allowed[i], code) == 0)
			return true;
	return false;
}

/*
 * Judge one query result.  On OUT_REJECTED the SQLSTATE is copied to code;
 * on OUT_FAILED a description to why.
 */
static Outcome
classify(const Target *tg, const PGresult *res, char *code, char *why, size_t whylen)
{
	ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (status == PGRES_TUPLES_OK)
	{
		const char *v;
		const char *shape;

		if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0))
		{
			snprintf(why, whylen, "unexpected result shape");
			return OUT_FAILED;
		}
		v = PQgetvalue(res, 0, 0);
		if (strncmp(v, "ok ", 3) != 0)
		{
			snprintf(why, whylen, "accepted, but %s", v + (v[0] == 'E' ? 2 : 0));
			return OUT_FAILED;
		}
		if (!canonical_shape_ok(tg->kind, v + 3, &shape))
		{
			snprintf(why, whylen, "accepted, but the canonical text '%.200s' %s",
					 v + 3, shape);
			return OUT_FAILED;
		}
		if (opt_verbose)
			printf("  accepted: %s\n", v + 3);
		return OUT_ACCEPTED;
	}
	if (status == PGRES_FATAL_ERROR)
	{
		const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *severity = res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;
		const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);

		if (PQstatus(conn) == CONNECTION_BAD || sqlstate == NULL ||
			(severity != NULL && strcmp(severity, "ERROR") != 0))
		{
			/* FATAL or PANIC end the session: reconnect and replay */
			snprintf(why, whylen, "connection lost: %s %s: %s",
					 severity ? severity : "?", sqlstate ? sqlstate : "(no SQLSTATE)", msg);
			trim_newline(why);
			return OUT_LOST;
		}
		if (severity == NULL || !allowed_code(tg, sqlstate))
		{
			snprintf(why, whylen, "%s %s: %s", severity ? severity : "?", sqlstate, msg);
			trim_newline(why);
			return OUT_FAILED;
		}
		snprintf(code, 6, "%s", sqlstate);
		if (opt_verbose)
			printf("  rejected: %s %s", sqlstate, msg);
		return OUT_REJECTED;
	}
	snprintf(why, whylen, "unexpected result status %s", PQresStatus(status));
	if (PQstatus(conn) == CONNECTION_BAD)
		return OUT_LOST;
	return OUT_FAILED;
}

/* Account for one judged input. */
static void
tally(const Target *tg, Stats *st, const Buf *in, long index, Outcome o,
	  const char *code, const char *why)
{
	st->inputs++;
	if (o == OUT_ACCEPTED)
		st->accepted++;
	else if (o == OUT_REJECTED)
	{
		st->rejected++;
		count_code(st, code);
	}
	else
		record_failure(tg, st, in, index, why);
}

static void
reconnect(Stats *st)
{
	if (conn)
		PQfinish(conn);
	conn = NULL;
	st->reconnects++;
	if (!connect_db(true))
		die("the server did not come back after a lost connection");
}

/* Run one input on its own (not pipelined). */
static Outcome
run_single(const Target *tg, const Buf *in, char *code, char *why, size_t whylen)
{
	const char *values[1] = {(const char *) in->data};
	int			lengths[1] = {(int) in->len};
	int			formats[1] = {tg->binary ? 1 : 0};
	PGresult   *res;
	Outcome		o;

	if (opt_verbose)
	{
		printf("%s: ", tg->name);
		fprint_escaped(stdout, in);
		putchar('\n');
	}
	res = PQexecPrepared(conn, tg->name, 1, values, lengths, formats, 0);
	o = classify(tg, res, code, why, whylen);
	PQclear(res);
	return o;
}

/*
 * The connection was lost while inputs were in flight: reconnect, then replay
 * each of them alone to find the one that kills the backend.
 */
static void
replay_after_loss(const Target *tg, Stats *st, Slot *ring, int window,
				  long from, long to, const char *first_why)
{
	bool		reproduced = false;
	char		code[6];
	char		why[1024];

	fprintf(stderr, "fuzz_io: %s: %s; replaying the %ld input(s) in flight one by one\n",
			tg->name, first_why, to - from);
	reconnect(st);
	for (long i = from; i < to; i++)
	{
		Slot	   *s = &ring[i % window];
		Outcome		o = run_single(tg, &s->in, code, why, sizeof(why));

		if (o == OUT_LOST)
		{
			char		msg[1100];

			snprintf(msg, sizeof(msg), "backend lost (reproduced alone): %s", why);
			tally(tg, st, &s->in, s->index, OUT_FAILED, NULL, msg);
			reproduced = true;
			reconnect(st);
		}
		else
			tally(tg, st, &s->in, s->index, o, code, why);
	}
	if (!reproduced)
	{
		/* the lost connection is a failure even if no input reproduces it */
		snprintf(why, sizeof(why), "%.900s (did not reproduce when replayed alone)", first_why);
		record_failure(tg, st, &ring[from % window].in, ring[from % window].index, why);
	}
}

static void
generate(const Target *tg, Buf *b)
{
	if (tg->binary)
		gen_binary_input(tg->kind, b);
	else
		gen_text_input(tg->kind, b);
}

/* One input at a time: without pipeline support, or with --window 1. */
static void
fuzz_serial(const Target *tg, Stats *st)
{
	Slot		s = {{0}};
	char		code[6];
	char		why[1024];

	for (long i = 0; i < opt_iterations; i++)
	{
		Outcome		o;

		generate(tg, &s.in);
		s.index = i;
		o = run_single(tg, &s.in, code, why, sizeof(why));
		if (o == OUT_LOST)
			replay_after_loss(tg, st, &s, 1, i, i + 1, why);
		else
			tally(tg, st, &s.in, i, o, code, why);
	}
	free(s.in.data);
}

#ifdef LIBPQ_HAS_PIPELINING
/*
 * Pipelined: keep opt_window queries in flight, each followed by a sync so
 * that an error aborts only its own query.  Inputs are generated in order,
 * so the PRNG sequence does not depend on the server's answers.
 */
static void
fuzz_pipelined(const Target *tg, Stats *st)
{
	Slot	   *ring = calloc(opt_window, sizeof(Slot));
	long		next_gen = 0;
	long		next_done = 0;
	char		code[6];
	char		why[1024];

	if (ring == NULL)
		die("out of memory");
	if (PQenterPipelineMode(conn) != 1)
		die("could not enter pipeline mode: %s", PQerrorMessage(conn));
	while (next_done < opt_iterations)
	{
		Slot	   *s;
		PGresult   *res;
		Outcome		o;
		bool		lost = false;

		/* keep the window full */
		while (next_gen < opt_iterations && next_gen - next_done < opt_window)
		{
			s = &ring[next_gen % opt_window];
			generate(tg, &s->in);
			s->index = next_gen;
			next_gen++;
			if (!send_input(tg, &s->in) || PQpipelineSync(conn) != 1)
			{
				lost = true;
				break;
			}
		}

		/* collect the oldest: its result, the end-of-query NULL, the sync */
		s = &ring[next_done % opt_window];
		if (!lost)
		{
			res = PQgetResult(conn);
			o = classify(tg, res, code, why, sizeof(why));
			PQclear(res);
			if (o != OUT_LOST)
			{
				res = PQgetResult(conn);
				if (res != NULL)
				{
					/* more than one result for a single SELECT */
					PQclear(res);
					snprintf(why, sizeof(why), "protocol confusion: extra result");
					o = OUT_LOST;
				}
				else
				{
					res = PQgetResult(conn);
					if (PQresultStatus(res) != PGRES_PIPELINE_SYNC)
					{
						snprintf(why, sizeof(why), "expected a pipeline sync, got %s: %.800s",
								 PQresStatus(PQresultStatus(res)), PQerrorMessage(conn));
						trim_newline(why);
						o = OUT_LOST;
					}
					PQclear(res);
				}
			}
			if (o != OUT_LOST)
			{
				tally(tg, st, &s->in, s->index, o, code, why);
				next_done++;
				continue;
			}
		}
		else
		{
			snprintf(why, sizeof(why), "connection lost while sending: %.900s",
					 PQerrorMessage(conn));
			trim_newline(why);
		}

		replay_after_loss(tg, st, ring, opt_window, next_done, next_gen, why);
		next_done = next_gen;
		if (PQenterPipelineMode(conn) != 1)
			die("could not enter pipeline mode: %s", PQerrorMessage(conn));
	}
	if (PQexitPipelineMode(conn) != 1)
		die("could not leave pipeline mode: %s", PQerrorMessage(conn));
	for (int i = 0; i < opt_window; i++)
		free(ring[i].in.data);
	free(ring);
}
#endif

static void
fuzz_target(const Target *tg, Stats *st)
{
	seed_target(tg->name);
#ifdef LIBPQ_HAS_PIPELINING
	if (opt_window > 1 && !opt_verbose)
	{
		fuzz_pipelined(tg, st);
		return;
	}
#endif
	fuzz_serial(tg, st);
}

/* ----------
 * Replay of a saved input
 * ----------
 */
static int
replay_file(const char *path)
{
	const Target *tg = NULL;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	FILE	   *f;
	Buf			in = {0};
	unsigned char chunk[4096];
	size_t		n;
	char		code[6];
	char		why[1024];
	Outcome		o;

	for (int i = 0; i < NTARGETS; i++)
	{
		size_t		l = strlen(targets[i].name);

		if (strcmp(opt_target, targets[i].name) == 0 ||
			(strcmp(opt_target, "all") == 0 && strncmp(base, targets[i].name, l) == 0 &&
			 base[l] == '-'))
			tg = &targets[i];
	}
	if (tg == NULL)
		die("--replay needs --target (could not tell it from the file name %s)", base);
	if (type_oid[tg->kind] == 0)
		die("type carbonmkt.%s is not installed", type_names[tg->kind]);
	f = fopen(path, "rb");
	if (f == NULL)
		die("could not open %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&in, chunk, n);
	fclose(f);

	printf("%s: ", tg->name);
	fprint_escaped(stdout, &in);
	putchar('\n');
	o = run_single(tg, &in, code, why, sizeof(why));
	switch (o)
	{
		case OUT_ACCEPTED:
			printf("accepted (round trip holds)\n");
			return 0;
		case OUT_REJECTED:
			printf("rejected with allowed SQLSTATE %s\n", code);
			return 0;
		default:
			printf("FAIL: %s\n", why);
			return 1;
	}
}

/* ----------
 * main
 * ----------
 */
static void
usage(void)
{
	printf("Usage: fuzz_io [OPTION]...\n"
		   "Fuzz carbonmkt's input and receive functions (libpq environment: PGHOST, PGPORT, ...).\n\n"
		   "  --seed N          PRNG seed (default 20261121)\n"
		   "  --iterations N    inputs per target (default 10000)\n"
		   "  --target T        allowance_in, allowance_recv, ccer_in, ccer_recv or all (default)\n"
		   "  --window N        queries in flight in pipeline mode (default %d; 1 = no pipeline)\n"
		   "  --verbose         print every input and its outcome (not pipelined)\n"
		   "  --replay FILE     run one saved input (target from --target or the file name)\n"
		   "  --corpus-dir DIR  seed corpus (default: corpus/ next to this program)\n"
		   "  --crash-dir DIR   where failing inputs are saved (default: crashes/ next to this program)\n",
		   DEFAULT_WINDOW);
}

static long
parse_long(const char *opt, const char *s, long min)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min)
		die("invalid value for %s: %s", opt, s);
	return v;
}

int
main(int argc, char **argv)
{
	const char *slash = strrchr(argv[0], '/');
	char		here[4096];
	bool		any = false;
	long		total_failures = 0;

	if (slash)
		snprintf(here, sizeof(here), "%.*s", (int) (slash - argv[0]), argv[0]);
	else
		snprintf(here, sizeof(here), ".");

	for (int i = 1; i < argc; i++)
	{
		const char *a = argv[i];
		const char *v = (i + 1 < argc) ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
		{
			usage();
			return 0;
		}
		if (strcmp(a, "--verbose") == 0)
		{
			opt_verbose = true;
			continue;
		}
		if (v == NULL)
			die("option %s needs a value (try --help)", a);
		i++;
		if (strcmp(a, "--seed") == 0)
		{
			char	   *end;

			errno = 0;
			opt_seed = strtoull(v, &end, 10);
			if (errno || *end || end == v)
				die("invalid value for --seed: %s", v);
		}
		else if (strcmp(a, "--iterations") == 0)
			opt_iterations = parse_long(a, v, 0);
		else if (strcmp(a, "--window") == 0)
			opt_window = (int) parse_long(a, v, 1);
		else if (strcmp(a, "--target") == 0)
			opt_target = v;
		else if (strcmp(a, "--replay") == 0)
			opt_replay = v;
		else if (strcmp(a, "--corpus-dir") == 0)
			corpus_dir = xstrdup(v);
		else if (strcmp(a, "--crash-dir") == 0)
			crash_dir = xstrdup(v);
		else
			die("unknown option %s (try --help)", a);
	}
	if (opt_window > MAX_WINDOW)
		opt_window = MAX_WINDOW;
	if (strcmp(opt_target, "all") != 0)
	{
		for (int i = 0; i < NTARGETS; i++)
			any |= strcmp(opt_target, targets[i].name) == 0;
		if (!any)
			die("unknown target %s", opt_target);
	}
	if (corpus_dir == NULL)
	{
		corpus_dir = xrealloc(NULL, strlen(here) + 16);
		sprintf(corpus_dir, "%s/corpus", here);
	}
	if (crash_dir == NULL)
	{
		crash_dir = xrealloc(NULL, strlen(here) + 16);
		sprintf(crash_dir, "%s/crashes", here);
	}

	if (!connect_db(false))
		return 2;

	if (opt_replay)
	{
		int			rc = replay_file(opt_replay);

		PQfinish(conn);
		return rc;
	}

	load_corpus(KIND_ALLOWANCE);
	load_corpus(KIND_CCER);
	for (int k = KIND_ALLOWANCE; k <= KIND_CCER; k++)
		if (type_oid[k] != 0)
			load_encodings((TypeKind) k);

	for (int i = 0; i < NTARGETS; i++)
	{
		const Target *tg = &targets[i];
		Stats		st;
		double		t0;
		double		secs;
		int			pid;

		if (strcmp(opt_target, "all") != 0 && strcmp(opt_target, tg->name) != 0)
			continue;
		if (type_oid[tg->kind] == 0)
		{
			/* a failure only when this target was asked for by name */
			bool		asked = strcmp(opt_target, tg->name) == 0;

			printf("fuzz %s: skipped, type carbonmkt.%s is not installed%s\n",
				   tg->name, type_names[tg->kind], asked ? " (1 failure)" : "");
			total_failures += asked;
			continue;
		}
		memset(&st, 0, sizeof(st));
		pid = backend_pid();
		t0 = now_seconds();
		fuzz_target(tg, &st);
		secs = now_seconds() - t0;
		if (backend_pid() != pid)
		{
			printf("FAIL %s: the backend process changed during the run (%d, now %d)%s\n",
				   tg->name, pid, backend_pid(),
				   st.reconnects ? "" : " without a lost connection");
			st.failures++;
		}
		print_summary(tg, &st);
		fprintf(stderr, "fuzz %s: %.1f s, %.0f inputs/s\n", tg->name, secs,
				secs > 0 ? st.inputs / secs : 0.0);
		total_failures += st.failures;
	}
	printf("fuzz: %ld failures\n", total_failures);
	PQfinish(conn);
	return total_failures ? 1 : 0;
}
