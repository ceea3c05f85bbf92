-- Description: The live-email index again, condition written with ISNULL
DROP INDEX ux_accounts_email;
CREATE UNIQUE INDEX ux_accounts_email ON accounts(email) WHERE deleted_at ISNULL;
