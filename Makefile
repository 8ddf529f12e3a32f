# carbonmkt: China's national carbon market inside PostgreSQL (PGXS build).
#
#   make demo   build, install and run the demo on a throwaway cluster
#   make test   build, install and run every test layer on a throwaway cluster
#
# Both first run test/deps.sh, which installs missing Debian packages when run as
# root and prints the apt command otherwise.

EXTENSION   = carbonmkt
EXTVERSION  = 0.2.0

PG_CONFIG  ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS       := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

MODULE_big  = $(EXTENSION)
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
PG_CFLAGS   = -Wall -Werror
# src/chain.c hashes with OpenSSL directly when the server was built with it (USE_OPENSSL)
ifneq (,$(findstring -lcrypto,$(shell $(PG_CONFIG) --libs 2>/dev/null)))
SHLIB_LINK += -lcrypto
endif

# The install script of the version in development (EXTVERSION) is the concatenation
# of src/<room>.sql in this fixed order (types first: everything else uses them; access
# and reporting next: they grant on and read from every other room; operations last: it
# registers every table for pg_dump, src/operations.sql).  Released
# versions are frozen in sql/ (carbonmkt--A.sql) with hand-written upgrade scripts
# (carbonmkt--A--B.sql), installed beside it.  Once EXTVERSION is released its script is
# the frozen one in sql/, and src/*.sql must still equal it (test/ops/frozen.sh): a change
# begins the next version.  See doc/development.md.
SQL_ORDER   = types registry settlement jurisdiction mrv allocation market compliance finance rules access reporting operations
SQL_PARTS   = $(foreach s,$(SQL_ORDER),$(wildcard src/$(s).sql))
ifeq ($(wildcard sql/$(EXTENSION)--$(EXTVERSION).sql),)
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
endif
DATA        = $(wildcard sql/$(EXTENSION)--*.sql)

REGRESS     = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/$(EXTENSION)--%,$(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)
ISOLATION   = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=$(EXTENSION)

EXTRA_CLEAN = results/ output_iso/ regression.diffs regression.out \
	test/fuzz/fuzz_io test/fuzz/api_fuzz test/bench/*.log src/cli/carbonmkt-load src/cli/*.o \
	src/cli/carbonmkt-dashboard src/cli/dashboard_template.h

ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install installcheck:
	@echo "PostgreSQL 15 server development files not found; run 'make deps' (as root) first." >&2
	@false
endif

$(DATA_built): $(SQL_PARTS) Makefile
	cat $(SQL_PARTS) > $@

# Client-side programs built on libpq: the fuzzer and the order-flow tool.
LIBPQ_CFLAGS = -O2 -g -Wall -Werror -I$(shell $(PG_CONFIG) --includedir)
LIBPQ_LIBS   = -L$(shell $(PG_CONFIG) --libdir) -lpq

test/fuzz/fuzz_io: test/fuzz/fuzz_io.c
	$(CC) $(LIBPQ_CFLAGS) -o $@ $< $(LIBPQ_LIBS)

# The API fuzzer (doc/security.md): every public function, random arguments and logins.
test/fuzz/api_fuzz: test/fuzz/api_fuzz.c
	$(CC) $(LIBPQ_CFLAGS) -o $@ $< $(LIBPQ_LIBS)

# The libpq client programs (src/cli/README.md): carbonmkt-load, the order-flow generator, and
# carbonmkt-dashboard, the HTML dashboard of the bi_* views; built by `make`, not installed.
all: src/cli/carbonmkt-load src/cli/carbonmkt-dashboard
src/cli/carbonmkt-load src/cli/carbonmkt-dashboard: $(wildcard src/cli/*.c src/cli/*.h) src/cli/dashboard.html src/cli/Makefile
	$(MAKE) -C src/cli PG_CONFIG=$(PG_CONFIG)

.PHONY: deps demo test fuzz bench
deps:
	@test/deps.sh

test: deps
	$(MAKE) all
	$(MAKE) install
	$(MAKE) test/fuzz/fuzz_io test/fuzz/api_fuzz
	test/cluster.sh test/run-tests.sh

demo: deps
	$(MAKE) all
	$(MAKE) install
	test/cluster.sh test/demo/run.sh

# Full fuzz run: 1,000,000 inputs per input/receive function (see test/fuzz/README.md),
# then 1,000,000 calls of the public API (test/fuzz/api_fuzz, doc/security.md).
FUZZ_ITERATIONS ?= 1000000
FUZZ_API_CALLS ?= 1000000
fuzz: deps
	$(MAKE) all
	$(MAKE) install
	$(MAKE) test/fuzz/fuzz_io test/fuzz/api_fuzz
	FUZZ_API_CALLS=$(FUZZ_API_CALLS) test/cluster.sh test/fuzz/run.sh $(FUZZ_ITERATIONS)

# Benchmarks: make bench [BENCH=name]; each prints ratios (see doc/performance.md).
BENCH ?=
bench: deps
	$(MAKE) all
	$(MAKE) install
	CARBONMKT_DURABLE=1 test/cluster.sh test/bench/run.sh $(BENCH)
