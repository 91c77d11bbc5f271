-- The controlling reports (docs/reports.md): what each budget spent per month, for the monthly
-- report and its burn-down chart.

-- projection: monthly
-- Spent per budget, month (1–12) and line: invoices in the month of their invoice date, flexible
-- spending in the month of its date, a reversal taken off the month of the spending it reverses.
-- Dates outside the fiscal year count in its first or last month. A row exists from the first
-- money spent in its month and line; a month without a row spent nothing.
CREATE TABLE monthly_spent (
  year        INTEGER NOT NULL,
  sozialraum  TEXT    NOT NULL,
  month       INTEGER NOT NULL,
  line        TEXT    NOT NULL,
  spent_cents BIGINT  NOT NULL DEFAULT 0,
  PRIMARY KEY (year, sozialraum, month, line)
);

-- The month each flexible spending counted in: a SpendingReversed carries no date of its own.
CREATE TABLE monthly_spendings (
  year        INTEGER NOT NULL,
  sozialraum  TEXT    NOT NULL,
  spending_id TEXT    NOT NULL,
  month       INTEGER NOT NULL,
  PRIMARY KEY (year, sozialraum, spending_id)
);
