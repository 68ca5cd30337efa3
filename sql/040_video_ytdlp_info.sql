-- yt-dlp's own info JSON for a video, kept from the resolve so that the
-- subtitle and audio steps hand it back (--load-info-json) instead of
-- extracting the page again. NULL for videos resolved before this column,
-- and for uploads; those steps then extract the URL as before.
ALTER TABLE videos ADD COLUMN IF NOT EXISTS ytdlp_info bytea;
