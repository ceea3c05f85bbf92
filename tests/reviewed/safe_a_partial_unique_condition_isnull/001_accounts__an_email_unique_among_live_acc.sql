-- Description: Accounts, an email unique among live accounts
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    deleted_at TEXT
);
CREATE UNIQUE INDEX ux_accounts_email ON accounts(email) WHERE deleted_at IS NULL;
