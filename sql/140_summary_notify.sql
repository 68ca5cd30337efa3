-- API processes answer cache hits from summaries held in memory
-- (store.SummaryCache). What could change such an answer is announced on
-- the channel recap_summaries in the changing transaction, as
-- '<schema> <video key>': a new summary of a video (a refresh, another
-- model or language), and a URL form joining a video (video_aliases).
-- Listeners drop that video's entries when it commits.
CREATE FUNCTION recap_summary_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recap_summaries', TG_TABLE_SCHEMA || ' ' || t.video_key)
        FROM transcripts t WHERE t.id = NEW.transcript_id;
    RETURN NULL;
END $$;

CREATE TRIGGER summaries_added AFTER INSERT ON summaries
    FOR EACH ROW EXECUTE FUNCTION recap_summary_added();

CREATE FUNCTION recap_alias_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recap_summaries', TG_TABLE_SCHEMA || ' ' || NEW.key);
    RETURN NULL;
END $$;

CREATE TRIGGER video_aliases_added AFTER INSERT OR UPDATE ON video_aliases
    FOR EACH ROW EXECUTE FUNCTION recap_alias_added();

-- Summaries and transcripts are never changed or deleted by Recap; an
-- operator who does so by hand empties every listener's cache ('*').
CREATE FUNCTION recap_summaries_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('recap_summaries', TG_TABLE_SCHEMA || ' *');
    RETURN NULL;
END $$;

CREATE TRIGGER summaries_changed AFTER UPDATE OR DELETE OR TRUNCATE ON summaries
    FOR EACH STATEMENT EXECUTE FUNCTION recap_summaries_changed();
CREATE TRIGGER transcripts_changed AFTER UPDATE OR DELETE OR TRUNCATE ON transcripts
    FOR EACH STATEMENT EXECUTE FUNCTION recap_summaries_changed();
CREATE TRIGGER video_aliases_changed AFTER DELETE OR TRUNCATE ON video_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION recap_summaries_changed();

-- Repeats attach only to a running job (store.ActiveJobByHash): succeeded
-- jobs, most of them cache hits, need not be in this index.
DROP INDEX IF EXISTS jobs_request_hash;
CREATE INDEX jobs_request_hash ON jobs (account_id, request_hash)
    WHERE state NOT IN ('succeeded','failed','canceled');
