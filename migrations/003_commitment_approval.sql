-- Four eyes (DOMAIN rule 6): the latest approval decision on a commitment, and a year-wide index
-- for finance's list of over-budget commitments (rule 1).

-- projection: commitments
ALTER TABLE commitments ADD COLUMN last_decision TEXT;
ALTER TABLE commitments ADD COLUMN last_decision_by TEXT;
ALTER TABLE commitments ADD COLUMN last_decision_at TEXT;
ALTER TABLE commitments ADD COLUMN last_decision_comment TEXT;
CREATE INDEX commitments_over_budget ON commitments (year, over_budget, sozialraum);
