-- Every change to an API key (revocation above all) is announced on the
-- channel recap_api_keys, in the changing transaction, so that API
-- processes caching key lookups drop them the moment it commits — whatever
-- made the change: the CLI, the admin API or an operator's psql. The
-- payload is the table's schema, so databases holding several Recap
-- schemas (the tests' schema per test) announce each to its own listeners.
CREATE FUNCTION recap_api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recap_api_keys', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION recap_api_keys_changed();
