-- Accounts hold media seconds. balance is what can still be spent, held is
-- what running jobs have reserved. Both only change together with a ledger
-- entry (store.Ledger), so each equals the sum of its column in the ledger.
CREATE TABLE accounts (
    id          bigserial PRIMARY KEY,
    name        text        NOT NULL,
    balance     bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0),
    held        bigint      NOT NULL DEFAULT 0 CHECK (held >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id             bigserial PRIMARY KEY,
    account_id     bigint      NOT NULL REFERENCES accounts(id),
    name           text        NOT NULL,
    prefix         text        NOT NULL,
    secret_sha256  bytea       NOT NULL UNIQUE,
    scopes         text[]      NOT NULL DEFAULT '{read,write}',
    rpm            integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    account_id       bigint      NOT NULL REFERENCES accounts(id),
    api_key_id       bigint      REFERENCES api_keys(id),
    kind             text        NOT NULL DEFAULT 'summary' CHECK (kind IN ('summary', 'answer')),
    queue            text        NOT NULL DEFAULT 'interactive',
    url              text        NOT NULL DEFAULT '',
    video_key        text        NOT NULL DEFAULT '',
    prompt           text        NOT NULL DEFAULT '',
    model            text        NOT NULL DEFAULT '',
    audio_language   text        NOT NULL DEFAULT '',
    output_language  text        NOT NULL DEFAULT '',
    images           jsonb       NOT NULL DEFAULT '[]',
    history          jsonb       NOT NULL DEFAULT '[]',
    stream           boolean     NOT NULL DEFAULT false,
    refresh          boolean     NOT NULL DEFAULT false,
    webhook_url      text        NOT NULL DEFAULT '',
    request_hash     text        NOT NULL DEFAULT '',
    state            text        NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued','resolving','transcribing','summarizing','succeeded','failed','canceled')),
    progress         real        NOT NULL DEFAULT 0,
    error_code       text        NOT NULL DEFAULT '',
    error_message    text        NOT NULL DEFAULT '',
    cost_seconds     bigint      NOT NULL DEFAULT 0,
    duration         double precision NOT NULL DEFAULT 0,
    title            text        NOT NULL DEFAULT '',
    transcript_id    bigint,
    summary_id       bigint,
    -- Results of jobs without a cacheable summary (image-only requests,
    -- follow-up answers) live with the job.
    result_markdown  text        NOT NULL DEFAULT '',
    result_model     text        NOT NULL DEFAULT '',
    prompt_tokens    integer     NOT NULL DEFAULT 0,
    completion_tokens integer    NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at      timestamptz,
    transcribed_at   timestamptz,
    finished_at      timestamptz
);
CREATE INDEX jobs_account_created ON jobs (account_id, created_at DESC, id DESC);
CREATE INDEX jobs_active ON jobs (state, updated_at) WHERE state NOT IN ('succeeded','failed','canceled');
CREATE INDEX jobs_request_hash ON jobs (account_id, request_hash) WHERE state NOT IN ('failed','canceled');

CREATE TABLE ledger_entries (
    id             bigserial PRIMARY KEY,
    account_id     bigint      NOT NULL REFERENCES accounts(id),
    job_id         uuid        REFERENCES jobs(id),
    kind           text        NOT NULL CHECK (kind IN ('grant','hold','capture','release')),
    balance_delta  bigint      NOT NULL,
    held_delta     bigint      NOT NULL,
    note           text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, kind)
);
CREATE INDEX ledger_account ON ledger_entries (account_id, created_at);

CREATE TABLE videos (
    key         text PRIMARY KEY,
    url         text        NOT NULL,
    title       text        NOT NULL DEFAULT '',
    duration    double precision NOT NULL DEFAULT 0,
    is_live     boolean     NOT NULL DEFAULT false,
    info        jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A transcript is keyed by canonical video key + language ('' = the
-- video's own language). segments is a JSON array of {start,end,text}.
CREATE TABLE transcripts (
    id          bigserial PRIMARY KEY,
    video_key   text        NOT NULL REFERENCES videos(key),
    language    text        NOT NULL DEFAULT '',
    source      text        NOT NULL,
    segments    jsonb       NOT NULL,
    duration    double precision NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transcripts_video ON transcripts (video_key, language, created_at DESC);

-- Finished speech-to-text chunks, so a retried stage only sends the rest.
CREATE TABLE transcript_chunks (
    video_key    text    NOT NULL,
    language     text    NOT NULL DEFAULT '',
    chunk_index  integer NOT NULL,
    chunk_offset double precision NOT NULL,
    chunk_duration double precision NOT NULL,
    segments     jsonb   NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (video_key, language, chunk_index)
);

CREATE TABLE summaries (
    id              bigserial PRIMARY KEY,
    transcript_id   bigint      NOT NULL REFERENCES transcripts(id),
    prompt_hash     text        NOT NULL,
    model           text        NOT NULL,
    output_language text        NOT NULL DEFAULT '',
    markdown        text        NOT NULL,
    chapters        jsonb       NOT NULL DEFAULT '[]',
    prompt_tokens   integer     NOT NULL DEFAULT 0,
    completion_tokens integer   NOT NULL DEFAULT 0,
    truncated       boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (transcript_id, prompt_hash, model, output_language)
);

ALTER TABLE jobs ADD CONSTRAINT jobs_transcript_fk FOREIGN KEY (transcript_id) REFERENCES transcripts(id);
ALTER TABLE jobs ADD CONSTRAINT jobs_summary_fk FOREIGN KEY (summary_id) REFERENCES summaries(id);
