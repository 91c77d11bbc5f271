-- The fiscal year's close with its carry-over (docs/domain.md rule 8) and moves between
-- Sozialräume (rule 9).

-- projection: balances
-- Where a line's allocated amount came from or went, beside the net figure: carried in from the
-- previous year's close, carried out by this year's, moved from and to other Sozialräume; and
-- what the close let lapse.
ALTER TABLE budget_lines ADD COLUMN carried_in_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE budget_lines ADD COLUMN carried_out_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE budget_lines ADD COLUMN moved_in_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE budget_lines ADD COLUMN moved_out_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE budget_lines ADD COLUMN lapsed_cents BIGINT NOT NULL DEFAULT 0;
-- Of carried_out_cents, what was unspent money (the rest is what carried commitments need).
ALTER TABLE budget_lines ADD COLUMN unspent_carried_cents BIGINT NOT NULL DEFAULT 0;

-- projection: commitments
ALTER TABLE commitments ADD COLUMN carried_cents BIGINT NOT NULL DEFAULT 0;
ALTER TABLE commitments ADD COLUMN carried_to_year INTEGER;
ALTER TABLE commitments ADD COLUMN carried_to_id TEXT;
ALTER TABLE commitments ADD COLUMN carried_from_year INTEGER;
ALTER TABLE commitments ADD COLUMN carried_from_id TEXT;
CREATE INDEX commitments_by_period_end ON commitments (year, status, period_to);

-- projection: fiscal-years
CREATE TABLE fiscal_years (
  year                  INTEGER PRIMARY KEY,
  status                TEXT    NOT NULL,
  reason                TEXT,
  carry_unspent         TEXT,
  requested_by          TEXT,
  requested_at          TEXT,
  decision              TEXT,
  decided_by            TEXT,
  decided_at            TEXT,
  decision_comment      TEXT,
  closed_at             TEXT,
  budgets               INTEGER,
  carried_commitments   INTEGER,
  carried_cents         BIGINT,
  allocation_carried_cents BIGINT,
  unspent_carried_cents BIGINT,
  lapsed_cents          BIGINT
);

-- projection: moves
CREATE TABLE budget_moves (
  year            INTEGER NOT NULL,
  id              TEXT    NOT NULL,
  from_sozialraum TEXT    NOT NULL,
  from_line       TEXT    NOT NULL,
  to_sozialraum   TEXT    NOT NULL,
  to_line         TEXT    NOT NULL,
  amount_cents    BIGINT  NOT NULL,
  reason          TEXT    NOT NULL,
  -- in-transit (debited), completed (credited), refused (by the target; the source is owed it back), reverted
  status          TEXT    NOT NULL,
  why             TEXT,
  requested_by    TEXT    NOT NULL,
  requested_at    TEXT    NOT NULL,
  settled_at      TEXT,
  PRIMARY KEY (year, id)
);
CREATE INDEX budget_moves_by_status ON budget_moves (status, year);
