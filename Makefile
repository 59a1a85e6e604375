# logout_everywhere: PGXS build
EXTENSION = logout_everywhere
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = $(EXTENSION)
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))

# Install and upgrade scripts in sql/; tests in test/ (sql/, expected/, specs/).
DATA = $(wildcard sql/$(EXTENSION)--*.sql)
REGRESS = $(sort $(patsubst test/sql/%.sql,%,$(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=plpgsql
ISOLATION = $(sort $(patsubst test/specs/%.spec,%,$(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test
# Tests that need clusters of their own (crash, restart, dump and restore,
# several sessions): t/*.pl on PostgreSQL::Test::Cluster, run by prove.
TAP_TESTS = 1

# Warnings are errors in the test command (make WERROR=-Werror), not in a
# user's build against a compiler or server version we have not seen.
WERROR ?=
PG_CPPFLAGS = -Wall -Wextra $(WERROR) -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare -DEXTVERSION=\"$(EXTVERSION)\"

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Release archives (README, Releasing): git archive of HEAD.
dist:
	scripts/dist
.PHONY: dist
