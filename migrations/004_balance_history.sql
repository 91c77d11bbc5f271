-- projection: balance-history
-- Every budget's figures after each of its events, so that an auditor reads the balances as they
-- stood at any past position or time with one indexed lookup per budget (DOMAIN: "replay it to
-- any past moment"). Append-only: a row is written per budget event and never changed.

-- One row per budget and event: the budget's running figures right after the event at
-- `position`. `recorded_up_to` is the latest recordedAt among the year's events up to this one
-- (normalised to toISOString()), so that it never decreases with the position within a year and
-- a time maps to a position with one seek even when clocks or concurrent writers recorded events
-- slightly out of log order.
CREATE TABLE balance_history (
  year                        INTEGER NOT NULL,
  sozialraum                  TEXT    NOT NULL,
  position                    BIGINT  NOT NULL,
  recorded_up_to              TEXT    NOT NULL,
  revision                    BIGINT  NOT NULL,
  closed                      INTEGER NOT NULL,
  ambulatory_allocated_cents  BIGINT  NOT NULL,
  ambulatory_committed_cents  BIGINT  NOT NULL,
  ambulatory_spent_cents      BIGINT  NOT NULL,
  flexible_allocated_cents    BIGINT  NOT NULL,
  flexible_committed_cents    BIGINT  NOT NULL,
  flexible_spent_cents        BIGINT  NOT NULL,
  over_budget_commitments     INTEGER NOT NULL,
  over_budget_cents           BIGINT  NOT NULL,
  PRIMARY KEY (year, sozialraum, position)
);
CREATE INDEX balance_history_by_time ON balance_history (year, recorded_up_to, position);

-- The running figures of each budget as of the latest event: what the next row starts from, and
-- the list of a year's budgets.
CREATE TABLE balance_history_budgets (
  year                        INTEGER NOT NULL,
  sozialraum                  TEXT    NOT NULL,
  revision                    BIGINT  NOT NULL,
  closed                      INTEGER NOT NULL DEFAULT 0,
  ambulatory_allocated_cents  BIGINT  NOT NULL DEFAULT 0,
  ambulatory_committed_cents  BIGINT  NOT NULL DEFAULT 0,
  ambulatory_spent_cents      BIGINT  NOT NULL DEFAULT 0,
  flexible_allocated_cents    BIGINT  NOT NULL DEFAULT 0,
  flexible_committed_cents    BIGINT  NOT NULL DEFAULT 0,
  flexible_spent_cents        BIGINT  NOT NULL DEFAULT 0,
  over_budget_commitments     INTEGER NOT NULL DEFAULT 0,
  over_budget_cents           BIGINT  NOT NULL DEFAULT 0,
  PRIMARY KEY (year, sozialraum)
);

-- Per commitment, what the over-budget summary needs of it: its marking and what it binds or
-- has spent (amount − released). Events carry amounts, not the commitment's state.
CREATE TABLE balance_history_commitments (
  year        INTEGER NOT NULL,
  sozialraum  TEXT    NOT NULL,
  id          TEXT    NOT NULL,
  over_budget INTEGER NOT NULL,
  bound_cents BIGINT  NOT NULL,
  PRIMARY KEY (year, sozialraum, id)
);

-- Per year, the latest recordedAt of its events so far (see recorded_up_to above).
CREATE TABLE balance_history_years (
  year           INTEGER PRIMARY KEY,
  recorded_up_to TEXT    NOT NULL
);
