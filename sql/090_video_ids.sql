-- After resolve a video is also known by yt-dlp's extractor_key + id, for
-- the extractors whose ids are stable across sites (media.StableID; never
-- "Generic", whose ids are file names). The first URL form to resolve owns
-- the id; a later form that resolves to the same id joins that video, and
-- its own key is kept in video_aliases so the next request for it finds
-- the video without running yt-dlp (it is looked up before videos).
CREATE TABLE IF NOT EXISTS video_ids (
    extractor_key text        NOT NULL,
    id            text        NOT NULL,
    -- The owner's videos row is written in the same transaction.
    video_key     text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (extractor_key, id)
);
CREATE TABLE IF NOT EXISTS video_aliases (
    key         text        PRIMARY KEY,
    video_key   text        NOT NULL REFERENCES videos(key),
    created_at  timestamptz NOT NULL DEFAULT now()
);
