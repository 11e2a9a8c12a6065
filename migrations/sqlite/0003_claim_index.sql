-- The claim walks pending operations in id order and stops at its limit; with this index it
-- does not sort every due operation on each claim (a backlog of thousands made each claim
-- cost as much as the Identity Center call it prepares).
CREATE INDEX operations_claim ON operations (state, id);
-- Superseded by operations_claim and operations_key; every index is written on each state
-- change of an operation, and each costs WAL pages on every commit.
DROP INDEX operations_due;
DROP INDEX operations_resource;
