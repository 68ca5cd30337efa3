-- A start/end range is a field of its own. It used to travel packed in
-- the language as a media fragment ('en#t=30-90', 'en#t=30-' for a range
-- running to the end): jobs.audio_language, transcripts.language and
-- transcript_chunks.language. Now jobs, transcripts and chunks carry
-- range_start and range_end (seconds of the video's own time; an end of 0
-- runs to the video's end; 0 and 0 is the whole video), and every key a
-- transcript is found by holds them, so a ranged transcript or summary is
-- never taken for the whole video's, nor the other way round.
--
-- Every statement may run again (IF [NOT] EXISTS, and the rows it splits
-- no longer hold '#t=').

ALTER TABLE jobs
    ADD COLUMN IF NOT EXISTS range_start double precision NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS range_end   double precision NOT NULL DEFAULT 0;
ALTER TABLE transcripts
    ADD COLUMN IF NOT EXISTS range_start double precision NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS range_end   double precision NOT NULL DEFAULT 0;
ALTER TABLE transcript_chunks
    ADD COLUMN IF NOT EXISTS range_start double precision NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS range_end   double precision NOT NULL DEFAULT 0;

-- The keys take the range before the packed rows are split: a ranged
-- chunk becomes (video, 'en', 30, 90, i) beside the whole video's
-- (video, 'en', 0, 0, i).
ALTER TABLE transcript_chunks DROP CONSTRAINT IF EXISTS transcript_chunks_pkey;
ALTER TABLE transcript_chunks ADD CONSTRAINT transcript_chunks_pkey
    PRIMARY KEY (video_key, language, range_start, range_end, chunk_index);
DROP INDEX IF EXISTS transcripts_video;
CREATE INDEX IF NOT EXISTS transcripts_video_range
    ON transcripts (video_key, language, range_start, range_end, created_at DESC);

-- recap_split_range('en#t=30-90') is ('en', 30, 90). A fragment that is
-- not '<start>-[<end>]' in plain decimals gives its language and no range,
-- as the Go code reading packed languages (jobs.SplitRange) did.
CREATE OR REPLACE FUNCTION pg_temp.recap_split_range(packed text, OUT lang text, OUT rstart double precision, OUT rend double precision)
LANGUAGE sql IMMUTABLE AS $$
    SELECT split_part(packed, '#t=', 1),
        coalesce(m[1]::double precision, 0),
        coalesce(nullif(m[2], '')::double precision, 0)
    FROM (SELECT regexp_match(substr(packed, strpos(packed, '#t=') + 3), '^([0-9]+(?:\.[0-9]+)?)-([0-9]+(?:\.[0-9]+)?)?$') AS m) f
$$;

UPDATE jobs SET (audio_language, range_start, range_end) =
    (SELECT lang, rstart, rend FROM pg_temp.recap_split_range(audio_language))
    WHERE strpos(audio_language, '#t=') > 0;
UPDATE transcripts SET (language, range_start, range_end) =
    (SELECT lang, rstart, rend FROM pg_temp.recap_split_range(language))
    WHERE strpos(language, '#t=') > 0;
-- Chunks are only the unfinished work of a transcription, resumed by a
-- retry: a packed chunk whose split key is taken already (only a
-- malformed fragment could do that) is dropped, and sent to
-- speech-to-text again.
INSERT INTO transcript_chunks (video_key, language, range_start, range_end, chunk_index, chunk_offset, chunk_duration, segments, created_at)
    SELECT c.video_key, r.lang, r.rstart, r.rend, c.chunk_index, c.chunk_offset, c.chunk_duration, c.segments, c.created_at
    FROM transcript_chunks c CROSS JOIN LATERAL pg_temp.recap_split_range(c.language) r
    WHERE strpos(c.language, '#t=') > 0
    ON CONFLICT DO NOTHING;
DELETE FROM transcript_chunks WHERE strpos(language, '#t=') > 0;

DROP FUNCTION pg_temp.recap_split_range(text);
