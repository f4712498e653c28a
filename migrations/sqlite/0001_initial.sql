-- The record of what the daemon did with money. Amounts are TEXT holding the
-- exact decimal: SQLite's NUMERIC affinity would round them to ~15 digits.
-- Times are TEXT in RFC 3339, UTC, to the millisecond, so they sort as text.

-- One row per daemon process: what ran, and how it ended.
CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    stopped_at    TEXT,
    exit_reason   TEXT,
    version       TEXT NOT NULL,
    mode          TEXT NOT NULL,
    market_data   TEXT NOT NULL,
    account       TEXT NOT NULL,
    config_digest TEXT NOT NULL
);

-- Every signal a decision source gave that was not a hold.
CREATE TABLE decisions (
    decision_id TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (run_id),
    source      TEXT NOT NULL,
    symbol      TEXT NOT NULL,
    action      TEXT NOT NULL,
    confidence  REAL NOT NULL,
    reason      TEXT NOT NULL,
    price       TEXT NOT NULL,
    decided_at  TEXT NOT NULL,
    -- The trade it led to, if any.
    trade_id    TEXT
);

-- One market order per trade. Written as PENDING before the order is sent,
-- updated with its outcome after.
CREATE TABLE trades (
    trade_id          TEXT PRIMARY KEY,
    correlation_id    TEXT NOT NULL,
    run_id            TEXT NOT NULL REFERENCES runs (run_id),
    account           TEXT NOT NULL,
    symbol            TEXT NOT NULL,
    side              TEXT NOT NULL,
    quantity          TEXT NOT NULL,
    price             TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_reason     TEXT,
    client_order_id   TEXT NOT NULL,
    exchange_order_id TEXT,
    executed_quantity TEXT,
    average_price     TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX trades_by_time ON trades (created_at, trade_id);
CREATE INDEX trades_by_symbol ON trades (symbol, created_at);
CREATE INDEX trades_unresolved ON trades (account) WHERE status IN ('PENDING', 'UNKNOWN');

CREATE TABLE fills (
    trade_id  TEXT NOT NULL REFERENCES trades (trade_id),
    seq       INTEGER NOT NULL,
    price     TEXT NOT NULL,
    quantity  TEXT NOT NULL,
    fee       TEXT NOT NULL,
    fee_asset TEXT NOT NULL,
    PRIMARY KEY (trade_id, seq)
);

-- Append-only: the kill switch's state is its latest event.
CREATE TABLE kill_switch_events (
    event_id   TEXT PRIMARY KEY,
    action     TEXT NOT NULL CHECK (action IN ('activate', 'deactivate')),
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('http', 'cli', 'risk')),
    request_id TEXT,
    at         TEXT NOT NULL
);
CREATE INDEX kill_switch_events_by_time ON kill_switch_events (at, event_id);

-- Balances and positions as the daemon last saw them, per account.
CREATE TABLE balances (
    account    TEXT NOT NULL,
    asset      TEXT NOT NULL,
    amount     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account, asset)
);

CREATE TABLE positions (
    account      TEXT NOT NULL,
    symbol       TEXT NOT NULL,
    quantity     TEXT NOT NULL,
    average_cost TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (account, symbol)
);
