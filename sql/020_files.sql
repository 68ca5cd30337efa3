-- Uploaded files (OpenAI's Files API shape). The bytes live in the blob
-- bucket (BLOB_URL) under blob_key; a row is what the account sees. The
-- content's sha256 makes two uploads of one recording one video key
-- ("file:<sha256>"), so they share one transcript.
CREATE TABLE files (
    id          text PRIMARY KEY,
    account_id  bigint      NOT NULL REFERENCES accounts(id),
    api_key_id  bigint      REFERENCES api_keys(id),
    filename    text        NOT NULL,
    purpose     text        NOT NULL,
    bytes       bigint      NOT NULL CHECK (bytes >= 0),
    sha256      text        NOT NULL,
    media_kind  text        NOT NULL CHECK (media_kind IN ('audio', 'video')),
    format      text        NOT NULL DEFAULT '',
    duration    double precision NOT NULL DEFAULT 0,
    subtitles   boolean     NOT NULL DEFAULT false,
    blob_key    text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz
);
CREATE INDEX files_account ON files (account_id, created_at DESC, id DESC);
CREATE INDEX files_expiry ON files (expires_at) WHERE expires_at IS NOT NULL;

-- A transcription (POST /audio/transcriptions) is a job that ends with
-- its transcript.
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('summary', 'answer', 'transcript'));
