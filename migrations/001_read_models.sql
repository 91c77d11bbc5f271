-- Read models of the ledger. Portable SQL for SQLite and PostgreSQL; amounts are integer cents.
-- Every table belongs to exactly one projection (projections/), which alone writes it.

CREATE TABLE projection_checkpoints (
  name     TEXT PRIMARY KEY,
  position BIGINT NOT NULL
);

-- projection: sozialraeume
CREATE TABLE sozialraeume (
  id        TEXT PRIMARY KEY,
  name      TEXT NOT NULL,
  status    TEXT NOT NULL,
  opened_at TEXT NOT NULL
);

-- projection: balances
CREATE TABLE budgets (
  year       INTEGER NOT NULL,
  sozialraum TEXT    NOT NULL,
  revision   BIGINT  NOT NULL,
  closed     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (year, sozialraum)
);

CREATE TABLE budget_lines (
  year            INTEGER NOT NULL,
  sozialraum      TEXT    NOT NULL,
  line            TEXT    NOT NULL,
  allocated_cents BIGINT  NOT NULL DEFAULT 0,
  committed_cents BIGINT  NOT NULL DEFAULT 0,
  spent_cents     BIGINT  NOT NULL DEFAULT 0,
  PRIMARY KEY (year, sozialraum, line)
);

-- projection: commitments
CREATE TABLE commitments (
  year                      INTEGER NOT NULL,
  sozialraum                TEXT    NOT NULL,
  id                        TEXT    NOT NULL,
  line                      TEXT    NOT NULL,
  provider                  TEXT    NOT NULL,
  case_ref                  TEXT    NOT NULL,
  help_type                 TEXT,
  period_from               TEXT    NOT NULL,
  period_to                 TEXT    NOT NULL,
  decision_ref              TEXT,
  amount_cents              BIGINT  NOT NULL,
  invoiced_cents            BIGINT  NOT NULL DEFAULT 0,
  released_cents            BIGINT  NOT NULL DEFAULT 0,
  status                    TEXT    NOT NULL,
  over_budget               INTEGER NOT NULL,
  over_budget_justification TEXT,
  created_by                TEXT    NOT NULL,
  created_at                TEXT    NOT NULL,
  PRIMARY KEY (year, sozialraum, id)
);
CREATE INDEX commitments_by_status ON commitments (year, sozialraum, status);

CREATE TABLE commitment_invoices (
  year          INTEGER NOT NULL,
  sozialraum    TEXT    NOT NULL,
  commitment_id TEXT    NOT NULL,
  invoice_no    TEXT    NOT NULL,
  amount_cents  BIGINT  NOT NULL,
  invoice_date  TEXT    NOT NULL,
  position      BIGINT  NOT NULL,
  PRIMARY KEY (year, sozialraum, commitment_id, invoice_no)
);

-- projection: spending
CREATE TABLE spendings (
  year         INTEGER NOT NULL,
  sozialraum   TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  amount_cents BIGINT  NOT NULL,
  purpose      TEXT    NOT NULL,
  category     TEXT,
  receipt_ref  TEXT    NOT NULL,
  spent_on     TEXT    NOT NULL,
  reversed     INTEGER NOT NULL DEFAULT 0,
  created_by   TEXT    NOT NULL,
  created_at   TEXT    NOT NULL,
  PRIMARY KEY (year, sozialraum, id)
);

-- projection: audit
CREATE TABLE audit_events (
  position    BIGINT  PRIMARY KEY,
  stream_id   TEXT    NOT NULL,
  revision    BIGINT  NOT NULL,
  event_id    TEXT    NOT NULL,
  type        TEXT    NOT NULL,
  version     INTEGER NOT NULL,
  year        INTEGER,
  sozialraum  TEXT,
  recorded_at TEXT    NOT NULL,
  actor_sub   TEXT    NOT NULL,
  actor_role  TEXT    NOT NULL,
  data        TEXT    NOT NULL,
  metadata    TEXT    NOT NULL
);
CREATE INDEX audit_events_by_budget ON audit_events (year, sozialraum, position);
CREATE INDEX audit_events_by_type ON audit_events (type, position);
CREATE INDEX audit_events_by_actor ON audit_events (actor_sub, position);
CREATE INDEX audit_events_by_time ON audit_events (recorded_at, position);
