-- Kill-switch request signatures already used, shared by every process on
-- this database, so a captured request cannot be replayed to the dashboard
-- after the daemon took it, or to a restarted daemon. Rows older than the
-- signature window are pruned as new ones arrive.
CREATE TABLE kill_switch_signatures (
    signature TEXT PRIMARY KEY,
    signed_at BIGINT NOT NULL
);
